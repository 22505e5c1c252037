"""Which seeds a job plans once and records the repeats of as rejected."""

from __future__ import annotations

from app.jobs.planning import duplicate_seeds


def test_a_repeated_seed_names_the_planned_seed_it_repeats():
    seeds = [
        ("q0", {"instruction": "What is 3 * 7?"}),
        ("q1", {"instruction": "What is 4 * 8?"}),
        ("again", {"instruction": "  what is 3*7 ?"}),
        ("other-input", {"instruction": "What is 3 * 7?", "input": "in base 8"}),
        ("twice", {"instruction": "WHAT IS 4 * 8"}),
    ]
    assert duplicate_seeds(seeds, planned={"q0", "q1", "other-input"}) == [(2, "q0"), (4, "q1")]


def test_seeds_left_out_for_another_reason_are_not_duplicates():
    seeds = [("a", {"instruction": "Name a planet"}), ("b", {"instruction": "name a planet!"})]
    assert duplicate_seeds(seeds, planned=set()) == []
    assert duplicate_seeds([], planned=set()) == []
