from __future__ import annotations

import pytest

from distillery.prompts.parse import ParseFailure, parse_reply


def test_cot_reply_splits_rationale_from_the_last_answer_line():
    parsed = parse_reply("Step 1: 2 + 3 = 5\nAnswer: 4 is wrong\nStep 2: check\nFinal answer: **5**", reasoning="cot")
    assert parsed.answer == "5"
    assert parsed.rationale == "Step 1: 2 + 3 = 5\nAnswer: 4 is wrong\nStep 2: check"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty_reply"),
        ("I think it is 5.", "missing_answer"),
        ("Answer: 5", "missing_rationale"),
    ],
)
def test_unusable_cot_replies_name_their_reason(text, reason):
    with pytest.raises(ParseFailure) as failure:
        parse_reply(text, reasoning="cot")
    assert failure.value.reason == reason


def test_plain_reply_is_the_answer():
    assert parse_reply("  42\n", reasoning="none").answer == "42"


def test_json_answers_are_decoded_and_checked_against_the_schema():
    schema = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["pos", "neg"]}}}
    parsed = parse_reply(
        'Reasoning.\nAnswer: {"label": "pos"}', reasoning="cot", output_format="json", output_schema=schema
    )
    assert parsed.value == {"label": "pos"}
    with pytest.raises(ParseFailure) as failure:
        parse_reply('{"label": "meh"}', reasoning="none", output_format="json", output_schema=schema)
    assert failure.value.reason == "schema_mismatch"
    with pytest.raises(ParseFailure) as failure:
        parse_reply("{label: pos}", reasoning="none", output_format="json")
    assert failure.value.reason == "invalid_json"
