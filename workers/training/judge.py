"""The judge half of `evaluate`: where the records carry no final answer, the judge teacher
compares the student's answer with the teacher's. This is the synthesis pipeline's own
pairwise `feedback` job (both orders; an order-dependent verdict is a tie), run by the
synthesis workers through the teacher gateway (rate limits, cache, budget, usage), so the
comparison is a job a person can open, its records and costs included."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.db.models import Job, Record
from app.db.session import unit_of_work
from app.errors import Conflict, InvalidSpec
from app.jobs import lifecycle
from app.queue import enqueue
from app.schemas.curation import Curation
from app.schemas.job_specs import FeedbackJob, FeedbackParams
from app.schemas.jobs import TERMINAL_STATUSES, SeedIn, Skill
from app.settings import get_settings

POLL_S = 2.0


@dataclass(frozen=True)
class Comparison:
    prompt: str
    student: str
    teacher: str


def compare(
    tenant_id: str, judge_teacher: str, comparisons: list[Comparison], cancelled: Callable[[], bool]
) -> dict[str, Any]:
    """{"job_id", "win", "tie", "loss", "win_rate"} from the student's side, plus "unjudged"
    (the judge gave no usable verdict) and "error" when the comparison did not finish.
    `cancelled` is polled while waiting (it also keeps the training job's heartbeat)."""
    counts = {"win": 0, "tie": 0, "loss": 0, "unjudged": 0}
    asked = []
    for c in comparisons:
        student, teacher = c.student.strip(), c.teacher.strip()
        if student == teacher:
            counts["tie"] += 1  # the same answer: nothing to ask a judge
        else:
            asked.append(SeedIn(instruction=c.prompt, candidates=[student, teacher]))
    result: dict[str, Any] = {"job_id": None}
    if asked:
        spec = FeedbackJob(
            name="student-vs-teacher",
            teacher=judge_teacher,
            judge_teacher=judge_teacher,
            method="feedback",
            skill=Skill(name="student-vs-teacher", reasoning="none"),
            seeds=asked,
            params=FeedbackParams(judge_mode="pairwise"),
            # Every comparison is an outcome: no set-level pass may drop one.
            curation=Curation(dedup=False, near_dedup=None, heuristics=None),
        )
        try:
            with unit_of_work() as session:
                # Part of a training job the tenant already started: not refused for the
                # tenant's limit on active synthesis jobs.
                job_id = lifecycle.create(session, tenant_id, spec, max_active=0).id
        except InvalidSpec as exc:  # the judge teacher was deleted since submission
            return {**result, **counts, "win_rate": None, "error": str(exc)}
        enqueue("distillery.synthesis.plan_job", job_id)
        result["job_id"] = job_id
        status, error = _wait(tenant_id, job_id, cancelled)
        if status != "succeeded":
            return {**result, **counts, "win_rate": None, "error": f"judge job {status}: {error}"}
        with unit_of_work() as session:
            for record in session.scalars(select(Record).where(Record.job_id == job_id)):
                counts[_outcome(record)] += 1
    judged = counts["win"] + counts["tie"] + counts["loss"]
    return {**result, **counts, "win_rate": round(counts["win"] / judged, 4) if judged else None}


def _wait(tenant_id: str, job_id: str, cancelled: Callable[[], bool]) -> tuple[str, str | None]:
    deadline = time.monotonic() + get_settings().training_judge_timeout_s
    while True:
        with unit_of_work() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status in TERMINAL_STATUSES:
                return job.status, job.error
        stop = cancelled()
        if stop or time.monotonic() > deadline:
            # Its teacher calls cost money and nobody will read them: stop it.
            reason = "the training job was cancelled" if stop else "it did not finish in time"
            with unit_of_work() as session:
                try:
                    lifecycle.cancel(session, tenant_id, job_id)
                except Conflict:
                    continue  # it finished meanwhile: read its outcome
            return "cancelled", reason
        time.sleep(POLL_S)


def _outcome(record: Record) -> str:
    """The student's side of one comparison: its answer is the first candidate."""
    if record.status == "rejected" and record.reject_reason == "tie":
        return "tie"
    if record.status != "accepted":
        return "unjudged"
    student = record.parsed["candidates"][0]["response"]
    return "win" if record.parsed["chosen"] == student else "loss"
