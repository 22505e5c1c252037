"""Judge quality scores (AlpaGasus): with `curation.judge`, the judge teacher scores every
accepted record 1-10 as the item finishes, at temperature 0; the set-level judge pass keeps
records at or above `min_score`. A reply with no usable score leaves the record unscored
(with the reason in `parsed.quality_error`), which that pass rejects."""

from __future__ import annotations

import asyncio
import re

from distillery.curation.record_text import completion_text
from distillery.ledger.records import RecordDraft
from distillery.methods.asking import ask, note_template
from distillery.methods.base import JobContext
from distillery.prompts.parse import ParseFailure
from distillery.teachers.gateway import Teacher

# "Score: 9", "**Score:** 9", "score: 9/10 - correct"
_SCORE_FORMAT = 'Reply with a first line "Score: <1-10>" and then one sentence of rationale.'
_SCORE = re.compile(r"^\W*score\W*(?P<score>\d+(?:\.\d+)?)\b", re.I | re.M)


def parse_score(text: str) -> tuple[float, str]:
    found = _SCORE.search(text)
    if found is None:
        raise ParseFailure("invalid_score", 'the reply must start with a line "Score: <1-10>"', _SCORE_FORMAT)
    score = float(found["score"])
    if not 1 <= score <= 10:
        raise ParseFailure("invalid_score", f"the score {score:g} is outside 1-10", _SCORE_FORMAT)
    return score, text[found.end() :].strip()


async def score(judge: Teacher, job: JobContext, drafts: list[RecordDraft]) -> None:
    await asyncio.gather(*(_score_one(judge, job, d) for d in drafts if d.status == "accepted"))


async def _score_one(judge: Teacher, job: JobContext, draft: RecordDraft) -> None:
    if draft.parsed.get("conversation"):
        turns = draft.parsed["conversation"]
        response = "\n\n".join(f"{t['role']}: {t['content']}" for t in turns[1:])
    else:
        response = completion_text(draft)
    prompt = job.prompt("quality_rate", instruction=draft.instruction, input=draft.input, response=response)
    exchange = await ask(judge, job, prompt, parse_score, temperature=0.0, max_tokens=256)
    note_template(draft, prompt)
    if exchange.ok and exchange.value is not None:
        draft.scores["quality"], draft.parsed["quality_rationale"] = exchange.value
    elif exchange.failure is not None:
        draft.parsed["quality_error"] = f"{exchange.failure[1]}: {exchange.failure[2]}"
