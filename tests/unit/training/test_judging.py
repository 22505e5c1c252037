"""The judge step handed from the training worker to the synthesis side, on a migrated
SQLite database: while it waits no reaper or redelivery touches the job, and closing it
writes the verdict where a run that judged in place would have."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.base import utcnow
from distillery.db.models import TrainingEvent, TrainingJob
from distillery.schemas.training import TrainingJobCreate
from distillery.training import judging, lifecycle
from distillery.training.judging import Comparison
from tests.support.training_data import arithmetic, make_dataset

EVALUATION = {"prompts": 3, "with_final_answer": 0, "exact_match": None, "samples": []}
METRICS = {"steps": 6, "first_loss": 2.0, "last_loss": 0.5, "eval_loss": None, "evaluation": EVALUATION}
COMPARISONS = [Comparison("p1", "same", " same "), Comparison("p2", "mine", "theirs"), Comparison("p3", "a", "b")]


@pytest.fixture
def published(tmp_path: Path) -> str:
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "run_card.json").write_text(json.dumps({"status": "succeeded", "metrics": METRICS}))
    return str(tmp_path / "artifacts")


@pytest.fixture
def handed_off(session: Session, tmp_path: Path, published: str) -> TrainingJob:
    """A job the training worker trained, evaluated and handed over for judging."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    spec = {"dataset_id": make_dataset(session, "t1", arithmetic(4)), "method": "sft", "base_model": "model"}
    job = lifecycle.create(
        session, "t1", TrainingJobCreate.model_validate(spec), hub_cache=tmp_path, model_dirs=[tmp_path]
    )
    lifecycle.start(session, job.id, stale_after_s=60, max_attempts=3)
    saved = "adapter, tokenizer and run card saved"
    assert judging.hand_off(session, job.id, COMPARISONS, json.loads(json.dumps(METRICS)), published, saved)
    session.flush()
    return job


def kinds(session: Session, job_id: str) -> list[str]:
    events = select(TrainingEvent.type).where(TrainingEvent.training_job_id == job_id).order_by(TrainingEvent.id)
    return list(session.scalars(events))


def test_identical_answers_are_ties_without_asking_a_judge():
    ties, asked = judging.split(COMPARISONS)
    assert ties == 1 and [c.prompt for c in asked] == ["p2", "p3"]


def test_the_verdict_is_from_the_students_side_and_an_unfinished_one_has_no_rate():
    done = judging.verdict("job_1", Counter(win=2, tie=1, loss=1, unjudged=1))
    assert done == {"job_id": "job_1", "win": 2, "tie": 1, "loss": 1, "unjudged": 1, "win_rate": 0.5}
    unfinished = judging.verdict("job_1", Counter(tie=1), "judge job failed: boom")
    assert unfinished["win_rate"] is None and unfinished["error"] == "judge job failed: boom"
    assert judging.verdict(None, Counter())["win_rate"] is None


@pytest.mark.parametrize(
    ("status", "reason", "chosen", "outcome"),
    [
        ("accepted", None, "mine", "win"),
        ("accepted", None, "theirs", "loss"),
        ("rejected", "tie", None, "tie"),
        ("rejected", "judge_unparseable", None, "unjudged"),
        ("failed", "teacher_http_500", None, "unjudged"),
    ],
)
def test_each_judge_record_is_one_outcome(status, reason, chosen, outcome):
    parsed: dict[str, Any] = {"candidates": [{"response": "mine"}, {"response": "theirs"}], "chosen": chosen}
    record = SimpleNamespace(status=status, reject_reason=reason, parsed=parsed)
    assert judging._outcome(record) == outcome  # type: ignore[arg-type]


def test_a_job_waiting_for_its_judge_is_left_alone_by_the_reaper_and_a_redelivery(session, handed_off):
    job = handed_off
    job.heartbeat_at = utcnow() - timedelta(hours=1)  # no worker beats for it any more
    session.flush()
    assert lifecycle.reap(session, stale_after_s=60, max_attempts=3) == []
    assert lifecycle.start(session, job.id, stale_after_s=60, max_attempts=3) is None
    assert job.status == "running" and judging.awaiting(session) == [(job.id, None)]
    assert kinds(session, job.id)[-1] == "judging_started"


