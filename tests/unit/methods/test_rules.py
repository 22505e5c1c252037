"""The pure rules the elicitation methods apply: filters, parsers, chunking, similarity."""

from __future__ import annotations

import json
import random

import pytest

from distillery.curation.heuristics import is_contentless, is_refusal
from distillery.curation.similarity import SimilarityIndex, banding, rouge_l, tokens
from distillery.methods.evol import parse_verdict
from distillery.methods.feedback import ASPECTS, parse_preference, parse_ratings
from distillery.methods.from_sources import chunks, parse_support
from distillery.methods.self_instruct.propose import parse_tasks, task_problem
from distillery.prompts.parse import ParseFailure
from distillery.prompts.render import SAMPLE_CONTEXT, check_override, names, render


def test_rouge_l_f1_matches_the_longest_common_subsequence():
    assert rouge_l(tokens("the cat sat on the mat"), tokens("the cat sat on the mat")) == 1.0
    # LCS "the cat the mat" = 4 of 6 words each side.
    assert rouge_l(tokens("the cat sat on the mat"), tokens("the cat lay under the mat")) == pytest.approx(4 / 6)
    assert rouge_l([], tokens("anything")) == 0.0


def test_the_index_finds_every_pair_at_or_above_the_threshold_that_brute_force_finds():
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(rng.choices(words, k=rng.randint(5, 12))) for _ in range(300)]
    # Plant near copies: one word changed.
    for i in range(0, 300, 10):
        parts = texts[i].split()
        parts[rng.randrange(len(parts))] = "changed"
        texts.append(" ".join(parts))
    index = SimilarityIndex(0.7)
    for text in texts:
        expected = any(rouge_l(tokens(text), tokens(other)) >= 0.7 for other in texts[: texts.index(text)])
        found = index.closest(text)
        assert (found is not None) == expected, text
        if found is None:
            index.add(text)
        else:
            assert found.score >= 0.7


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        ("Add two numbers", "length"),
        ("Draw a picture of a happy dog for me", "unsupported_modality"),
        ("Plot the growth of this series over ten years", "unsupported_modality"),
        ("- Give three reasons to learn algebra", "starts_with_punctuation"),
        ("Explain the café menu in plain words", "non_ascii"),
        ("Write a program that sorts a list", "program_task"),
        (" ".join(["word"] * 151), "length"),
    ],
)
def test_self_instruct_filters_name_their_reason(task, reason):
    assert task_problem(task)[0] == reason


def test_a_good_task_passes_and_task_lists_parse_from_json_or_markdown():
    assert task_problem("Explain why the sky looks blue at noon") is None
    tasks = parse_tasks('Here: [{"instruction": "Sum 2 and 3", "input": ""}, "Name a prime above 10"]')
    assert tasks == [{"instruction": "Sum 2 and 3", "input": ""}, {"instruction": "Name a prime above 10", "input": ""}]
    assert [t["instruction"] for t in parse_tasks("1. Sum 2 and 3\n2. Name a prime")] == ["Sum 2 and 3", "Name a prime"]
    for unusable in ("", "   ", "I have no new ideas right now.", "[]", '[{"instruction": "Sum 2 and'):
        with pytest.raises(ParseFailure):
            parse_tasks(unusable)


def test_verdict_parsers_accept_exact_words_only():
    assert parse_verdict("Equal") is True and parse_verdict("Not Equal.") is False
    assert parse_support("SUPPORTED\nIt says so.") is True and parse_support("UNSUPPORTED: no") is False
    assert parse_preference("B is clearer.\n[[B]]") == "B"
    for parser, text in [(parse_verdict, "Maybe"), (parse_support, "Yes"), (parse_preference, "A wins")]:
        with pytest.raises(ParseFailure):
            parser(text)


def test_ratings_need_all_four_aspects_in_range():
    good = {a: {"rating": 4, "rationale": "ok"} for a in ASPECTS}
    assert parse_ratings(json.dumps(good))["honesty"]["rating"] == 4
    with pytest.raises(ParseFailure):
        parse_ratings(json.dumps({**good, "honesty": {"rating": 6}}))
    with pytest.raises(ParseFailure):
        parse_ratings(json.dumps({"helpfulness": {"rating": 3}}))


