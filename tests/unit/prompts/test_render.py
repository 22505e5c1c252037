from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from distillery.prompts.render import render

CONTEXT = {
    "system_prompt": None,
    "reasoning": "cot",
    "skill_name": "arithmetic",
    "skill_description": "Evaluate exactly.",
    "output_format": "text",
    "output_schema": None,
    "instruction": "What is 2 + 3?",
    "input": "",
}


def test_cot_label_prompt_asks_for_steps_and_a_final_answer_line():
    prompt = render("label", **CONTEXT)
    system, user = prompt.messages
    assert system["role"] == "system" and "step by step" in system["content"]
    assert '"Answer: <final answer>"' in system["content"] and "Evaluate exactly." in system["content"]
    assert user == {"role": "user", "content": "What is 2 + 3?"}
    assert prompt.template_name == "label" and len(prompt.template_version) == 12


def test_a_skill_system_prompt_replaces_the_default_and_input_is_appended():
    prompt = render("label", **{**CONTEXT, "system_prompt": "You are terse.", "reasoning": "none", "input": "x = 2"})
    assert prompt.system is not None and prompt.system.startswith("You are terse.")
    assert "step by step" not in prompt.system
    assert prompt.messages[1]["content"] == "What is 2 + 3?\n\nInput:\nx = 2"


def test_a_missing_variable_is_an_error_not_an_empty_string():
    context = dict(CONTEXT)
    del context["instruction"]
    with pytest.raises(UndefinedError):
        render("label", **context)
