"""Near duplicates by MinHash-LSH (datasketch), verified by exact Jaccard.

Sketches are datasketch's own "affine32" MinHash, computed for many texts at once: the same
permutations and arithmetic as `MinHash.update_batch` with a CRC-32 hash function, but one
vectorised pass over every shingle of a block of texts instead of a Python loop per text
(100k instructions sketch in about a second). The LSH bands are bucketed by sorting, one
numpy pass per band, and the exact Jaccard of the shingle sets decides every candidate, so
the LSH's false positives cost time, never precision. Texts are taken in order; a text
matching one kept earlier is a duplicate of it, so the earliest of a group is kept and
every other one names it.

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
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from datasketch import MinHash

from app.curation.normalize import normalize

_SEED = 1
_BLOCK = 256  # texts per vectorised pass: keeps the shingles × permutations array in cache
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


def _fmix32(h: np.ndarray) -> np.ndarray:
    # MurmurHash3's finaliser, as datasketch pre-mixes input hashes for the affine32 scheme.
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def sketches(shingle_sets: Sequence[set[str]], num_perm: int) -> np.ndarray:
    """(len, num_perm) uint32 MinHash signatures, equal to datasketch's for the same shingles."""
    a, b = (p.astype(np.uint32) for p in MinHash(num_perm=num_perm, seed=_SEED).permutations)
    out = np.full((len(shingle_sets), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    with np.errstate(over="ignore"):  # uint32 wrap-around is the modulo 2^32 of the scheme
        for start in range(0, len(shingle_sets), _BLOCK):
            block = shingle_sets[start : start + _BLOCK]
            sizes = np.fromiter((len(s) for s in block), dtype=np.int64, count=len(block))
            hashes = np.fromiter(
                (zlib.crc32(s.encode()) for shingles in block for s in shingles), dtype=np.uint32, count=sizes.sum()
            )
            if not len(hashes):
                continue
            permuted = _fmix32(hashes)[:, None] * a + b
            filled = np.flatnonzero(sizes)
            offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))[filled]
            out[start + filled] = np.minimum.reduceat(permuted, offsets, axis=0)
    return out


def bands_for(jaccard: float, num_perm: int, recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows) of the LSH: the most rows per band (fewest false candidates) that still
    make a pair at `jaccard` a candidate with probability `recall`: 1 - (1 - J^r)^b."""
    for rows in range(min(16, num_perm), 1, -1):
        bands = num_perm // rows
        if 1 - (1 - jaccard**rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


def _candidates(signatures: np.ndarray, bands: int, rows: int, salt: np.ndarray | None = None) -> np.ndarray:
    """Pairs (i, j), i < j, that share a band: j is paired with the first text of each
    bucket it falls in. Buckets are found by sorting each band's keys, not by a dict.
    `salt` (a uint64 per text) is mixed into every key: texts whose salts differ never meet."""
    if len(signatures) < 2:
        return np.empty((0, 2), dtype=np.int64)
    mix = np.random.default_rng(_SEED).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    found = []
    with np.errstate(over="ignore"):
        for band in range(bands):
            keys = signatures[:, band * rows : (band + 1) * rows].astype(np.uint64) @ mix  # wraps mod 2^64
            if salt is not None:
                keys ^= salt
            order = np.argsort(keys, kind="stable")  # stable: a bucket's members in text order
            new_bucket = np.concatenate(([True], keys[order][1:] != keys[order][:-1]))
            first = order[np.flatnonzero(new_bucket)[np.cumsum(new_bucket) - 1]]
            paired = first != order
            found.append(np.stack([first[paired], order[paired]], axis=1))
    pairs = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    return np.unique(pairs, axis=0)


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
    pairs = _candidates(sketches(sets, num_perm), *bands_for(threshold, num_perm), salt)
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
