"""Near-duplicate tasks by ROUGE-L, exactly, at scale.

Self-Instruct rejects a new task whose ROUGE-L F1 with any pooled task reaches 0.7, which
is quadratic done naively. With *multiset* word shingles (the k-th occurrence of a word is
its own shingle) an F1 of F implies a Jaccard similarity of at least F/(2-F): 0.538 at 0.7.
So MinHash-LSH (distillery/curation/minhash.py) over those shingles proposes candidates, and the
exact ROUGE-L runs only on them. The banding is the narrowest that makes a pair at that
Jaccard floor a candidate with probability ≥ 0.99: at 0.7 (J = 0.538), 64 bands of 4 rows
(0.996). Sketches hash shingles with datasketch's default SHA-1, as this index always has,
so it proposes the same candidates as before the engine was shared with near-dedup.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from distillery.curation.minhash import LSHIndex, bands_for

_TOKEN = re.compile(r"\w+")
NUM_PERM = 256


def banding(threshold: float) -> tuple[int, int]:
    """(bands, rows) that catch a pair at the Jaccard floor of a ROUGE-L threshold."""
    return bands_for(threshold / (2 - threshold), NUM_PERM)


def tokens(text: str) -> list[str]:
    """rouge_score's default tokenisation: lowercase alphanumeric runs."""
    return _TOKEN.findall(text.lower())


def rouge_l(a: list[str], b: list[str]) -> float:
    """ROUGE-L F1 of two token lists (longest common subsequence, O(len(a)·len(b)))."""
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(b), lcs / len(a)
    return 2 * precision * recall / (precision + recall)


def _shingles(words: list[str]) -> list[str]:
    """Multiset shingles: the k-th occurrence of a word is its own shingle. A text without
    words is sketched as one empty shingle."""
    seen: Counter[str] = Counter()
    out = []
    for word in words:
        seen[word] += 1
        out.append(f"{word}\x00{seen[word]}")
    return out or [""]


@dataclass(frozen=True)
class Match:
    text: str
    score: float
    key: object = None  # what the pooled text was added with


class SimilarityIndex:
    """A growing pool of texts; `closest` finds a pooled text at or above the threshold (the
    earliest pooled of equally close ones)."""

    def __init__(self, threshold: float) -> None:
        from datasketch.hashfunc import sha1_hash32  # datasketch brings scipy: only when used

        self.threshold = threshold
        self._lsh = LSHIndex(NUM_PERM, *banding(threshold), hashfunc=sha1_hash32)
        self._texts: list[tuple[str, list[str], object]] = []
        self._last: tuple[str, list[str], list[int]] | None = None  # `closest` then `add` sketch once

    def __len__(self) -> int:
        return len(self._texts)

    def _sketched(self, text: str) -> tuple[list[str], list[int]]:
        if self._last is None or self._last[0] != text:
            words = tokens(text)
            self._last = (text, words, self._lsh.keys(_shingles(words)))
        return self._last[1], self._last[2]

    def closest(self, text: str) -> Match | None:
        words, keys = self._sketched(text)
        best: Match | None = None
        for number in self._lsh.candidates(keys):
            pooled, pooled_words, pooled_key = self._texts[number]
            score = rouge_l(words, pooled_words)
            if score >= self.threshold and (best is None or score > best.score):
                best = Match(pooled, score, pooled_key)
        return best

    def add(self, text: str, key: object = None) -> None:
        words, keys = self._sketched(text)
        self._lsh.add(keys)
        self._texts.append((text, words, key))
