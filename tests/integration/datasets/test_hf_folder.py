"""Dataset versions as Hugging Face dataset folders (file=hf), downloaded through the Python
client from a real API server and read back by their consumers: `datasets.load_dataset`
on the folder, and huggingface_hub's dataset-card parser on its README.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distillery.client import Client, ClientError, ConflictError, InvalidRequestError
from tests.support.server import api_server
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server_url(stack_env: dict[str, str], logs: Path) -> Iterator[str]:
    with api_server(stack_env, logs) as url:
        yield url


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may reach the Hub: the folder is all there is."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _dataset(api: Any, teacher: dict[str, Any], seeds: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    job = api.wait_for_job(api.submit_label_job(teacher, seeds, **spec)["id"], timeout_s=180)
    assert job["status"] == "succeeded", [e["message"] for e in api.events(job["id"])]
    return api.get(f"/v1/datasets/{job['dataset_id']}").json()


def _split(api: Any, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"/v1/datasets/{dataset_id}/download", params=params)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_an_sft_version_downloads_as_a_folder_load_dataset_reads_with_its_splits(
    api, shared_simulator, server_url, tmp_path
):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    dataset = _dataset(api, api.add_teacher(shared_simulator), arithmetic_seeds(20))
    with Client(server_url, api.key) as client:
        folder = client.download_hf_folder(dataset["id"], tmp_path / "arith", "openai-chat", eval_fraction=0.3)
    assert _files(folder) == [
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
    ]

    loaded = load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    train = _split(api, dataset["id"], format="openai-chat", split="train", eval_fraction=0.3)
    test = _split(api, dataset["id"], format="openai-chat", split="eval", eval_fraction=0.3)
    assert train and test and len(train) + len(test) == dataset["record_count"]
    assert set(loaded) == {"train", "test"}
    assert loaded["train"].column_names == loaded["test"].column_names == ["messages"]
    assert loaded["train"].to_list() == train and loaded["test"].to_list() == test

    card = DatasetCard.load(folder / "README.md")
    assert card.data.configs == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "data/train-*.parquet"},
                {"split": "test", "path": "data/test-*.parquet"},
            ],
        }
    ]
    assert card.data.license == "unknown" and card.data.pretty_name == dataset["name"]
    assert card.data.size_categories == ["n<1K"] and card.data.task_categories == ["text-generation"]
    assert f"# {dataset['name']} (version 1)" in card.text and f"`{dataset['id']}`" in card.text
    assert f"{len(train)} / {len(test)}" in card.text and "## Curation" in card.text

    with Client(server_url, api.key) as client, pytest.raises(ClientError, match="not an empty folder"):
        client.download_hf_folder(dataset["id"], folder)


def test_a_preference_version_without_test_rows_has_only_a_train_split(api, shared_simulator, server_url, tmp_path):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    seeds = [
        {**s, "candidates": [f"Answer: {s['answer']}", f"Answer: {int(s['answer']) + 9}"]} for s in arithmetic_seeds(8)
    ]
    teacher = api.add_teacher(shared_simulator)
    dataset = _dataset(api, teacher, seeds, method="feedback", curation={"near_dedup": None})
    assert dataset["kind"] == "preference"
    with Client(server_url, api.key) as client:
        folder = client.download_hf_folder(dataset["id"], tmp_path / "prefs", "dpo", eval_fraction=0.0)
    assert _files(folder) == ["README.md", "data/train-00000-of-00001.parquet"]

    loaded = load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train"]
    assert loaded["train"].column_names == ["prompt", "chosen", "rejected"]
    assert loaded["train"].to_list() == _split(api, dataset["id"], format="dpo")
    assert loaded["train"].num_rows == dataset["record_count"]

    card = DatasetCard.load(folder / "README.md")
    assert card.data.configs == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}
    ]
    assert card.data.task_categories == ["reinforcement-learning"]


def test_an_hf_folder_refuses_a_split_and_an_empty_version_with_the_reason(
    api, start_simulator, shared_simulator, server_url, tmp_path
):
    teacher = api.add_teacher(shared_simulator)
    dataset = _dataset(api, teacher, arithmetic_seeds(3))
    response = api.get(f"/v1/datasets/{dataset['id']}/download", params={"file": "hf", "split": "train"})
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "split"
    wrong = api.get(f"/v1/datasets/{dataset['id']}/download", params={"file": "hf", "format": "dpo"})
    assert wrong.status_code == 422 and wrong.json()["error"]["details"][0]["field"] == "format"

    refused = _dataset(api, api.add_teacher(start_simulator(refusal_rate=1.0)), arithmetic_seeds(3))
    assert refused["record_count"] == 0
    with Client(server_url, api.key) as client, pytest.raises(ConflictError, match="no records"):
        client.download_hf_folder(refused["id"], tmp_path / "empty")
    with Client(server_url, api.key) as client, pytest.raises(InvalidRequestError):
        client.download_hf_folder(dataset["id"], tmp_path / "one-split", split="eval")
