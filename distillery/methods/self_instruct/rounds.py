"""The end of a Self-Instruct round: proposed tasks against the whole pool, in order.

Run under the job's row lock once every item of the round is done, so the pool is one
sequence no matter how many workers proposed into it: a task is compared with the seeds,
every task accepted in earlier rounds and those accepted before it in this one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from distillery.curation.similarity import SimilarityIndex
from distillery.db.models import Job, Record, Seed, WorkItem
from distillery.db.models import Teacher as TeacherRow
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.ledger.events import emit
from distillery.methods.base import NewItem
from distillery.methods.self_instruct.propose import propose_items, requests_for
from distillery.schemas.job_specs import SelfInstructJob, StoredSpec

# Records a round adds to a propose item come after the ones its worker wrote.
_ROUND_ORDINALS = 1000


def end_self_instruct_round(session: Session, job: Job, stored: StoredSpec, stage: int) -> list[NewItem]:
    spec = stored.job
    assert isinstance(spec, SelfInstructJob)
    target, params = spec.tasks_wanted, spec.params
    seeds = [(s.external_id, s.data) for s in session.scalars(select(Seed).where(Seed.job_id == job.id))]
    items = list(session.scalars(select(WorkItem).where(WorkItem.job_id == job.id).order_by(WorkItem.position)))
    generated = [i.payload for i in items if i.payload.get("step") == "label"]
    proposals = [i for i in items if i.stage == stage and i.payload.get("step") == "propose" and i.output]
    rounds = [i.payload["round"] for i in items if i.payload.get("step") == "propose"]
    round_ = max(rounds, default=0)
    # Every item so far is done, so this is the tasks that became records: a task whose
    # answer was rejected is made up for by the next round.
    labelled = (
        session.scalar(
            select(func.count())
            .select_from(Record)
            .where(Record.job_id == job.id, Record.step != "propose", Record.status == "accepted")
        )
        or 0
    )
    pool = SimilarityIndex(spec.curation.max_similarity)
    for text in [d["instruction"] for _, d in seeds] + [g["instruction"] for g in generated]:
        pool.add(text)

    accepted: list[NewItem] = []
    rejects: list[dict[str, Any]] = []
    for item in proposals:
        for n, task in enumerate(item.output["candidates"]):  # type: ignore[index]
            reason: str | None = None
            detail = ""
            match = pool.closest(task["instruction"])
            if match is not None:
                reason, detail = "too_similar", f"ROUGE-L {match.score:.2f} with a pooled task: {match.text[:300]}"
            elif labelled + len(accepted) >= target:
                reason, detail = "target_reached", f"target_count {target} was reached in this round"
            if reason is None:
                pool.add(task["instruction"])
                origin = {"method": "self-instruct", "round": round_, "proposed_by_item": item.id}
                accepted.append(NewItem({"step": "label", **task, "origin": origin}, item.seed_ids))
                continue
            rejects.append(
                _reject(job, item, _ROUND_ORDINALS + n, task, reason, detail, match.score if match else None)
            )
    _store(session, job, stored, rejects)

    made = labelled + len(accepted)
    if proposals:
        reasons = Counter(r["reject_reason"] for r in rejects)
        emit(
            session,
            job.id,
            "round_finished",
            f"round {round_ + 1}: {len(accepted)} new tasks accepted ({made} of {target})"
            + "".join(f", {n} {reason}" for reason, n in reasons.items()),
            round=round_ + 1,
            accepted=len(accepted),
            rejected=dict(reasons),
        )
    if made >= target:
        return accepted
    if round_ + 1 >= params.max_rounds:
        emit(
            session,
            job.id,
            "rounds_exhausted",
            f"stopped after max_rounds={params.max_rounds} with {made} of {target} tasks",
            level="warning",
        )
        return accepted
    pooled = generated + [a.payload for a in accepted]
    more = propose_items(
        job.id, params, round_ + 1, requests_for(target - made, params.tasks_per_request), seeds, pooled
    )
    return accepted + more


def _reject(
    job: Job, item: WorkItem, ordinal: int, task: dict[str, str], reason: str, detail: str, score: float | None
) -> dict[str, Any]:
    template = item.output.get("template") or {}  # type: ignore[union-attr]
    return {
        "job_id": job.id,
        "work_item_id": item.id,
        "ordinal": ordinal,
        "method": job.method,
        "step": "propose",
        "teacher_id": item.teacher_id,
        "template_name": template.get("name"),
        "template_version": template.get("version"),
        "seed_ids": item.seed_ids,
        "instruction": task["instruction"],
        "input": task["input"],
        "messages": [],
        "parsed": {"round": item.payload["round"], **({"similarity": round(score, 4)} if score else {})},
        "scores": {},
        "status": "rejected",
        "reject_reason": reason,
        "reject_detail": detail,
    }


def _store(session: Session, job: Job, stored: StoredSpec, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    teachers = {t.id: t.name for t in stored.teachers}
    # .all(): dict() of a Result would take it for a mapping (it has keys()).
    models = dict(
        session.execute(select(TeacherRow.id, TeacherRow.model).where(TeacherRow.id.in_(list(teachers)))).all()
    )
    for row in rows:
        row["teacher_name"], row["model"] = teachers.get(row["teacher_id"]), models.get(row["teacher_id"])
    session.execute(insert(Record), rows)
    counters.add(session, [(job.id, Counts(rejected=len(rows)))])
