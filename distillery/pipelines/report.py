"""A pipeline's report: per stage, what it kept and rejected, what its teacher cost, what a
student trained or sampled, and the student against the teacher on the user's gold set.

The teacher's side of the comparison is a `job` stage of the same pipeline over the gold
set (its `source_dataset`): a label job scores each record against the seed's gold answer
(`scores.matches_gold`), and its accuracy is the share of scored records that match.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from distillery.db.models import Job, Pipeline, PipelineStage, Record, TrainingJob
from distillery.db.scoping import get_owned
from distillery.ledger import counters
from distillery.pipelines.runner import stage_rows
from distillery.schemas.job_specs import rehydrate
from distillery.schemas.pipeline_reports import (
    GoldComparison,
    GoldScore,
    PipelineReport,
    RecordTally,
    StageReport,
    TeacherUse,
    TrainingSummary,
)
from distillery.schemas.status import RecordStatus


class _Evaluation(BaseModel):
    """The part of a training job's `metrics.evaluation` the report shows."""

    prompts: int | None = None
    exact_match: float | None = None


class _Metrics(BaseModel):
    steps: int | None = None
    first_loss: float | None = None
    last_loss: float | None = None
    eval_loss: float | None = None
    evaluation: _Evaluation | None = None
    # generate: the student's samples kept as candidates (distinct, non-blank).
    distinct_samples: int | None = None


class _EvaluateSettings(BaseModel):
    # The gold set a student is scored on, where the job names one.
    dataset_id: str | None = None


def _read(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value or {})
    except ValidationError:  # written by another version of the worker: shown as unknown
        return model()


def report(session: Session, tenant_id: str, pipeline_id: str) -> PipelineReport:
    pipeline = get_owned(session, Pipeline, tenant_id, pipeline_id, "pipeline")
    stages = stage_rows(session, pipeline_id)
    jobs = {
        job.id: job for job in session.scalars(select(Job).where(Job.id.in_([s.job_id for s in stages if s.job_id])))
    }
    trained = {
        job.id: job
        for job in session.scalars(
            select(TrainingJob).where(TrainingJob.id.in_([s.training_job_id for s in stages if s.training_job_id]))
        )
    }
    every_job = list(session.scalars(select(Job.id).where(Job.pipeline_id == pipeline_id)))
    counts = counters.totals(session, sorted({*every_job, *jobs}))
    tallies = _tallies(session, list(jobs))
    gold = _gold_scores(session, list(jobs))
    # The job stages over each dataset, for the teacher's side of a gold comparison.
    over: dict[str, str] = {}
    for job in jobs.values():
        source = rehydrate(job.spec).job.source_dataset
        if source is not None and job.id in gold:
            over.setdefault(source, job.id)

    out = []
    for stage in stages:
        row = StageReport(
            name=stage.name,
            kind=stage.kind,
            status=stage.status,
            job_id=stage.job_id,
            training_job_id=stage.training_job_id,
            records=None,
            teacher=None,
            gold=None,
            samples=None,
            training=None,
            evaluation=None,
        )
        if stage.job_id in jobs:
            c = counts[stage.job_id]
            row.records = tallies.get(stage.job_id, RecordTally(kept=0, rejected=0, failed=0, rejected_by_reason={}))
            row.teacher = TeacherUse(requests=c.requests, cached_requests=c.cached_requests, cost_usd=float(c.cost_usd))
            row.gold = gold.get(stage.job_id)
        elif stage.training_job_id in trained:
            _training(session, stage, trained[stage.training_job_id], row, over, gold)
        out.append(row)
    cost = sum((counts[j].cost_usd for j in every_job), start=counters.ZERO.cost_usd)
    return PipelineReport(id=pipeline.id, name=pipeline.name, status=pipeline.status, cost_usd=float(cost), stages=out)


def _training(
    session: Session,
    stage: PipelineStage,
    job: TrainingJob,
    row: StageReport,
    over: dict[str, str],
    gold: dict[str, GoldScore],
) -> None:
    metrics: _Metrics = _read(_Metrics, job.metrics)
    if stage.kind in ("sft", "dpo"):
        row.training = TrainingSummary(
            steps=metrics.steps, first_loss=metrics.first_loss, last_loss=metrics.last_loss, eval_loss=metrics.eval_loss
        )
    if stage.kind == "generate":
        row.samples = metrics.distinct_samples
    settings: _EvaluateSettings = _read(_EvaluateSettings, job.evaluate)
    gold_set = settings.dataset_id or (job.dataset_id if stage.kind == "evaluate" else None)
    evaluation = metrics.evaluation
    scored_on = gold_set or job.dataset_id
    if evaluation is None or scored_on is None:
        return
    teacher_job = over.get(gold_set) if gold_set else None
    row.evaluation = GoldComparison(
        dataset_id=scored_on,
        prompts=evaluation.prompts,
        student_exact_match=evaluation.exact_match,
        teacher=gold[teacher_job] if teacher_job else None,
    )


def _tallies(session: Session, job_ids: list[str]) -> dict[str, RecordTally]:
    found: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reasons: dict[str, dict[str, int]] = defaultdict(dict)
    for job_id, status, reason, n in session.execute(
        select(Record.job_id, Record.status, Record.reject_reason, func.count())
        .where(Record.job_id.in_(job_ids))
        .group_by(Record.job_id, Record.status, Record.reject_reason)
    ).all():
        if job_id is None:
            continue
        found[job_id][status] += n
        if status == RecordStatus.REJECTED:
            reasons[job_id][reason or "unknown"] = n
    return {
        job_id: RecordTally(
            kept=by[RecordStatus.ACCEPTED],
            rejected=by[RecordStatus.REJECTED],
            failed=by[RecordStatus.FAILED],
            rejected_by_reason=dict(sorted(reasons[job_id].items(), key=lambda kv: -kv[1])),
        )
        for job_id, by in found.items()
    }


def _gold_scores(session: Session, job_ids: list[str]) -> dict[str, GoldScore]:
    """Per job whose records carry `scores.matches_gold`: how many match."""
    matches = Record.scores["matches_gold"].as_boolean()
    rows = session.execute(
        select(Record.job_id, func.count(matches), func.count(case((matches, 1))))
        .where(Record.job_id.in_(job_ids))
        .group_by(Record.job_id)
    ).all()
    return {
        job_id: GoldScore(job_id=job_id, scored=scored, matched=matched, accuracy=round(matched / scored, 4))
        for job_id, scored, matched in rows
        if scored and job_id is not None
    }