def test_chunks_cover_the_text_and_cut_at_sentence_ends():
    text = " ".join(f"Sentence number {i} is here." for i in range(100))
    spans = chunks(text, 300)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(end - start <= 300 for start, end in spans)
    assert all(text[start:end].rstrip().endswith(".") for start, end in spans)


def test_refusals_and_contentless_answers():
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("As an AI language model, I cannot do that.")
    assert not is_refusal("The answer is 42 because 6 times 7 is 42.")
    assert is_contentless("... and the, of it!") and not is_contentless("Paris.")


def test_every_template_renders_with_the_sample_context():
    for name in names():
        prompt = render(name, **SAMPLE_CONTEXT)
        assert prompt.messages[-1]["role"] == "user" and prompt.messages[-1]["content"]


def test_overrides_are_checked_for_names_variables_syntax_and_sandbox():
    assert check_override("label", "Please answer: {{ instruction }}") is None
    assert "no template named" in check_override("nope", "x")
    assert "unknown variable 'question'" in check_override("label", "{{ question }}")
    assert "syntax error" in check_override("label", "{% if %}")
    assert "sandbox" in check_override("label", "{{ instruction.__class__ }}")
    assert "fails to render" in check_override("label", "{{ instruction }} {{ 1 / 0 }}")


def test_structured_outputs_are_asked_for_only_where_they_fit():
    from types import SimpleNamespace

    from distillery.methods.answering import response_format
    from distillery.methods.base import JobContext
    from distillery.schemas.job_specs import LabelJob

    schema = {"type": "object", "properties": {"x": {"type": "number"}}}

    def job(**skill):
        base = {"name": "s", "reasoning": "none", "output_format": "json", "output_schema": schema}
        body = {"name": "j", "teacher": "t", "method": "label", "seeds": [{"instruction": "q"}]}
        spec = LabelJob.model_validate({**body, "skill": {**base, **skill}})
        return JobContext(job_id="j", spec=spec)

    able = SimpleNamespace(endpoint=SimpleNamespace(structured_outputs=True))
    unable = SimpleNamespace(endpoint=SimpleNamespace(structured_outputs=False))
    assert response_format(job(), able) == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    assert response_format(job(), unable) is None
    assert response_format(job(reasoning="cot"), able) is None  # the reply carries reasoning, not bare JSON
    assert response_format(job(output_schema={"type": "array"}), able) is None  # the API takes object roots only


@pytest.mark.parametrize(
    "text",
    [
        '{% for a in "x" * 90000 %}{% for b in "x" * 90000 %}{% endfor %}{% endfor %}',  # would run for hours
        "{% block user %}{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}{% endblock %}",  # endless recursion
        '{{ "x" * 10 ** 8 }}',  # a 100 MB prompt
        "{{ 2 ** 100000 }}",
    ],
)
def test_a_template_that_would_tie_up_a_worker_is_refused(text):
    assert "fails to render" in check_override("label", text)


def test_an_override_of_the_system_block_alone_keeps_the_task():
    prompt = render("label", {"label": "{% block system %}You are terse.{% endblock %}"}, **SAMPLE_CONTEXT)
    assert prompt.messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": SAMPLE_CONTEXT["instruction"]},
    ]


def test_an_override_is_checked_against_the_jobs_own_data():
    text = "{{ output_schema.properties.keys() | join(',') }} {{ instruction }}"
    assert check_override("label", text, [{"output_schema": {"type": "object", "properties": {"x": {}}}}]) is None
    assert "fails to render" in check_override("label", text, [{"output_schema": {"type": "integer"}}])


@pytest.mark.parametrize("threshold", [0.4, 0.7, 0.9])
def test_the_banding_catches_pairs_at_the_jaccard_floor_of_any_threshold(threshold):
    bands, rows = banding(threshold)
    floor = threshold / (2 - threshold)
    assert bands * rows <= 256 and 1 - (1 - floor**rows) ** bands >= 0.99


def test_the_non_ascii_rule_is_for_english_skills_only():
    assert task_problem("Explique la différence entre deux méthodes")[0] == "non_ascii"
    assert task_problem("Explique la différence entre deux méthodes", ascii_only=False) is None