def test_the_judge_job_is_found_from_its_id(session, handed_off):
    job = judging.claim(session, handed_off.id)
    assert job is not None
    judging.started(job, "job_judge")
    session.flush()
    assert judging.waiting_on(session, "job_judge") == job.id
    assert judging.waiting_on(session, "job_other") is None


def test_closing_writes_the_verdict_into_metrics_card_and_events(session, handed_off, published):
    job = judging.claim(session, handed_off.id)
    assert job is not None
    result = judging.verdict("job_judge", Counter(win=1, tie=1, loss=1))
    judging.close(session, job, result)
    session.flush()

    assert job.status == "succeeded" and job.artifacts_uri == published
    assert job.metrics["evaluation"] == {**EVALUATION, "judge": result}
    assert kinds(session, job.id)[-5:] == ["judging_started", "judged", "evaluated", "artifacts_saved", "succeeded"]
    card = json.loads((Path(published) / "run_card.json").read_text())
    assert card["status"] == "succeeded" and card["metrics"] == job.metrics
    assert judging.awaiting(session) == [] and judging.claim(session, job.id) is None


def test_a_job_cancelled_while_judged_closes_as_cancelled(session, handed_off, published):
    lifecycle.cancel(session, "t1", handed_off.id)
    job = judging.claim(session, handed_off.id)
    assert job is not None and job.cancel_requested
    judging.close(
        session, job, judging.verdict("job_judge", Counter(), "judge job cancelled: the training job was cancelled")
    )
    session.flush()
    assert job.status == "cancelled"
    assert json.loads((Path(published) / "run_card.json").read_text())["status"] == "cancelled"
    judged = session.scalar(select(TrainingEvent).where(TrainingEvent.type == "judged"))
    assert judged is not None and judged.level == "warning" and "not finished" in judged.message


def test_a_judge_step_past_its_deadline_is_overdue(handed_off):
    assert not judging.overdue(handed_off, 60)
    assert judging.overdue(handed_off, 60, now=utcnow() + timedelta(seconds=61))


def test_an_evaluate_job_judged_against_a_gold_set_closes_with_its_score(session, tmp_path, published):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    sft = lifecycle.create(
        session,
        "t1",
        TrainingJobCreate.model_validate(
            {"dataset_id": make_dataset(session, "t1", arithmetic(4)), "method": "sft", "base_model": "model"}
        ),
        hub_cache=tmp_path,
        model_dirs=[tmp_path],
    )
    lifecycle.start(session, sft.id, stale_after_s=60, max_attempts=3)
    lifecycle.finish(session, sft.id, "succeeded", "trained", {}, published)
    spec = {
        "dataset_id": make_dataset(session, "t1", arithmetic(3)),
        "method": "evaluate",
        "student": sft.id,
        "evaluate": {"n": 3},
    }
    job = lifecycle.create(session, "t1", TrainingJobCreate.model_validate(spec), hub_cache=tmp_path)
    lifecycle.start(session, job.id, stale_after_s=60, max_attempts=3)
    metrics = {"evaluation": EVALUATION}
    assert judging.hand_off(session, job.id, COMPARISONS, json.loads(json.dumps(metrics)), published, "run card saved")
    claimed = judging.claim(session, job.id)
    assert claimed is not None
    judging.close(session, claimed, judging.verdict("job_judge", Counter(win=2, tie=1)))
    session.flush()
    assert job.status == "succeeded" and job.metrics["evaluation"]["judge"]["win"] == 2
    closed = session.scalars(select(TrainingEvent).where(TrainingEvent.training_job_id == job.id)).all()[-1]
    assert closed.message == "3 gold prompts answered; no final answers to match"
