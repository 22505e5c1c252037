"""Multi-turn dialogues (UltraChat, Baize): the teacher plays the user and the assistant in
separate calls, `params.turns` exchanges in all. A cut turn or an "As an AI…" reply
rejects the dialogue; the record keeps every turn in `parsed.conversation`."""

from __future__ import annotations

from typing import Any

from distillery.curation.heuristics import is_refusal
from distillery.ledger.records import RecordDraft
from distillery.methods.answering import label_prompt
from distillery.methods.asking import ask, note_template
from distillery.methods.base import JobContext
from distillery.prompts.parse import ParseFailure
from distillery.prompts.render import Prompt
from distillery.teachers.gateway import Teacher


def _text(reply: str) -> str:
    text = reply.strip()
    if not text:
        raise ParseFailure("empty_reply", "the teacher returned no text")
    return text


def requests_to_answer(job: JobContext) -> int:
    """Requests one task takes to answer: its samples, or a dialogue's turns (the teacher
    plays the user in every turn after the first)."""
    turns = job.params.turns
    return job.params.samples_per_item if turns == 1 else 2 * turns - 1


async def converse(
    teacher: Teacher, job: JobContext, instruction: str, input_: str, seed_ids: list[Any]
) -> RecordDraft:
    opening = label_prompt(job, instruction, input_)
    system = [m for m in opening.messages if m["role"] == "system"]
    conversation: list[dict[str, str]] = [opening.messages[-1]]
    draft = RecordDraft(step="dialogue", status="accepted", instruction=instruction, input=input_, seed_ids=seed_ids)
    for turn in range(job.params.turns):
        if turn > 0:
            asked = await ask(
                teacher, job, job.prompt("dialogue_user", conversation=conversation, **job.skill_context()), _text
            )
            if not asked.ok or asked.value is None:
                return _stop(asked.record(draft), turn, "user")
            note_template(draft, asked.prompt)
            conversation.append({"role": "user", "content": asked.value})
        prompt = Prompt(opening.template_name, opening.template_version, [*system, *conversation])
        replied = await ask(teacher, job, prompt, _text)
        replied.record(draft)
        if not replied.ok or replied.value is None:
            return _stop(draft, turn, "assistant")
        if is_refusal(replied.value):
            draft.status, draft.reject_reason = "rejected", "refusal"
            return _stop(draft, turn, "assistant")
        conversation.append({"role": "assistant", "content": replied.value})
        if turn == 0:
            draft.answer = replied.value
    draft.parsed["conversation"] = conversation
    draft.parsed["turns"] = job.params.turns
    return draft


def _stop(draft: RecordDraft, turn: int, role: str) -> RecordDraft:
    draft.reject_detail = f"turn {turn + 1} ({role}): {draft.reject_detail or draft.reject_reason}"
    return draft
