"""`distillery datasets push`: the downloaded Hugging Face folder goes to huggingface_hub's
HfApi (mocked: no network) as a dataset repository, and the token never reaches the output."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distillery.cli.main import app
from distillery.client import Client
from distillery.schemas.datasets import DatasetOut

TOKEN = "hf_unitTestTokenThatMustNeverBePrinted01"
ENV = {"DISTILLERY_URL": "http://127.0.0.1:9", "DISTILLERY_API_KEY": "dk_" + "k" * 43, "COLUMNS": "250"}


class FakeHfApi:
    """Records what the command asks of the Hub, and what the folder held at upload time."""

    calls: list[tuple[str, dict[str, Any]]] = []
    downloads: list[dict[str, Any]] = []
    fail_with: Exception | None = None

    def __init__(self, token: str | None = None) -> None:
        self.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kwargs: Any) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        folder = Path(kwargs["folder_path"])
        files = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
        self.calls.append(("upload_folder", {**kwargs, "files": files}))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> type[FakeHfApi]:
    import huggingface_hub

    FakeHfApi.calls, FakeHfApi.downloads, FakeHfApi.fail_with = [], [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    dataset = DatasetOut.model_validate(
        {
            "id": "ds_1",
            "name": "arith",
            "version": 3,
            "kind": "sft",
            "job_id": None,
            "parent_id": None,
            "sources": [],
            "curation": None,
            "record_count": 2,
            "stats": {},
            "created_at": datetime.now(UTC),
        }
    )
    monkeypatch.setattr(Client, "get_dataset", lambda self, dataset_id: dataset)

    def download_hf_folder(self: Client, dataset_id: str, dest: Path, format: str, **options: Any) -> Path:
        FakeHfApi.downloads.append({"dataset_id": dataset_id, "format": format, **options})
        (dest / "data").mkdir(parents=True)
        (dest / "README.md").write_text("---\nconfigs: []\n---\n# arith\n")
        (dest / "data" / "train-00000-of-00001.parquet").write_text("rows")
        return dest

    monkeypatch.setattr(Client, "download_hf_folder", download_hf_folder)
    return FakeHfApi


def _push(*args: str, env: dict[str, str] | None = None) -> Any:
    command = ["datasets", "push", "ds_1", "--repo", "me/arith", *args]
    return CliRunner().invoke(app, command, env={**ENV, **(env or {})})


def test_push_uploads_the_folder_as_a_dataset_repository_without_printing_the_token(hub):
    result = _push("--format", "prompt-completion", "--private", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    assert "https://huggingface.co/datasets/me/arith" in result.output
    assert TOKEN not in result.output
    (_, init), (_, create), (_, upload) = hub.calls
    assert init == {"token": TOKEN}
    assert create == {"repo_id": "me/arith", "repo_type": "dataset", "private": True, "exist_ok": True}
    assert upload["repo_id"] == "me/arith" and upload["repo_type"] == "dataset"
    assert upload["commit_message"] == "arith version 3 (ds_1), prompt-completion, from Distillery"
    assert sorted(upload["files"]) == ["README.md", "data/train-00000-of-00001.parquet"]
    assert upload["files"]["README.md"].startswith("---\nconfigs:")
    assert hub.downloads == [
        {
            "dataset_id": "ds_1",
            "format": "prompt-completion",
            "include_rationale": True,
            "include_system": False,
            "eval_fraction": 0.1,
        }
    ]
    assert not Path(upload["folder_path"]).exists()  # the temporary folder is gone


def test_without_token_huggingface_hub_resolves_hf_token_and_errors_mask_it(hub):
    from huggingface_hub.errors import HFValidationError

    hub.fail_with = HFValidationError(f"rejected credentials {TOKEN} for me/arith")
    result = _push(env={"HF_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert hub.calls[0] == ("init", {"token": None})  # huggingface_hub reads HF_TOKEN itself
    assert "Hugging Face Hub: rejected credentials" in result.stderr
    assert TOKEN not in result.output and TOKEN not in result.stderr
    # A public repository unless --private: the account's default visibility.
    assert hub.calls[1][1]["private"] is None


def test_without_the_hub_extra_push_says_how_to_install_it(hub, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    result = _push("--token", TOKEN)
    assert result.exit_code == 1
    assert "pip install 'distillery[hub]'" in " ".join(result.stderr.split())  # however wide the console
    assert hub.downloads == []  # said before anything was downloaded
    assert TOKEN not in result.output
