"""A pipeline's report on SQLite: records kept and rejected by reason, teacher usage, and
the student against the teacher on the same gold set."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from distillery.db.models import Job, Record, TrainingJob, WorkItem
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.pipelines import lifecycle, report, runner
from distillery.schemas.pipelines import PipelineCreate
from tests.support.training_data import arithmetic, make_dataset
from tests.unit.pipelines.conftest import label, stage

pytestmark = pytest.mark.usefixtures("teacher")


def add_records(session: Session, job_id: str, rows: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    item = WorkItem(job_id=job_id, position=0, seed_ids=[], payload={})
    session.add(item)
    session.flush()
    for n, (status, reason, scores) in enumerate(rows):
        session.add(
            Record(
                job_id=job_id,
                work_item_id=item.id,
                ordinal=n,
                method="label",
                step="label",
                seed_ids=[],
                instruction=f"q{n}",
                input="",
                messages=[],
                parsed={},
                scores=scores,
                status=status,
                reject_reason=reason,
            )
        )
    session.flush()


def test_the_report_compares_student_and_teacher_on_the_gold_set(session, runtime):
    gold = make_dataset(session, "t1", arithmetic(4))
    body = PipelineCreate.model_validate(
        {
            "name": "distill",
            "stages": [
                stage("teacher", "job", label(seeds=[], source_dataset=gold)),
                stage("sft", "sft", {"dataset_id": "@teacher", "base_model": "tiny", "evaluate": {"n": 2}}),
            ],
        }
    )
    pipeline = lifecycle.create(session, "t1", body, runtime)
    runner.advance(session, pipeline.id, runtime)
    teacher_stage = runner.stage_rows(session, pipeline.id)[0]
    assert teacher_stage.job_id is not None
    job = session.get_one(Job, teacher_stage.job_id)
    add_records(
        session,
        job.id,
        [
            ("accepted", None, {"matches_gold": True}),
            ("accepted", None, {"matches_gold": True}),
            ("rejected", "gold_mismatch", {"matches_gold": False}),
            ("rejected", "exact_duplicate", {}),
            ("failed", "teacher_http_500", {}),
        ],
    )
    counters.add_usage(session, [(job.id, "tch_1", Counts(requests=4, cached_requests=1, cost_usd=Decimal("0.25")))])
    job.status, job.dataset_id = "succeeded", make_dataset(session, "t1", arithmetic(2))
    runner.advance(session, pipeline.id, runtime)

    sft_stage = runner.stage_rows(session, pipeline.id)[1]
    trained = session.get_one(TrainingJob, sft_stage.training_job_id)
    # The training worker's closing metrics; the gold set as the student's evaluation names it.
    trained.status = "succeeded"
    trained.evaluate = {**(trained.evaluate or {}), "dataset_id": gold}
    trained.metrics = {
        "steps": 12,
        "first_loss": 2.5,
        "last_loss": 0.4,
        "eval_loss": 0.6,
        "rows": {"train": 2},
        "evaluation": {"prompts": 2, "exact_match": 0.5, "samples": []},
    }
    runner.advance(session, pipeline.id, runtime)

    out = report.report(session, "t1", pipeline.id)
    assert out.status == "succeeded" and out.cost_usd == 0.25
    first, second = out.stages
    assert first.records is not None and first.teacher is not None and first.gold is not None
    assert (first.records.kept, first.records.rejected, first.records.failed) == (2, 2, 1)
    assert first.records.rejected_by_reason == {"gold_mismatch": 1, "exact_duplicate": 1}
    assert (first.teacher.requests, first.teacher.cached_requests, first.teacher.cost_usd) == (4, 1, 0.25)
    assert (first.gold.scored, first.gold.matched, first.gold.accuracy) == (3, 2, 0.6667)
    assert first.training is None and first.evaluation is None

    assert second.training is not None and second.evaluation is not None
    assert (second.training.steps, second.training.first_loss, second.training.last_loss) == (12, 2.5, 0.4)
    assert second.evaluation.dataset_id == gold and second.evaluation.student_exact_match == 0.5
    assert second.evaluation.teacher is not None and second.evaluation.teacher.accuracy == 0.6667
    assert second.records is None and second.samples is None


def test_a_student_scored_on_its_own_held_out_split_has_no_teacher_to_compare(session, runtime):
    ds = make_dataset(session, "t1", arithmetic(4))
    body = PipelineCreate.model_validate(
        {"name": "d", "stages": [stage("sft", "sft", {"dataset_id": ds, "base_model": "tiny", "evaluate": {"n": 2}})]}
    )
    pipeline = lifecycle.create(session, "t1", body, runtime)
    runner.advance(session, pipeline.id, runtime)
    trained = session.get_one(TrainingJob, runner.stage_rows(session, pipeline.id)[0].training_job_id)
    trained.metrics = {"steps": 3, "evaluation": {"prompts": 2, "exact_match": 1.0}}

    (row,) = report.report(session, "t1", pipeline.id).stages
    assert row.status == "running" and row.evaluation is not None
    assert (row.evaluation.dataset_id, row.evaluation.student_exact_match) == (ds, 1.0)
    assert row.evaluation.teacher is None

    trained.metrics = {"steps": "many", "evaluation": "later"}  # written by some other worker version
    (row,) = report.report(session, "t1", pipeline.id).stages
    assert row.training is not None and row.training.steps is None and row.evaluation is None
