"""Each set-level curation pass on crafted records: what it rejects, why, and what it keeps."""

from __future__ import annotations

import zlib

import pytest
from datasketch import MinHash

from distillery.curation import pipeline
from distillery.curation.candidates import Candidate
from distillery.curation.decontaminate import EvalIndex, contaminated
from distillery.curation.dedup import exact_duplicates
from distillery.curation.heuristics import problem
from distillery.curation.minhash import sketches
from distillery.curation.near_dedup import Shingling, near_duplicates
from distillery.curation.select import select
from distillery.methods.quality import parse_score
from distillery.prompts.parse import ParseFailure
from distillery.schemas.curation import Curation, Heuristics


def _c(i: int, prompt: str, response: str = "A fine answer.", **scores: float) -> Candidate:
    return Candidate(i, prompt, response, scores=scores)


def _reasons(rejections) -> dict[int, str]:
    return {r.record_id: r.reason for r in rejections}


def test_exact_duplicates_ignore_case_and_punctuation_and_name_the_first():
    found = exact_duplicates([_c(1, "What is 2+2?", "4"), _c(2, "what is 2 + 2", "4."), _c(3, "What is 2+2?", "5")])
    assert [(r.record_id, r.matched_id, r.reason) for r in found] == [(2, 1, "exact_duplicate")]


def test_sketches_are_datasketchs_own():
    sets = [Shingling().of("Explain how tides follow the moon"), Shingling(unit="char", n=5).of("Hello there")]
    for signature, shingles in zip(sketches(sets, 64), sets, strict=True):
        reference = MinHash(num_perm=64, seed=1, hashfunc=zlib.crc32)
        reference.update_batch([s.encode() for s in shingles])
        assert (reference.hashvalues == signature).all()


def test_near_duplicates_keep_the_earliest_and_leave_different_texts():
    texts = [
        "Explain how the moon causes ocean tides on Earth",
        "Write a haiku about autumn leaves falling slowly",
        "explain how the moon causes ocean tides on planet earth!",
        "Describe the water cycle for a ten year old child",
    ]
    found = near_duplicates(texts, threshold=0.7)
    assert [(d.index, d.kept) for d in found] == [(2, 0)]
    assert found[0].jaccard >= 0.7
    assert near_duplicates(texts, threshold=0.95) == []


def test_questions_about_different_things_are_not_near_duplicates():
    texts = ["What is the capital of France?", "What is the capital of Spain?", "What is the capital of France"]
    assert [(d.index, d.kept) for d in near_duplicates(texts)] == [(2, 0)]


_NAMES = ["Tom", "Maria", "Ahmed", "Lena"]


def _word_problems() -> list[str]:
    """40 tasks of one template, differing only in their numbers (Jaccard up to 0.9)."""
    return [
        f"If {_NAMES[0]} has {a} apples and buys {b} more at the market, how many apples does he have in total?"
        for a, b in [(a, b) for a in range(2, 12) for b in (3, 5, 7, 9)]
    ]


def _city_facts() -> list[str]:
    cities = ["Paris", "Lima", "Tokyo", "Nairobi", "Oslo", "Cairo", "Quito", "Hanoi"]
    return [
        f"Tell me five interesting facts about the history and culture of {city}, in short bullet points."
        for city in cities
    ]


def test_templated_tasks_that_differ_in_a_number_or_a_name_are_not_near_duplicates():
    texts = _word_problems() + _city_facts()
    assert near_duplicates(texts) == []
    # Without the particulars they would collapse: that is what they are kept from.
    assert len(near_duplicates(texts, same_particulars=False)) > 40


def test_reworded_copies_of_templated_tasks_are_still_near_duplicates():
    problems, facts = _word_problems(), _city_facts()
    copies = [
        problems[13].replace("at the market, ", "at a market ").upper(),  # shouted: its case tells nothing
        facts[1].replace("five interesting", "five").lower(),  # lowercased: "lima" is still a name
        problems[27].replace("in total", "altogether"),
    ]
    found = near_duplicates(problems + facts + copies)
    n = len(problems) + len(facts)
    assert sorted((d.index, d.kept) for d in found) == [(n, 13), (n + 1, 41), (n + 2, 27)]


def test_heuristics_name_each_problem():
    rules = Heuristics(min_response_words=2, max_response_words=50, max_prompt_words=10)
    cases = {
        "truncated": Candidate(1, "Q?", "A long answer that", "length"),
        "empty_response": _c(2, "Q?", "  "),
        "too_short": _c(3, "Q?", "Yes."),
        "too_long": _c(4, "Q?", "word " * 60),
        "prompt_too_long": _c(5, "word " * 11, "A fine answer."),
        "refusal": _c(6, "Q?", "I'm sorry, but I can't help with that."),
        "repetitive": _c(7, "Q?", "the cat sat on the mat " * 8),
    }
    for reason, candidate in cases.items():
        found = problem(candidate, rules)
        assert found is not None and found[0] == reason, (reason, found)
    assert problem(_c(8, "Q?", "The answer is four, because two plus two is four."), rules) is None


