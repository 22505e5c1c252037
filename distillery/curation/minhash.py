"""MinHash-LSH, the one engine behind near-dedup (a whole set at once) and the ROUGE-L
similarity index (a pool that grows a text at a time).

Sketches are datasketch's own "affine32" MinHash: the same permutations and arithmetic as
`MinHash.update_batch`, but one vectorised pass over every shingle of a block of texts
instead of a Python loop per text (100k instructions sketch in about a second). The LSH
cuts a sketch into bands of rows; each band is reduced to one 64-bit key, and texts that
share a key in any band are candidates. A caller always decides a candidate by an exact
measure, so the LSH's false positives cost time, never precision.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Sequence
from functools import cache

import numpy as np

_SEED = 1
_BLOCK = 256  # texts per vectorised pass: keeps the shingles × permutations array in cache

HashFunc = Callable[[bytes], int]


@cache
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    # Imported here: datasketch brings scipy, half a second of CPU at every API and worker
    # start, which only a dataset build or a similarity check needs.
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=_SEED).permutations
    return a.astype(np.uint32), b.astype(np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    # MurmurHash3's finaliser, as datasketch pre-mixes input hashes for the affine32 scheme.
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def sketches(shingle_sets: Sequence[Collection[str]], num_perm: int, hashfunc: HashFunc = zlib.crc32) -> np.ndarray:
    """(len, num_perm) uint32 MinHash signatures, equal to datasketch's
    `MinHash(num_perm, seed=1, hashfunc=hashfunc)` over the same (UTF-8) shingles. An empty
    set keeps the all-max signature, as an empty datasketch MinHash does."""
    a, b = _permutations(num_perm)
    out = np.full((len(shingle_sets), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    with np.errstate(over="ignore"):  # uint32 wrap-around is the modulo 2^32 of the scheme
        for start in range(0, len(shingle_sets), _BLOCK):
            block = shingle_sets[start : start + _BLOCK]
            sizes = np.fromiter((len(s) for s in block), dtype=np.int64, count=len(block))
            hashes = np.fromiter(
                (hashfunc(s.encode()) for shingles in block for s in shingles), dtype=np.uint32, count=sizes.sum()
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


@cache
def _mix(rows: int) -> np.ndarray:
    return np.random.default_rng(_SEED).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(len, bands) uint64 keys: each band's rows mixed into one number. Equal bands give
    equal keys; unequal ones meet only by a 64-bit accident, which the exact check undoes."""
    banded = signatures[:, : bands * rows].reshape(len(signatures), bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):  # wraps mod 2^64
        return banded @ _mix(rows)


def candidate_pairs(keys: np.ndarray, salt: np.ndarray | None = None) -> np.ndarray:
    """Pairs (i, j), i < j, whose `band_keys` meet in a band: j is paired with the first
    text of each bucket it falls in. Buckets are found by sorting each band's keys, not by a
    dict. `salt` (a uint64 per text) is mixed into every key: texts whose salts differ
    never meet."""
    if len(keys) < 2:
        return np.empty((0, 2), dtype=np.int64)
    found = []
    for band in range(keys.shape[1]):
        column = keys[:, band] if salt is None else keys[:, band] ^ salt
        order = np.argsort(column, kind="stable")  # stable: a bucket's members in text order
        new_bucket = np.concatenate(([True], column[order][1:] != column[order][:-1]))
        first = order[np.flatnonzero(new_bucket)[np.cumsum(new_bucket) - 1]]
        paired = first != order
        found.append(np.stack([first[paired], order[paired]], axis=1))
    pairs = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    return np.unique(pairs, axis=0)


class LSHIndex:
    """A growing LSH: texts are added one at a time, each numbered in the order added;
    `candidates` names the added texts that share a band key with a sketch."""

    def __init__(self, num_perm: int, bands: int, rows: int, hashfunc: HashFunc = zlib.crc32) -> None:
        self.num_perm, self.bands, self.rows, self.hashfunc = num_perm, bands, rows, hashfunc
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def keys(self, shingles: Collection[str]) -> list[int]:
        """The band keys of one text's shingles, to query and then add it by."""
        keys = band_keys(sketches([shingles], self.num_perm, self.hashfunc), self.bands, self.rows)
        return [int(k) for k in keys[0]]

    def candidates(self, keys: list[int]) -> list[int]:
        """The numbers of the added texts that meet these keys in a band, earliest first."""
        found: set[int] = set()
        for bucket, key in zip(self._buckets, keys, strict=True):
            found.update(bucket.get(key, ()))
        return sorted(found)

    def add(self, keys: list[int]) -> int:
        """Add a text by its keys; its number."""
        number = self._size
        for bucket, key in zip(self._buckets, keys, strict=True):
            bucket.setdefault(key, []).append(number)
        self._size += 1
        return number
