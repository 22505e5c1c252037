"""Decontamination against evaluation sets: a record that shares an n-gram (13 by default,
as GPT-3's decontamination) of normalised whitespace tokens with an eval item is removed,
naming the item. An eval item's question is matched on its own as well as with its answer:
a record that asks the eval question is contaminated whatever it answers. A text shorter
than n tokens is matched whole, so short questions are still caught."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from distillery.curation.candidates import Candidate, Rejection
from distillery.curation.normalize import normalize


def _grams(tokens: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


# A question of one or two words ("Why?", "Explain recursion") is in records by chance:
# shorter than this, a question is matched only together with its answer.
MIN_QUESTION_TOKENS = 3


class EvalIndex:
    def __init__(self, items: Iterable[tuple[str, str, str]], n: int) -> None:
        """`items`: (eval item id, its question, its answer)."""
        self.n = n
        # n-grams of texts at least n long, and whole short texts by their length.
        self._by_length: dict[int, dict[tuple[str, ...], str]] = {}
        for item_id, question, answer in items:
            asked = normalize(question).split()
            self._add(item_id, asked + normalize(answer).split())
            if answer.strip() and len(asked) >= MIN_QUESTION_TOKENS:
                self._add(item_id, asked)

    def _add(self, item_id: str, tokens: list[str]) -> None:
        if not tokens:
            return
        size = min(self.n, len(tokens))
        table = self._by_length.setdefault(size, {})
        for gram in _grams(tokens, size):
            table.setdefault(gram, item_id)

    def match(self, text: str) -> tuple[str, str] | None:
        """(eval item id, the shared n-gram) for the first overlap found, or None."""
        tokens = normalize(text).split()
        for size, table in self._by_length.items():
            for gram in _grams(tokens, size):
                if gram in table:
                    return table[gram], " ".join(gram)
        return None


def contaminated(candidates: Sequence[Candidate], index: EvalIndex) -> list[Rejection]:
    rejected = []
    for c in candidates:
        found = index.match(c.text)
        if found is not None:
            item_id, gram = found
            rejected.append(Rejection(c.id, "decontaminate", "contaminated", f"eval item {item_id}: '{gram[:200]}'"))
    return rejected
