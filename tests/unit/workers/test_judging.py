"""The synthesis side of a training job's judge step, on an embedded SQLite database (no
broker: what it would enqueue is recorded): the paths that end without a verdict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from distillery.db.base import utcnow
from distillery.db.migrate import upgrade
from distillery.db.models import Job, Tenant, TrainingEvent, TrainingJob
from distillery.db.session import reset_engine, unit_of_work
from distillery.settings import get_settings
from distillery.training import judging as training_judging
from distillery.training.judging import Comparison
from distillery.workers import judging

METRICS = {
    "steps": 4,
    "first_loss": 2.0,
    "last_loss": 1.0,
    "evaluation": {"prompts": 2, "with_final_answer": 0, "exact_match": None, "samples": []},
}


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DISTILLERY_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("DISTILLERY_TRAINING_JUDGE_TIMEOUT_S", "60")
    get_settings.cache_clear()
    reset_engine()
    upgrade()
    sent: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(judging, "enqueue", lambda task, *args, **_: sent.append((task, args)))
    yield sent
    reset_engine()
    get_settings.cache_clear()


def handed_off(tmp_path: Path, judge_teacher: str = "teacher_gone", judge_job: str | None = None) -> str:
    (tmp_path / "artifacts").mkdir(exist_ok=True)
    (tmp_path / "artifacts" / "run_card.json").write_text(json.dumps({"status": "succeeded"}))
    with unit_of_work() as session:
        session.add(Tenant(id="t1", name="one"))
        session.flush()  # no ORM relationships: rows go in the order they are flushed
        job = TrainingJob(
            id="train_1",
            tenant_id="t1",
            method="sft",
            base_model="model",
            hyperparameters={},
            eval_split=0.1,
            evaluate={"n": 2, "max_new_tokens": 8, "judge_teacher": judge_teacher},
            status="running",
            metrics={},
        )
        session.add(job)
        if judge_job is not None:
            session.add(Job(id=judge_job, tenant_id="t1", name="judge", method="feedback", spec={}, status="running"))
        session.flush()
        comparisons = [Comparison("p1", "same", "same"), Comparison("p2", "mine", "theirs")]
        assert training_judging.hand_off(
            session, job.id, comparisons, json.loads(json.dumps(METRICS)), str(tmp_path / "artifacts"), "saved"
        )
        if judge_job is not None:
            training_judging.started(job, judge_job)
    return "train_1"


def closed(job_id: str) -> tuple[TrainingJob, dict[str, Any], list[str]]:
    with unit_of_work() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        kinds = list(
            session.scalars(
                select(TrainingEvent.type).where(TrainingEvent.training_job_id == job_id).order_by(TrainingEvent.id)
            )
        )
        return job, job.metrics.get("evaluation", {}).get("judge", {}), kinds


def test_a_judge_teacher_deleted_since_submission_closes_the_job_with_the_reason(embedded, tmp_path):
    job_id = handed_off(tmp_path)
    judging.advance(job_id)
    job, verdict, kinds = closed(job_id)
    assert job.status == "succeeded" and embedded == []
    assert verdict["job_id"] is None and verdict["tie"] == 1 and verdict["win_rate"] is None
    assert "no teacher with id or name 'teacher_gone'" in verdict["error"]
    assert kinds[-4:] == ["judged", "evaluated", "artifacts_saved", "succeeded"]


def test_a_cancel_before_the_judge_job_began_closes_the_job_as_cancelled(embedded, tmp_path):
    job_id = handed_off(tmp_path)
    with unit_of_work() as session:
        row = session.get(TrainingJob, job_id)
        assert row is not None
        row.cancel_requested = True
    judging.advance(job_id)
    job, verdict, _ = closed(job_id)
    assert job.status == "cancelled" and verdict["error"] == "judge job cancelled: the training job was cancelled"


def test_a_judge_job_past_the_deadline_is_cancelled_and_the_comparison_reported_unfinished(embedded, tmp_path):
    job_id = handed_off(tmp_path, judge_job="job_judge")
    judging.advance(job_id)  # still judging, in time: nothing happens
    assert closed(job_id)[0].status == "running"
    with unit_of_work() as session:
        row = session.get(TrainingJob, job_id)
        assert row is not None
        row.judging_since = utcnow() - timedelta(seconds=61)
    judging.sweep()
    job, verdict, _ = closed(job_id)
    assert job.status == "succeeded"
    assert verdict == {
        "job_id": "job_judge",
        "win": 0,
        "tie": 1,
        "loss": 0,
        "unjudged": 0,
        "win_rate": None,
        "error": "judge job cancelled: it did not finish in time",
    }
    with unit_of_work() as session:
        judge = session.get(Job, "job_judge")
        assert judge is not None and judge.status == "cancelled"


def test_a_judge_job_that_failed_is_noted_in_the_verdict_when_it_finishes(embedded, tmp_path):
    job_id = handed_off(tmp_path, judge_job="job_judge")
    with unit_of_work() as session:
        judge = session.get(Job, "job_judge")
        assert judge is not None
        judge.status, judge.error = "failed", "no record was accepted"
    judging.after_job_finished("job_judge")
    job, verdict, _ = closed(job_id)
    assert job.status == "succeeded" and verdict["error"] == "judge job failed: no record was accepted"
    assert (
        json.loads((tmp_path / "artifacts" / "run_card.json").read_text())["metrics"]["evaluation"]["judge"] == verdict
    )
