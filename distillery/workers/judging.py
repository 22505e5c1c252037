"""A training job's judge step, on the synthesis side (distillery/training/judging.py says why):
create the pairwise `feedback` job that compares the student's answers with the teacher's,
and close the training job once that job ends, the user cancels, or it runs out of time.

`advance` is idempotent and every trigger calls it: the training worker's hand-off, the
judge job's finalizing, a cancel through the API, and the training reaper's sweep (which
also catches a hand-off whose message was lost)."""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy.orm import Session

from distillery.db.models import Job, TrainingJob
from distillery.db.session import unit_of_work
from distillery.errors import Conflict, InvalidSpec
from distillery.jobs import lifecycle
from distillery.queue import PLAN_JOB, enqueue
from distillery.schemas.curation import Curation
from distillery.schemas.job_specs import FeedbackJob, FeedbackParams
from distillery.schemas.jobs import SeedIn, Skill
from distillery.schemas.status import TERMINAL_STATUSES, JobStatus
from distillery.settings import get_settings
from distillery.training import judging
from distillery.workers import pipelines

log = logging.getLogger(__name__)


def advance(training_job_id: str) -> None:
    """Move the job's judge step on: create the judge job, or close the training job when
    the judge job has ended (or must be stopped)."""
    timeout_s = get_settings().training_judge_timeout_s
    created = None
    with unit_of_work() as session:
        job = judging.claim(session, training_job_id)
        if job is None:
            return
        assert job.judging is not None
        judge_job_id = job.judging.get("job_id")
        if judge_job_id is None and job.cancel_requested:  # cancelled before its judge job began
            ties, _ = judging.split(judging.comparisons(job))
            reason = "judge job cancelled: the training job was cancelled"
            judging.close(session, job, judging.verdict(None, Counter(tie=ties), reason))
        elif judge_job_id is None:
            created = _create(session, job)
        else:
            _settle(session, job, judge_job_id, timeout_s)
    if created is not None:
        enqueue(PLAN_JOB, created)
    else:  # the training job may have closed: its pipeline moves on
        pipelines.after_training_job(training_job_id)


def after_job_finished(job_id: str) -> None:
    """A synthesis job was finalized: if it is a training job's judge, that job closes now."""
    with unit_of_work() as session:
        waiting = judging.waiting_on(session, job_id)
    if waiting is not None:
        advance(waiting)


def sweep() -> None:
    """Every job waiting for its judge step, moved on: a lost message, a judge job that
    failed or was cancelled outside finalizing, a cancel, a deadline."""
    with unit_of_work() as session:
        waiting = judging.awaiting(session)
    for training_job_id, _ in waiting:
        try:
            advance(training_job_id)
        except Exception:  # one job's trouble does not hold up the others
            log.exception("the judge step of training job %s could not move on", training_job_id)


def _create(session: Session, job: TrainingJob) -> str | None:
    assert job.evaluate is not None
    judge_teacher = job.evaluate["judge_teacher"]
    ties, asked = judging.split(judging.comparisons(job))
    spec = FeedbackJob(
        name="student-vs-teacher",
        teacher=judge_teacher,
        judge_teacher=judge_teacher,
        method="feedback",
        skill=Skill(name="student-vs-teacher", reasoning="none"),
        seeds=[SeedIn(instruction=c.prompt, candidates=[c.student.strip(), c.teacher.strip()]) for c in asked],
        params=FeedbackParams(judge_mode="pairwise"),
        # Every comparison is an outcome: no set-level pass may drop one.
        curation=Curation(dedup=False, near_dedup=None, heuristics=None),
    )
    try:
        # Part of a training job the tenant already started: not refused for the tenant's
        # limit on active synthesis jobs. Refused before it writes anything.
        judge = lifecycle.create(session, job.tenant_id, spec, max_active=0, request_id=job.request_id)
    except InvalidSpec as exc:  # the judge teacher was deleted since submission
        judging.close(session, job, judging.verdict(None, Counter(tie=ties), str(exc)))
        return None
    # A pipeline's training stage: the judge's teacher calls count in the pipeline's cost.
    judge.pipeline_id = job.pipeline_id
    judging.started(job, judge.id)
    return judge.id


def _settle(session: Session, job: TrainingJob, judge_job_id: str, timeout_s: float) -> None:
    ties, _ = judging.split(judging.comparisons(job))
    judge = session.get(Job, judge_job_id)
    if judge is not None and judge.status not in TERMINAL_STATUSES:
        stop = job.cancel_requested
        if not stop and not judging.overdue(job, timeout_s):
            return  # still judging
        # Its teacher calls cost money and nobody will read them: stop it.
        reason = "the training job was cancelled" if stop else "it did not finish in time"
        try:
            lifecycle.cancel(session, job.tenant_id, judge_job_id)
        except Conflict:  # it finished meanwhile: read its outcome
            session.refresh(judge)
        else:
            judging.close(
                session, job, judging.verdict(judge_job_id, Counter(tie=ties), f"judge job cancelled: {reason}")
            )
            return
    if judge is None or judge.status != JobStatus.SUCCEEDED:
        status, error = (judge.status, judge.error) if judge is not None else ("deleted", None)
        judging.close(session, job, judging.verdict(judge_job_id, Counter(tie=ties), f"judge job {status}: {error}"))
        return
    judging.close(
        session, job, judging.verdict(judge_job_id, Counter(tie=ties) + judging.outcomes(session, judge_job_id))
    )