def test_decontamination_matches_13_grams_and_short_eval_items_whole():
    long_item = "a train leaves the station at noon and travels sixty miles per hour for three hours how far"
    index = EvalIndex([("gsm-1", long_item, "180 miles"), ("short-9", "What is the capital of Peru?", "")], n=13)
    found = contaminated(
        [
            _c(1, "Q: " + long_item[:80] + " and more"),  # 16 words of it in a row
            _c(2, "Tell me: what is the capital of Peru? Thanks."),
            _c(3, "A train leaves at noon and travels for hours."),
        ],
        index,
    )
    assert {r.record_id: r.detail.split(":")[0] for r in found} == {1: "eval item gsm-1", 2: "eval item short-9"}


def test_decontamination_catches_a_short_eval_question_asked_without_its_answer():
    index = EvalIndex(
        [
            ("mmlu-4", "What is the boiling point of water at sea level?", "100 degrees Celsius"),
            ("gsm-17", "How many legs do 3 spiders have?", "24"),
            ("arc-2", "Which planet has the most moons?", "Saturn"),
            ("tiny-1", "Why?", "Because."),
        ],
        n=13,
    )
    planted = [
        _c(1, "Quiz time. What is the boiling point of water at sea level?", "It boils at 100 C."),
        _c(2, "how many legs do 3 spiders have", "Spiders have eight legs each, so 24."),
        _c(3, "Answer briefly: Which planet has the most moons? Explain.", "Saturn, with 146 known moons."),
    ]
    clean = [_c(4, "Why is the sky blue?", "Rayleigh scattering."), _c(5, "How many legs do ants have?", "Six.")]
    found = contaminated(planted + clean, index)
    assert {r.record_id: r.detail.split(":")[0] for r in found} == {
        1: "eval item mmlu-4",
        2: "eval item gsm-17",
        3: "eval item arc-2",
    }


def test_selection_takes_the_best_scores_and_skips_near_copies():
    candidates = [
        _c(1, "Explain photosynthesis in plants", quality=9.5),
        _c(2, "Explain photosynthesis in green plants", quality=10),
        _c(3, "Describe how volcanoes erupt", quality=9),
        _c(4, "List three prime numbers", quality=8),
    ]
    found = select(candidates, max_records=2, diversity=0.7)
    assert _reasons(found) == {1: "not_diverse", 4: "not_selected"}


def test_the_pipeline_runs_passes_in_order_on_what_the_last_one_kept():
    curation = Curation(
        judge={"min_score": 8}, max_records=1, max_seed_similarity=0.8, heuristics={"min_response_words": 2}
    )
    context = pipeline.Context(seeds=[("s1", "Name the largest planet")])
    found = pipeline.run(
        [
            _c(1, "Explain why the sky is blue", "Because of scattering.", quality=9),
            _c(2, "Explain why the sky is blue", "Because of scattering.", quality=9),
            _c(3, "Name the largest planet", "Jupiter is the largest.", quality=10),
            _c(4, "Why do cats purr", "Contentment.", quality=9),
            _c(5, "How do magnets work", "Electron spins align.", quality=3),
            _c(6, "What is rain", "Water falling from clouds.", quality=9),
        ],
        curation,
        context,
    )
    assert _reasons(found) == {
        2: "exact_duplicate",
        3: "similar_to_seed",
        4: "too_short",
        5: "low_quality",
        6: "not_selected",
    }
    assert {r.record_id: r.pass_name for r in found}[3] == "seed_similarity"


@pytest.mark.parametrize(
    ("reply", "score"),
    [("Score: 9\nCorrect.", 9.0), ("score: 7/10 fine", 7.0), ("The response is good.", None), ("**Score:** 3", 3.0)],
)
def test_judge_scores_are_read_from_a_score_line(reply, score):
    if score is None:
        with pytest.raises(ParseFailure):
            parse_score(reply)
    else:
        assert parse_score(reply)[0] == score


def test_a_score_outside_1_to_10_is_a_parse_failure():
    with pytest.raises(ParseFailure, match="outside"):
        parse_score("Score: 11")


def test_default_curation_keeps_templated_tasks_and_removes_their_reworded_copies():
    texts = _word_problems() + _city_facts()
    candidates = [_c(i, t, f"The answer to task {i}.") for i, t in enumerate(texts)]
    copy = _c(100, texts[5].replace("how many apples", "how many apples in all"), "The answer.")
    found = pipeline.run([*candidates, copy], Curation(), pipeline.Context())
    assert [(r.record_id, r.reason, r.matched_id) for r in found] == [(100, "near_duplicate", 5)]


def test_every_pass_takes_an_empty_set():
    assert exact_duplicates([]) == []
    assert near_duplicates([]) == []
    assert near_duplicates(["one text"]) == []
    assert contaminated([], EvalIndex([("e1", "What is the capital of Peru?", "Lima")], n=13)) == []
    assert select([], max_records=5, diversity=0.9) == []
    everything = Curation(
        judge={"min_score": 8},
        max_records=10,
        max_seed_similarity=0.8,
        decontaminate={"datasets": ["evals"]},
    )
    context = pipeline.Context(seeds=[("s1", "Name a planet")], eval_items=[("e1", "Name a planet", "Mars")])
    assert pipeline.run([], everything, context) == []
