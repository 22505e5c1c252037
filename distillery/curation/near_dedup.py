"""Near duplicates by MinHash-LSH (distillery/curation/minhash.py), verified by exact Jaccard.

The exact Jaccard of the shingle sets decides every LSH candidate. Texts are taken in
order; a text matching one kept earlier is a duplicate of it, so the earliest of a group
is kept and every other one names it.

Instructions are short: word unigrams+bigrams or character 5-grams catch a copy with a
word or two changed, where the 5-word shingles of web-scale dedup would not (METHODS.md).

Templated tasks are not copies: "Tom has 3 apples..." and "Tom has 7 apples...", or "facts
about Paris" and "facts about Lima", share most shingles but ask different things. So two
texts are near duplicates only if their *particulars* are also equal: the numbers in them
(in order), and the names, that is words written capitalised inside a sentence somewhere in the batch
(so a lowercased or shouted copy still names "paris"). The particulars are mixed into the
LSH band keys, so a copy is bucketed with the templated sibling it copies, not only with
the first of its template.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from distillery.curation.minhash import band_keys, bands_for, candidate_pairs, sketches
from distillery.curation.normalize import normalize

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\b\d")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?:;])\s+|\n+")
# A capitalised function word inside a sentence marks Title Case: no sign of a name there.
# fmt: off
_FUNCTION_WORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with",
    "from", "about", "into", "as", "is", "are",
})
# fmt: on


@dataclass(frozen=True)
class Shingling:
    unit: Literal["word", "char"] = "word"
    # Words: every k-gram for k = 1..n. Characters: n-grams.
    n: int = 2

    def of(self, text: str) -> set[str]:
        text = normalize(text)
        if self.unit == "char":
            return {text[i : i + self.n] for i in range(max(1, len(text) - self.n + 1))} if text else set()
        words = _WORD.findall(text)
        return {" ".join(words[i : i + k]) for k in range(1, self.n + 1) for i in range(len(words) - k + 1)}


def names_in(text: str) -> set[str]:
    """Words capitalised inside a sentence (not its first word), lowercased: names, as far
    as case tells. None from a shouted or Title Case text, whose case tells nothing."""
    if text[1:].islower() or text.isupper():  # the common cases, at the speed of str methods
        return set()
    if sum(map(str.isupper, text)) > sum(map(str.islower, text)):
        return set()
    found = set()
    for sentence in _SENTENCE_BREAK.split(text):
        for word in _WORD.findall(sentence)[1:]:
            if len(word) > 1 and word[0].isupper():
                if word.lower() in _FUNCTION_WORDS:
                    return set()
                found.add(word.lower())
    return found


Particulars = tuple[tuple[str, ...], frozenset[str]]


def particulars(texts: Sequence[str]) -> list[Particulars]:
    """Each text's numbers (words that begin with a digit), in order ("3 apples, buys 5" is
    not "5 apples, buys 3"), and the names of the batch it holds."""
    names = set().union(*map(names_in, texts))
    found: list[Particulars] = []
    for text in texts:
        if not names and not _NUMBER.search(text):
            found.append(((), frozenset()))
            continue
        words = _WORD.findall(normalize(text))
        found.append((tuple(w for w in words if w[0].isdigit()), frozenset(w for w in words if w in names)))
    return found


@dataclass(frozen=True)
class Duplicate:
    index: int
    kept: int  # index of the earlier text it matched
    jaccard: float


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = 0.7,
    num_perm: int = 128,
    shingling: Shingling = Shingling(),
    same_particulars: bool = True,
) -> list[Duplicate]:
    """Each text whose shingle-set Jaccard with an earlier *kept* text reaches `threshold`
    (and, with `same_particulars`, whose numbers and names are that text's), with the
    closest such text."""
    sets = [shingling.of(t) for t in texts]
    parts = particulars(texts) if same_particulars else None
    salt = None
    if parts is not None:  # Python's hash of a set of str: stable within this process, which is all it needs
        salt = np.fromiter((hash(p) & 0xFFFF_FFFF_FFFF_FFFF for p in parts), dtype=np.uint64, count=len(texts))
    pairs = candidate_pairs(band_keys(sketches(sets, num_perm), *bands_for(threshold, num_perm)), salt)
    partners: dict[int, list[int]] = {}
    for i, j in pairs.tolist():
        partners.setdefault(j, []).append(i)
    duplicates: dict[int, Duplicate] = {}
    for j in sorted(partners):
        best: Duplicate | None = None
        for i in partners[j]:
            if i in duplicates or not sets[i] or (parts is not None and parts[i] != parts[j]):
                continue
            jaccard = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
            if jaccard >= threshold and (best is None or (jaccard, -i) > (best.jaccard, -best.kept)):
                best = Duplicate(j, i, round(jaccard, 4))
        if best is not None:
            duplicates[j] = best
    return list(duplicates.values())
