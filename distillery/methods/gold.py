"""Gold answers: a seed's `answer` against the teacher's final answer, per `curation.gold`.

Answers are compared as distillery/prompts/matching.py compares them (numbers as numbers, units
ignored). A mismatch is, by `curation.gold`: `reject` (the default) a rejected record,
reason `gold_mismatch`; `keep` only the score `matches_gold: false`; `rationalize` one more
request with the gold answer as a hint (STaR, Zelikman et al. 2022), whose rationale is
kept, marked `parsed.rationalized`, only when it reaches the gold answer without naming
the hint. The record's prompt stays the hint-free one, so a student never sees the hint.
A plain gold answer against a JSON object answer (or the reverse) cannot be compared: it
is scored, never filtered.
"""

from __future__ import annotations

import json
import re

from distillery.ledger.records import RecordDraft
from distillery.methods.asking import ask, note_template
from distillery.methods.base import JobContext
from distillery.prompts.matching import answers_match
from distillery.prompts.parse import Parsed, parse_reply
from distillery.teachers.gateway import Teacher

# A rationale that leans on the hint instead of reasoning: the STaR prompt asks for none.
_HINT = re.compile(r"\b(?:hint|given (?:final )?answer|answer (?:was|is) given|we are told the answer)\b", re.I)


async def check_gold(
    teacher: Teacher, job: JobContext, draft: RecordDraft, gold: str, instruction: str, input_: str
) -> None:
    """Score `draft` against `gold` and apply `curation.gold` to an accepted mismatch."""
    matches = answers_match(gold, draft.answer)
    draft.scores["matches_gold"] = matches
    if matches or draft.status != "accepted" or _structured(gold) != _structured(draft.answer or ""):
        # A plain gold answer ("21") says nothing about a JSON object answer: scored, never filtered.
        return
    mode = job.curation.gold
    if mode == "keep":
        return
    detail = f"the teacher answered {draft.answer!r}; the gold answer is {gold!r}"
    if mode == "rationalize":
        problem = await _rationalize(teacher, job, draft, gold, instruction, input_)
        if problem is None:
            return
        detail = f"{detail}; rationalization: {problem}"
    draft.status, draft.reject_reason, draft.reject_detail = "rejected", "gold_mismatch", detail[:1000]


async def _rationalize(
    teacher: Teacher, job: JobContext, draft: RecordDraft, gold: str, instruction: str, input_: str
) -> str | None:
    """Ask once with the gold answer as a hint; None when the rationale was kept, else why not."""
    skill = job.skill
    prompt = job.prompt(
        "rationalize",
        output_format=skill.output_format,
        output_schema=skill.output_schema,
        instruction=instruction,
        input=input_,
        answer=gold,
        **job.skill_context(),
    )
    # Greedy: the hint leaves one answer to reach, and a repeat hits the cache.
    asked = await ask(teacher, job, prompt, lambda text: _parse(job, text), temperature=0)
    note_template(draft, prompt)
    if not asked.ok or asked.value is None or asked.reply is None:
        return f"{asked.failure[1]}: {asked.failure[2]}" if asked.failure else "no usable reply"
    value = asked.value
    if not answers_match(gold, value.answer):
        return f"the hinted rationale still reached {value.answer!r}"
    if value.rationale and _HINT.search(value.rationale):
        return "the rationale mentions the hint"
    draft.parsed.update(
        {
            "rationalized": True,
            "unhinted_answer": draft.answer,
            "rationale": value.rationale,
            "answer": value.answer,
        }
    )
    if value.value is not None:
        draft.parsed["value"] = value.value
    draft.rationale, draft.answer = (value.rationale if skill.reasoning == "cot" else None), value.answer
    draft.raw_response, draft.finish_reason = asked.reply.content, asked.reply.finish_reason
    draft.scores["matches_gold"] = True
    return None


def _parse(job: JobContext, text: str) -> Parsed:
    # The rationalization prompt always asks for reasoning, whatever the skill's own mode.
    skill = job.skill
    return parse_reply(text, reasoning="cot", output_format=skill.output_format, output_schema=skill.output_schema)


def _structured(text: str) -> bool:
    """Whether an answer is a JSON object or array."""
    text = text.strip()
    if text[:1] not in ("{", "["):
        return False
    try:
        return isinstance(json.loads(text), dict | list)
    except ValueError:
        return False
