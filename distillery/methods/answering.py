"""Answering one task per the skill: CoT or not, text or JSON (with structured outputs
where the teacher has them), repaired once, and self-consistent when sampled.

Self-consistency (Wang et al. 2023): with `params.samples_per_item: k > 1`, k sampled
answers vote on the parsed final answer (compared as distillery/prompts/matching.py compares:
42, "42.0" and "42 apples" are one vote); the first winning sample's rationale is kept and
the share of samples that agree is the record's `agreement` score, rejected below
`curation.min_agreement`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from distillery.curation.heuristics import is_refusal
from distillery.curation.record_text import response_text
from distillery.ledger.records import RecordDraft
from distillery.methods.asking import Exchange, ask
from distillery.methods.base import JobContext
from distillery.prompts.matching import answer_key
from distillery.prompts.parse import Parsed, parse_reply
from distillery.prompts.render import Prompt
from distillery.teachers.gateway import Teacher


def label_prompt(job: JobContext, instruction: str, input_: str) -> Prompt:
    skill = job.skill
    return job.prompt(
        "label",
        system_prompt=skill.system_prompt,
        reasoning=skill.reasoning,
        output_format=skill.output_format,
        output_schema=skill.output_schema,
        instruction=instruction,
        input=input_,
        **job.skill_context(),
    )


def answer_parser(job: JobContext) -> Callable[[str], Parsed]:
    skill = job.skill
    return lambda text: parse_reply(
        text,
        reasoning=skill.reasoning,
        output_format=skill.output_format,
        output_schema=skill.output_schema,
    )


def response_format(job: JobContext, teacher: Teacher) -> dict[str, Any] | None:
    """OpenAI structured outputs for a JSON answer, where the teacher supports them. Only
    without CoT: the reply is then the JSON value itself, not reasoning and an Answer line;
    and only for an object schema, the one root type the API accepts."""
    skill = job.skill
    schema = skill.output_schema
    if skill.output_format != "json" or skill.reasoning == "cot" or not teacher.endpoint.structured_outputs:
        return None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


async def answer_task(
    teacher: Teacher, job: JobContext, instruction: str, input_: str, seed_ids: list[Any], *, step: str = "label"
) -> RecordDraft:
    """One task answered per the skill: parsed, repaired once, voted on when sampled."""
    prompt = label_prompt(job, instruction, input_)
    k = job.params.samples_per_item
    exchanges = await asyncio.gather(
        *(
            ask(
                teacher,
                job,
                prompt,
                answer_parser(job),
                seed=i if k > 1 else None,
                response_format=response_format(job, teacher),
            )
            for i in range(k)
        )
    )
    draft = RecordDraft(step=step, status="accepted", instruction=instruction, input=input_, seed_ids=seed_ids)
    parsed = [e for e in exchanges if e.ok and e.value is not None]
    if not parsed:
        return exchanges[0].record(draft)
    votes = Counter(answer_key(e.value.answer) for e in parsed)  # type: ignore[union-attr]
    top, count = votes.most_common(1)[0]
    winner: Exchange[Parsed] = next(e for e in parsed if answer_key(e.value.answer) == top)  # type: ignore[union-attr]
    winner.record(draft)
    value = winner.value
    assert value is not None
    draft.rationale, draft.answer = value.rationale, value.answer
    draft.parsed.update({"rationale": value.rationale, "answer": value.answer})
    if value.value is not None:
        draft.parsed["value"] = value.value
    if is_refusal(response_text(draft)):
        draft.status, draft.reject_reason = "rejected", "refusal"
        draft.reject_detail = "the teacher declined the task"
        return draft
    if k > 1:
        agreement = count / k
        draft.scores["agreement"] = round(agreement, 4)
        draft.parsed["votes"] = {
            next(e.value.answer for e in parsed if answer_key(e.value.answer) == key): n  # type: ignore[union-attr]
            for key, n in votes.most_common()
        }
        floor = job.curation.min_agreement
        if agreement < floor:
            draft.status, draft.reject_reason = "rejected", "low_agreement"
            draft.reject_detail = f"{count} of {k} samples agree on the answer; min_agreement is {floor}"
    return draft
