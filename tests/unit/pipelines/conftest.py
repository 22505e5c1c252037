"""A tenant with a teacher and a model directory, and pipelines made as the API makes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from distillery.db.models import Teacher
from distillery.pipelines.stages import Runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "models" / "tiny" / "config.json").write_text("{}")
    return Runtime(hub_cache=tmp_path / "hub", model_dirs=(tmp_path / "models",), chunk_size=50, lease_s=30)


@pytest.fixture
def teacher(session: Session) -> str:
    session.add(Teacher(id="tch_1", tenant_id="t1", name="gpt", base_url="http://teacher/v1", model="m"))
    session.flush()
    return "gpt"


def label(**spec: Any) -> dict[str, Any]:
    return {
        "teacher": "gpt",
        "method": "label",
        "skill": {"name": "arithmetic"},
        "seeds": [{"instruction": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(3)],
        **spec,
    }


def stage(name: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "kind": kind, "spec": spec}
