from __future__ import annotations

import pytest

from distillery.errors import InvalidSpec
from distillery.settings import Settings
from distillery.training.base_models import locate


@pytest.fixture
def models(tmp_path):
    """A model directory holding one model, `tiny`."""
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "models" / "tiny" / "config.json").write_text("{}")
    return tmp_path / "models"


def refused(base_model, hub_cache, model_dirs=()):
    with pytest.raises(InvalidSpec) as caught:
        locate(base_model, hub_cache, model_dirs)
    assert caught.value.details == [{"field": "base_model", "problem": caught.value.details[0]["problem"]}]
    return caught.value.message


def test_a_model_under_a_model_directory_is_stored_as_an_absolute_path(models, tmp_path, monkeypatch):
    tiny = str(models / "tiny")
    assert locate(tiny, tmp_path / "cache", [models]) == tiny
    assert locate("tiny", tmp_path / "cache", [models]) == tiny  # read under the model directory
    monkeypatch.chdir(models)
    assert locate("./tiny", tmp_path / "cache", [models]) == tiny


@pytest.mark.parametrize("name", ["/etc", "../../", "/", "~", "/nowhere/model", "./missing"])
def test_a_path_outside_the_model_directories_is_refused_with_the_fix(models, tmp_path, name):
    assert "DISTILLERY_MODEL_DIRS" in refused(name, tmp_path / "cache", [models])


def test_no_path_at_all_is_allowed_when_no_model_directory_is_configured(models, tmp_path):
    assert "none configured" in refused(str(models / "tiny"), tmp_path / "cache")


def test_a_symlink_that_leads_out_of_the_model_directories_is_refused(models, tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.json").write_text("{}")
    (models / "escape").symlink_to(tmp_path / "outside")
    assert "DISTILLERY_MODEL_DIRS" in refused(str(models / "escape"), tmp_path / "cache", [models])
    assert "DISTILLERY_MODEL_DIRS" in refused("escape/../../outside", tmp_path / "cache", [models])


def test_a_directory_without_a_config_is_refused(models, tmp_path):
    (models / "empty").mkdir()
    assert "no model at" in refused(str(models / "empty"), tmp_path, [models])
    assert "no model at" in refused(str(models), tmp_path, [models])


def test_a_hub_name_must_already_be_in_the_cache(tmp_path):
    assert "nor in the Hugging Face cache" in refused("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)
    snapshot = tmp_path / "models--Qwen--Qwen2.5-0.5B-Instruct" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    refused("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)  # a snapshot without the model's config is no model
    (snapshot / "config.json").write_text("{}")
    assert locate("Qwen/Qwen2.5-0.5B-Instruct", tmp_path) == "Qwen/Qwen2.5-0.5B-Instruct"


def test_names_that_would_leave_the_cache_are_refused(tmp_path):
    (tmp_path / "models--a--..").mkdir()
    refused("a/../../etc", tmp_path)
    refused("a/b/c", tmp_path)
    refused("model\x00", tmp_path)


def test_model_directories_and_the_hub_cache_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTILLERY_MODEL_DIRS", f"{tmp_path}/a, {tmp_path}/b")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("DISTILLERY_HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    settings = Settings()
    assert settings.model_dirs == [tmp_path / "a", tmp_path / "b"]
    assert settings.resolved_hf_hub_cache == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert Settings().resolved_hf_hub_cache == tmp_path / "cache"
