"""`label`: the teacher answers each seed task (see answering.py), or, with
`params.turns > 1`, opens a dialogue from it (see dialogue.py)."""

from __future__ import annotations

from app.curation.normalize import normalize
from app.methods.answering import answer_task
from app.methods.base import ItemOutput, JobContext, Teachers, WorkItemData
from app.methods.dialogue import converse


async def label(item: WorkItemData, job: JobContext, teachers: Teachers) -> ItemOutput:
    payload = item.payload
    if job.params.get("turns", 1) > 1:
        draft = await converse(teachers.own, job, payload["instruction"], payload.get("input", ""), item.seed_ids)
    else:
        draft = await answer_task(teachers.own, job, payload["instruction"], payload.get("input", ""), item.seed_ids)
    lineage = {k: payload[k] for k in ("origin", "topic_path", "document_id", "span") if k in payload}
    draft.parsed.update(lineage)
    gold = payload.get("answer")
    if gold is not None and draft.answer is not None:
        # Kept as a score, not a filter: the user decides what a gold mismatch means.
        draft.scores["matches_gold"] = normalize(gold) == normalize(draft.answer)
    return ItemOutput([draft])
