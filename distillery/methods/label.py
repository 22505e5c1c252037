"""`label`: the teacher answers each seed task (see answering.py), or, with
`params.turns > 1`, opens a dialogue from it (see dialogue.py). A seed's gold `answer` is
respected per `curation.gold` (see gold.py)."""

from __future__ import annotations

from typing import Any

from distillery.methods.answering import answer_task, label_prompt
from distillery.methods.base import (
    OWN,
    CallPlan,
    ItemOutput,
    JobContext,
    Method,
    NewItem,
    Teachers,
    WorkItemData,
    seed_items,
)
from distillery.methods.dialogue import converse, requests_to_answer
from distillery.methods.gold import check_gold
from distillery.prompts.extract import stated_answer
from distillery.prompts.matching import answers_match
from distillery.schemas.job_specs import LabelJob


async def label(item: WorkItemData, job: JobContext, teachers: Teachers) -> ItemOutput:
    payload = item.payload
    instruction, input_ = payload["instruction"], payload.get("input", "")
    gold = payload.get("answer")
    if job.params.turns > 1:
        draft = await converse(teachers.own, job, instruction, input_, item.seed_ids)
        if gold is not None and draft.answer is not None:
            # A dialogue's opening reply is free text: its final answer is scored, not filtered.
            draft.scores["matches_gold"] = answers_match(gold, stated_answer(draft.answer))
    else:
        draft = await answer_task(teachers.own, job, instruction, input_, item.seed_ids)
        if gold is not None and draft.answer is not None:
            await check_gold(teachers.own, job, draft, gold, instruction, input_)
    lineage: dict[str, Any] = {k: payload[k] for k in ("origin", "topic_path", "document_id", "span") if k in payload}
    draft.parsed.update(lineage)
    return ItemOutput([draft])


def label_calls(job: JobContext, items: list[NewItem]) -> CallPlan:
    prompts = [label_prompt(job, item.payload["instruction"], item.payload.get("input", "")) for item in items]
    # A gold mismatch is asked again with the hint: how often depends on the replies.
    hinted = job.params.turns == 1 and job.curation.gold == "rationalize"
    gold = any(item.payload.get("answer") is not None for item in items)
    requests = {OWN: len(items) * requests_to_answer(job)}
    return CallPlan(prompts, requests, records=len(items), bound="lower_bound" if hinted and gold else "exact")


METHOD = Method(spec=LabelJob, run=label, plan=seed_items, calls=label_calls)
