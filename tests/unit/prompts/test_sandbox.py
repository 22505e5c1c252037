"""What a job's own template may cost: attacks refused before they run, ordinary templates
unaffected, and a failure on one item's data a TemplateError the worker records."""

from __future__ import annotations

import pytest
from jinja2 import TemplateError

from distillery.errors import InvalidSpec
from distillery.prompts.render import SAMPLE_CONTEXT, check_override, check_overrides, render
from distillery.prompts.sandbox import MAX_VALUE, TemplateTooCostly
from distillery.schemas.jobs import JobCreate
from tests.support.template_payloads import PAYLOADS


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_an_attackers_template_is_refused_at_submission(name):
    assert check_override("label", PAYLOADS[name]) is not None


def test_an_ordinary_template_with_loops_macros_and_filters_still_renders():
    text = (
        "{% macro item(n, text) %}{{ n }}. {{ text | trim | truncate(50) }}{% endmacro %}"
        "{% set ns = namespace(total=0) %}"
        "{% for i in range(3) %}{% set ns.total = ns.total + i %}{{ item(loop.index, instruction) }}\n{% endfor %}"
        "{{ '%-6s|' | format('ok') }}{{ '{:>4}'.format(ns.total) }} {{ ['a', 'b'] | join(', ') }}"
        " {{ 2 ** 10 }} {{ '-' * 3 }} {{ instruction | wordwrap(20) | indent(2) }}"
    )
    assert check_override("label", text) is None
    content = render("label", {"label": text}, **SAMPLE_CONTEXT).messages[-1]["content"]
    assert content.startswith("1. What is 2 + 3?\n2. What is 2 + 3?") and "ok    |   3 a, b 1024 ---" in content


def test_a_template_that_explodes_on_one_items_data_raises_a_template_error():
    text = "{% if 'boom' in input %}{{ 'x' * 10 ** 9 }}{% endif %}{{ instruction }}"
    assert render("label", {"label": text}, **SAMPLE_CONTEXT).messages[-1]["content"] == "What is 2 + 3?"
    with pytest.raises(TemplateTooCostly):
        render("label", {"label": text}, **{**SAMPLE_CONTEXT, "input": "boom"})


def test_any_error_of_a_jobs_template_is_a_template_error_but_a_built_in_ones_is_not():
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("label", {"label": "{{ 1 // (input | length) }}"}, **SAMPLE_CONTEXT)


def test_the_rendered_prompt_is_cut_off_once_too_long():
    text = "{% for i in range(1000) %}{{ 'y' * 1000 }}{% endfor %}"
    with pytest.raises(TemplateTooCostly, match="longer than"):
        render("label", {"label": text}, **SAMPLE_CONTEXT)
    assert MAX_VALUE > 200_000


def test_submission_tries_the_template_on_the_first_last_and_spread_seeds():
    seeds = [{"instruction": f"q{i}"} for i in range(1000)]
    spec = JobCreate.model_validate(
        {"name": "j", "teacher": "t", "method": "label", "skill": {"name": "s"}, "seeds": seeds}
    )
    tried = [c["instruction"] for c in spec.template_contexts()]
    assert tried[0] == "q0" and tried[-1] == "q999" and len(tried) == 22 and "q476" in tried

    text = "{% if instruction == 'q999' %}{{ 2 ** 100000 }}{% endif %}{{ instruction }}"
    with pytest.raises(InvalidSpec) as refused:
        check_overrides({"label": text}, spec.template_contexts())
    assert refused.value.details == [{"field": "templates.label", "problem": refused.value.details[0]["problem"]}]
    assert "4096 bits" in refused.value.message
