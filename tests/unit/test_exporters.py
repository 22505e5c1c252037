from __future__ import annotations

from app.curation.normalize import normalize, text_hash
from app.datasets.exporters import EXPORTERS, ExportOptions
from app.db.models import Record


def _record(**fields) -> Record:
    base = {
        "instruction": "What is 2 + 3?",
        "input": "",
        "rationale": "Step 1: 2 + 3 = 5",
        "answer": "5",
        "system_prompt": "Think step by step.",
        "parsed": {},
    }
    return Record(**{**base, **fields})


def test_openai_chat_erases_the_system_prompt_and_keeps_the_rationale_by_default():
    row = EXPORTERS["openai-chat"].row(_record(), ExportOptions())
    assert row == {
        "messages": [
            {"role": "user", "content": "What is 2 + 3?"},
            {"role": "assistant", "content": "Step 1: 2 + 3 = 5\n\nAnswer: 5"},
        ]
    }


def test_openai_chat_options():
    row = EXPORTERS["openai-chat"].row(_record(), ExportOptions(include_rationale=False, include_system=True))
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
    assert row["messages"][2]["content"] == "5"


def test_alpaca_keeps_input_apart():
    row = EXPORTERS["alpaca"].row(_record(input="x = 1"), ExportOptions(include_rationale=False))
    assert row == {"instruction": "What is 2 + 3?", "input": "x = 1", "output": "5"}


def test_normalisation_ignores_case_punctuation_and_spacing():
    assert normalize("  What IS 3*7?\n") == "what is 3 7"
    assert text_hash("What is 3 * 7?", "") == text_hash("what is 3*7", "")
    assert text_hash("a", "b") != text_hash("a b", "")


def test_a_dialogue_exports_every_turn():
    turns = [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "And times 4?"},
        {"role": "assistant", "content": "20"},
    ]
    row = EXPORTERS["openai-chat"].row(_record(parsed={"conversation": turns}), ExportOptions())
    assert row == {"messages": turns}


def test_dpo_rows_are_prompt_chosen_rejected():
    record = _record(parsed={"chosen": "Answer: 5", "rejected": "Answer: 6"})
    assert EXPORTERS["dpo"].row(record, ExportOptions()) == {
        "prompt": "What is 2 + 3?",
        "chosen": "Answer: 5",
        "rejected": "Answer: 6",
    }
