"""What the set-level passes see of a record: its prompt, the response a student would
learn, and its scores. Passes never touch the database; they return rejections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from distillery.curation.record_text import prompt_text, response_text

# The scores selection ranks by, first present wins: the judge's quality, else the
# self-consistency agreement, else the preference margin.
SCORE_KEYS = ("quality", "agreement", "margin")


def score_of(scores: Mapping[str, Any]) -> float | None:
    """A record's score: the first of SCORE_KEYS it has as a number; None when unscored."""
    for name in SCORE_KEYS:
        value = scores.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(frozen=True)
class Candidate:
    id: int
    prompt: str
    response: str
    finish_reason: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"{self.prompt}\n{self.response}"

    @property
    def score(self) -> float:
        """The score selection ranks by (SCORE_KEYS); 0 for an unscored record."""
        score = score_of(self.scores)
        return 0.0 if score is None else score


@dataclass(frozen=True)
class Rejection:
    record_id: int
    pass_name: str
    reason: str
    detail: str
    matched_id: int | None = None  # the record kept in its place (duplicates)


def candidate_of(row: Any) -> Candidate:
    """A record as the passes see it. A dialogue is known by its opening task (the
    follow-ups are the teacher's own, and alike from one dialogue to the next); its
    response is every assistant turn."""
    return Candidate(row.id, prompt_text(row), response_text(row), row.finish_reason, row.scores or {})
