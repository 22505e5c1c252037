"""Selection (Deita): take records best score first, pass over one that is too close to a
record already taken (the diversity floor), stop at `max_records`."""

from __future__ import annotations

from collections.abc import Sequence

from distillery.curation.candidates import Candidate, Rejection
from distillery.curation.similarity import SimilarityIndex


def select(candidates: Sequence[Candidate], max_records: int, diversity: float) -> list[Rejection]:
    taken = SimilarityIndex(diversity)
    rejected = []
    for c in sorted(candidates, key=lambda c: (-c.score, c.id)):
        if len(taken) >= max_records:
            rejected.append(Rejection(c.id, "select", "not_selected", f"max_records {max_records} reached"))
            continue
        match = taken.closest(c.prompt)
        if match is not None:
            detail = f"ROUGE-L {match.score:.2f} with selected record {match.key}; diversity is {diversity}"
            rejected.append(Rejection(c.id, "select", "not_diverse", detail, match.key))  # type: ignore[arg-type]
            continue
        taken.add(c.prompt, c.id)
    return rejected
