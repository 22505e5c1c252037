"""The training tests' fixtures: a tiny student model built once, and a real
`distillery train-worker` process for the session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Api
from tests.support.training_data import arithmetic, preferences, texts


@pytest.fixture(scope="session")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_model import build_tiny_model

    corpus = texts(arithmetic(60)) + texts(preferences(40)) + ["Answer:"]
    return build_tiny_model(tmp_path_factory.mktemp("student"), corpus)


@pytest.fixture(scope="session")
def train_worker(stack_env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    from distillery.cli.stack import process

    with process(["train-worker", "--loglevel", "INFO"], stack_env, logs / "train-worker.log") as proc:
        yield proc


@pytest.fixture
def trainer(tenant_api: Api, train_worker: subprocess.Popen[bytes]) -> Api:
    """A fresh tenant, with the training worker running."""
    assert train_worker.poll() is None, "the training worker exited; see train-worker.log in test-artifacts/logs"
    return tenant_api


@pytest.fixture
def tenant(tenant_api: Api) -> Api:
    """A fresh tenant; no worker needed."""
    return tenant_api
