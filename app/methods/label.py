"""`label`: the teacher answers each seed input, with chain-of-thought for `reasoning: cot`."""

from __future__ import annotations

from app.curation.normalize import normalize
from app.jobs.progress import RecordDraft
from app.methods.base import JobContext, WorkItemData
from app.prompts.parse import ParseFailure, parse_reply
from app.prompts.render import render
from app.teachers.gateway import Teacher
from app.teachers.retries import TeacherFailed


async def label(item: WorkItemData, job: JobContext, teacher: Teacher) -> list[RecordDraft]:
    skill, params = job.skill, job.params
    instruction, input_ = item.payload["instruction"], item.payload.get("input", "")
    prompt = render(
        "label",
        system_prompt=skill.get("system_prompt"),
        reasoning=skill["reasoning"],
        skill_name=skill["name"],
        skill_description=skill.get("description", ""),
        output_format=skill["output_format"],
        output_schema=skill.get("output_schema"),
        instruction=instruction,
        input=input_,
    )
    draft = RecordDraft(
        step="label",
        status="accepted",
        instruction=instruction,
        input=input_,
        seed_ids=item.seed_ids,
        messages=prompt.messages,
        system_prompt=prompt.system,
        template_name=prompt.template_name,
        template_version=prompt.template_version,
    )
    try:
        reply = await teacher.complete(
            prompt.messages, temperature=params["temperature"], max_tokens=params["max_tokens"]
        )
    except TeacherFailed as failure:
        draft.status, draft.reject_reason, draft.reject_detail = "failed", failure.reason, failure.detail
        return [draft]
    draft.raw_response, draft.finish_reason = reply.content, reply.finish_reason
    if reply.finish_reason == "length":
        draft.status, draft.reject_reason = "rejected", "truncated"
        draft.reject_detail = f"the reply was cut at max_tokens={params['max_tokens']}"
        return [draft]
    try:
        parsed = parse_reply(
            reply.content,
            reasoning=skill["reasoning"],
            output_format=skill["output_format"],
            output_schema=skill.get("output_schema"),
        )
    except ParseFailure as failure:
        draft.status, draft.reject_reason, draft.reject_detail = "rejected", failure.reason, failure.detail
        return [draft]
    draft.rationale, draft.answer = parsed.rationale, parsed.answer
    draft.parsed.update({"rationale": parsed.rationale, "answer": parsed.answer})
    if parsed.value is not None:
        draft.parsed["value"] = parsed.value
    gold = item.payload.get("answer")
    if gold is not None:
        # Kept as a score, not a filter: the user decides what a gold mismatch means.
        draft.scores["matches_gold"] = normalize(gold) == normalize(parsed.answer)
    return [draft]
