"""Exact duplicates: the same prompt and response once case, punctuation and spacing are
normalised. The earliest of each group is kept."""

from __future__ import annotations

from collections.abc import Sequence

from distillery.curation.candidates import Candidate, Rejection
from distillery.curation.normalize import text_hash


def exact_duplicates(candidates: Sequence[Candidate]) -> list[Rejection]:
    seen: dict[str, int] = {}
    rejected = []
    for c in candidates:
        key = text_hash(c.prompt, c.response)
        kept = seen.setdefault(key, c.id)
        if kept != c.id:
            rejected.append(Rejection(c.id, "dedup", "exact_duplicate", f"same text as record {kept}", kept))
    return rejected
