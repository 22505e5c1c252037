from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from distillery.settings import get_settings
from distillery.training.artifacts import files, tar_stream
from distillery.workers.training.artifacts import publish


def test_the_streamed_tar_holds_every_file_byte_for_byte(tmp_path):
    root = tmp_path / "job"
    (root / "adapter").mkdir(parents=True)
    contents = {
        "adapter/adapter_model.safetensors": bytes(range(256)) * 5000,  # spans several read chunks
        "adapter/empty.txt": b"",
        "adapter/odd.json": b"x" * 513,
        "run_card.json": b"{}",
    }
    for path, data in contents.items():
        (root / path).write_bytes(data)

    assert [(a.path, a.size) for a in files(str(root))] == sorted((p, len(d)) for p, d in contents.items())
    archive = b"".join(tar_stream(str(root), prefix="train_1"))
    assert len(archive) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        unpacked = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert unpacked == {f"train_1/{p}": d for p, d in contents.items()}


def test_a_location_with_nothing_there_lists_nothing(tmp_path):
    assert files(str(tmp_path / "never-written")) == []


@pytest.fixture
def artifacts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DISTILLERY_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    get_settings.cache_clear()
    yield tmp_path / "artifacts"
    get_settings.cache_clear()


def test_publishing_again_replaces_what_an_earlier_attempt_left(tmp_path, artifacts_dir):
    first = tmp_path / "first"
    (first / "model").mkdir(parents=True)
    (first / "model" / "stale.bin").write_bytes(b"old")
    publish(first, {"status": "failed"}, "train_1")
    second = tmp_path / "second"
    (second / "adapter").mkdir(parents=True)
    (second / "adapter" / "adapter_model.safetensors").write_bytes(b"new")
    uri = publish(second, {"status": "succeeded"}, "train_1")

    assert [a.path for a in files(uri)] == ["adapter/adapter_model.safetensors", "run_card.json"]
    assert uri == f"{artifacts_dir}/training/train_1"
    assert json.loads((artifacts_dir / "training" / "train_1" / "run_card.json").read_text()) == {"status": "succeeded"}


def test_a_resumed_run_skips_a_checkpoint_its_killed_worker_did_not_finish(tmp_path):
    from distillery.workers.training.runner import last_complete_checkpoint

    assert last_complete_checkpoint(tmp_path / "none-yet") is None
    for step, state in ((4, '{"global_step": 4}'), (8, None), (12, '{"global_')):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "adapter_model.safetensors").write_bytes(b"weights")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
