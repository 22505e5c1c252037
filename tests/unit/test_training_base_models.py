from __future__ import annotations

import pytest

from app.errors import InvalidSpec
from app.training.base_models import locate


def test_a_local_model_directory_is_stored_as_an_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert locate("tiny", tmp_path / "cache") == str(tmp_path / "tiny")
    assert locate(str(tmp_path / "tiny"), tmp_path / "cache") == str(tmp_path / "tiny")


@pytest.mark.parametrize("name", ["/nowhere/model", "./missing", "~/missing-model"])
def test_a_path_without_a_model_is_refused(tmp_path, name):
    with pytest.raises(InvalidSpec) as caught:
        locate(name, tmp_path)
    assert caught.value.details == [{"field": "base_model", "problem": caught.value.details[0]["problem"]}]
    assert "no model at" in caught.value.message


def test_a_directory_without_a_config_is_refused(tmp_path):
    with pytest.raises(InvalidSpec, match="no model at"):
        locate(str(tmp_path), tmp_path)


def test_a_hub_name_must_already_be_in_the_cache(tmp_path):
    with pytest.raises(InvalidSpec, match="nor in the Hugging Face cache"):
        locate("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)
    snapshot = tmp_path / "models--Qwen--Qwen2.5-0.5B-Instruct" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    with pytest.raises(InvalidSpec):  # a snapshot without the model's config is no model
        locate("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)
    (snapshot / "config.json").write_text("{}")
    assert locate("Qwen/Qwen2.5-0.5B-Instruct", tmp_path) == "Qwen/Qwen2.5-0.5B-Instruct"


def test_names_that_would_leave_the_cache_are_refused(tmp_path):
    (tmp_path / "models--a--..").mkdir()
    with pytest.raises(InvalidSpec):
        locate("a/../../etc", tmp_path)
