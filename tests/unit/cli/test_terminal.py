"""How client results look in a terminal: ids whole on one line, the progress line whole."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from distillery.cli import terminal
from distillery.client.progress import JobProgress
from distillery.schemas.jobs import JobOut
from distillery.schemas.pipelines import PipelineOut


@pytest.fixture(params=[80, 120])
def screen(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Console:
    """The CLI's console at a terminal width, recording what it prints."""
    console = Console(width=request.param, file=io.StringIO(), record=True, force_terminal=False)
    monkeypatch.setattr(terminal, "console", console)
    return console


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _whole_on_one_line(text: str, value: str) -> bool:
    return any(value in line for line in text.splitlines())


def test_a_wide_table_folds_other_cells_but_keeps_every_id_whole(screen: Console) -> None:
    rows = [
        (_id("ds"), "arithmetic-labels-from-the-long-running-job", 3, "sft", 1200, _id("job"), "2026-12-03T10:11:12")
        for _ in range(3)
    ]
    terminal.table("datasets", ("id", "name", "version", "kind", "records", "job", "created"), rows, ids=("id", "job"))
    text = screen.export_text()
    assert all(_whole_on_one_line(text, row[0]) and _whole_on_one_line(text, row[5]) for row in rows)
    assert all(len(line) <= screen.width for line in text.splitlines())


def test_the_jobs_list_keeps_ids_whole(screen: Console) -> None:
    rows = [
        (_id("job"), "label-arith-something", "label", "succeeded", "10/10", 10, 0, "0.0012", "2026-12-03T10:11:12")
        for _ in range(2)
    ]
    columns = ("id", "name", "method", "status", "done", "accepted", "rejected", "cost $", "created")
    terminal.table("jobs", columns, rows)
    text = screen.export_text()
    assert all(_whole_on_one_line(text, row[0]) for row in rows)


def _pipeline(stages: list[dict[str, Any]]) -> PipelineOut:
    now = datetime.now(UTC)
    return PipelineOut.model_validate(
        {
            "id": _id("pipe"), "name": "distil", "status": "running", "current_stage": "sft",
            "progress": {"stages": len(stages), "done": 1}, "cost_usd": 0.5, "stages": stages, "error": None,
            "created_at": now, "started_at": now, "finished_at": None,
        }
    )  # fmt: skip


def test_a_pipelines_stage_table_keeps_job_ids_whole(screen: Console) -> None:
    stage = {
        "kind": "job", "progress": None, "error": "a rather long error message that has to fold somewhere",
        "job_id": None, "training_job_id": None, "dataset_id": None, "started_at": None, "finished_at": None,
    }  # fmt: skip
    stages = [
        {**stage, "position": 0, "name": "label-the-seed-questions", "status": "succeeded", "job_id": _id("job")},
        {**stage, "position": 1, "name": "sft", "kind": "sft", "status": "running", "training_job_id": _id("train")},
    ]
    pipeline = _pipeline(stages)
    screen.print(terminal.pipeline_table(pipeline))
    text = screen.export_text()
    assert _whole_on_one_line(text, stages[0]["job_id"]) and _whole_on_one_line(text, stages[1]["training_job_id"])


def _running_job() -> JobOut:
    return JobOut.model_validate(
        {
            "id": _id("job"), "name": "n", "method": "label", "teacher_id": None, "teachers": [],
            "judge_teacher_id": None, "mode": "online", "status": "running",
            "progress": {"total": 1000, "completed": 127, "accepted": 123, "rejected": 4, "failed": 0, "skipped": 0},
            "usage": {
                "requests": 130, "sent_requests": 130, "failed_requests": 0, "cached_requests": 0,
                "prompt_tokens": 40000, "completion_tokens": 5678, "cost_usd": 0.0123, "by_teacher": [],
            },
            "budget": {}, "dataset_id": None, "stop_reason": None, "error": None, "estimate": None,
            "created_at": datetime.now(UTC), "started_at": None, "finished_at": None,
        }
    )  # fmt: skip


def test_the_progress_line_shows_every_count_whole(screen: Console) -> None:
    bar = JobProgress(screen)
    bar.update(_running_job())
    screen.print(bar._bar)
    text = " ".join(screen.export_text().split())  # the counts may wrap onto a second line
    assert "…" not in text
    assert "127/1000" in text and "running" in text
    for shown in ("accepted 123", "rejected 4", "failed 0", "130 requests", "45678 tokens", "$0.0123"):
        assert shown in text
