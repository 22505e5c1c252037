"""The one MinHash-LSH engine: datasketch's sketches, and buckets that propose the same
candidates as datasketch's LSH."""

from __future__ import annotations

import random
import zlib

import numpy as np
from datasketch import MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32

from distillery.curation.minhash import LSHIndex, band_keys, bands_for, candidate_pairs, sketches
from distillery.curation.similarity import banding


def _texts(count: int, seed: int = 5) -> list[set[str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)]
    return [set(rng.choices(words, k=rng.randint(3, 10))) for _ in range(count)]


def test_sketches_equal_datasketchs_for_either_hash_function():
    sets = [*_texts(20), set()]
    for hashfunc in (zlib.crc32, sha1_hash32):
        for signature, shingles in zip(sketches(sets, 64, hashfunc), sets, strict=True):
            reference = MinHash(num_perm=64, seed=1, hashfunc=hashfunc)
            reference.update_batch([s.encode() for s in shingles])
            assert (reference.hashvalues == signature).all()


def test_the_banding_catches_a_pair_at_the_floor_with_the_fewest_bands():
    assert banding(0.7) == (64, 4)  # ROUGE-L 0.7 is Jaccard 0.538: 64 bands of 4 rows
    assert bands_for(0.7, 128) == (32, 4)


def test_the_growing_index_proposes_what_datasketchs_lsh_proposes():
    sets = _texts(300)
    ours = LSHIndex(128, 32, 4, hashfunc=sha1_hash32)
    theirs = MinHashLSH(num_perm=128, params=(32, 4))
    for number, shingles in enumerate(sets):
        keys = ours.keys(shingles)
        reference = MinHash(num_perm=128)
        reference.update_batch([s.encode() for s in shingles])
        assert ours.candidates(keys) == sorted(theirs.query(reference))
        assert ours.add(keys) == number
        theirs.insert(number, reference)
    assert len(ours) == 300


def test_a_batch_pairs_each_text_with_the_first_of_its_bucket_and_salt_keeps_texts_apart():
    sets = [{"a", "b", "c"}, {"x", "y"}, {"a", "b", "c"}, {"a", "b", "c"}]
    keys = band_keys(sketches(sets, 16), 4, 4)
    assert candidate_pairs(keys).tolist() == [[0, 2], [0, 3]]
    salt = np.array([1, 1, 2, 1], dtype=np.uint64)
    assert candidate_pairs(keys, salt).tolist() == [[0, 3]]
