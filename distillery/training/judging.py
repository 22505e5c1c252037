"""The judge half of a training job's evaluation. Where the held-out records carry no final
answer and the job names `evaluate.judge_teacher`, that teacher compares the student's
answer with the teacher's: the synthesis pipeline's own pairwise `feedback` job (both
orders; an order-dependent verdict is a tie), run by the synthesis workers through the
teacher gateway (rate limits, cache, budget, usage), so the comparison is a job a person
can open, its records and costs included.

The training worker does not wait for it. Once it has trained, answered the prompts and
published the artifacts, it hands the comparisons over (`hand_off`) and takes the next
job; the job stays `running`, marked `judging_since`, which the training reaper and a
redelivered message leave alone. The synthesis side (distillery/workers/judging.py) creates the
judge job and, when that job ends, when the user cancels, or after
TRAINING_JUDGE_TIMEOUT_S, closes the training job (`close`): the verdict goes into its
metrics and run card, with the events a run that judged in place would have written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.base import utcnow
from distillery.db.models import Record, TrainingJob
from distillery.schemas.status import JobStatus, RecordStatus
from distillery.training import artifacts, lifecycle
from distillery.training.events import emit

OUTCOMES = ("win", "tie", "loss", "unjudged")


@dataclass(frozen=True)
class Comparison:
    prompt: str
    student: str
    teacher: str


def split(comparisons: list[Comparison]) -> tuple[int, list[Comparison]]:
    """How many answers equal the teacher's (ties, nothing to ask a judge), and the rest."""
    asked = [c for c in comparisons if c.student.strip() != c.teacher.strip()]
    return len(comparisons) - len(asked), asked


def verdict(job_id: str | None, counts: Counter[str], error: str | None = None) -> dict[str, Any]:
    """{"job_id", "win", "tie", "loss", "unjudged", "win_rate"} from the student's side, and
    "error" when the comparison did not finish."""
    result: dict[str, Any] = {"job_id": job_id, **{k: counts[k] for k in OUTCOMES}}
    if error is not None:
        return {**result, "win_rate": None, "error": error}
    judged = counts["win"] + counts["tie"] + counts["loss"]
    return {**result, "win_rate": round(counts["win"] / judged, 4) if judged else None}


def outcomes(session: Session, judge_job_id: str) -> Counter[str]:
    """The judge job's verdicts, from the student's side."""
    return Counter(_outcome(r) for r in session.scalars(select(Record).where(Record.job_id == judge_job_id)))


def _outcome(record: Record) -> str:
    """The student's side of one comparison: its answer is the first candidate."""
    if record.status == RecordStatus.REJECTED and record.reject_reason == "tie":
        return "tie"
    if record.status != RecordStatus.ACCEPTED:
        return "unjudged"
    student = record.parsed["candidates"][0]["response"]
    return "win" if record.parsed["chosen"] == student else "loss"


def judged(session: Session, job_id: str, result: dict[str, Any]) -> None:
    # No job when every student answer equalled the teacher's: all ties, nothing to ask.
    by = f"judge job {result['job_id']}" if result["job_id"] else "no judge needed (identical answers)"
    outcome = (
        f"{by}: {result['win']} wins, {result['tie']} ties, {result['loss']} losses"
        if "error" not in result
        else f"judge comparison not finished: {result['error']}"
    )
    emit(session, job_id, "judged", outcome, level="info" if "error" not in result else "warning", judge=result)


def evaluated(session: Session, job_id: str, evaluation: dict[str, Any]) -> None:
    exact = evaluation["exact_match"]
    score = f"exact match {exact:.1%}" if exact is not None else "no exact answers"
    emit(session, job_id, "evaluated", f"{evaluation['prompts']} prompts answered; {score}", exact_match=exact)


def hand_off(
    session: Session,
    job_id: str,
    comparisons: list[Comparison],
    metrics: dict[str, Any],
    artifacts_uri: str,
    saved: str,
) -> bool:
    """The training worker's last step for a job with answers to judge: `metrics` so far,
    the artifacts published at `artifacts_uri`, `saved` the words that will say so. False
    when the job was closed meanwhile (say, failed by a reaper that thought it dead)."""
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id).with_for_update())
    if job is None or job.status != JobStatus.RUNNING:
        return False
    job.judging_since = utcnow()
    job.judging = {
        "comparisons": [asdict(c) for c in comparisons],
        "metrics": metrics,
        "artifacts_uri": artifacts_uri,
        "saved": saved,
        "job_id": None,
    }
    emit(session, job_id, "judging_started", f"the judge teacher compares {len(comparisons)} free-form answers")
    return True


def claim(session: Session, job_id: str) -> TrainingJob | None:
    """The job, locked, if it is waiting for its judge step."""
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id).with_for_update())
    if job is None or job.status != JobStatus.RUNNING or job.judging is None or job.judging_since is None:
        return None
    return job


def comparisons(job: TrainingJob) -> list[Comparison]:
    assert job.judging is not None
    return [Comparison(**c) for c in job.judging["comparisons"]]


def started(job: TrainingJob, judge_job_id: str) -> None:
    assert job.judging is not None
    job.judging = {**job.judging, "job_id": judge_job_id}


def overdue(job: TrainingJob, timeout_s: float, now: datetime | None = None) -> bool:
    since = job.judging_since
    assert since is not None
    # SQLite hands back a naive timestamp (stored in UTC).
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    return (now or utcnow()) > since + timedelta(seconds=timeout_s)


def awaiting(session: Session) -> list[tuple[str, str | None]]:
    """(training job, judge job or None) for every job waiting for its judge step."""
    rows = session.execute(
        select(TrainingJob.id, TrainingJob.judging)
        .where(TrainingJob.status == JobStatus.RUNNING, TrainingJob.judging_since.is_not(None))
        .order_by(TrainingJob.id)
    ).all()
    return [(job_id, (state or {}).get("job_id")) for job_id, state in rows]


def waiting_on(session: Session, judge_job_id: str) -> str | None:
    """The training job whose judge step is `judge_job_id`, if it still waits."""
    return next((job_id for job_id, judge in awaiting(session) if judge == judge_job_id), None)


def close(session: Session, job: TrainingJob, result: dict[str, Any]) -> None:
    """The verdict is in (or the comparison ended without one): into the metrics and the run
    card, then the job closes as it would have after judging in place."""
    assert job.judging is not None
    state = job.judging
    metrics = state["metrics"]
    metrics["evaluation"] = {**metrics["evaluation"], "judge": result}
    status = JobStatus.CANCELLED if job.cancel_requested else JobStatus.SUCCEEDED
    judged(session, job.id, result)
    evaluated(session, job.id, metrics["evaluation"])
    artifacts.rewrite_card(state["artifacts_uri"], status, metrics)
    emit(session, job.id, "artifacts_saved", state["saved"])
    job.judging_since, job.judging = None, None
    lifecycle.finish(
        session, job.id, status, lifecycle.closing_message(job.method, status, metrics), metrics, state["artifacts_uri"]
    )
