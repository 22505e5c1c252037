from __future__ import annotations

from distillery.curation.normalize import normalize, text_hash
from distillery.datasets.exporters import EXPORTERS, ExportOptions
from distillery.db.models import Record


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


def test_each_sft_format_carries_the_prompt_and_the_answer():
    record = _record(input="x = 1")
    options = ExportOptions(include_rationale=False)
    assert EXPORTERS["prompt-completion"].row(record, options) == {
        "prompt": "What is 2 + 3?\n\nx = 1",
        "completion": "5",
    }
    assert EXPORTERS["sharegpt"].row(record, ExportOptions(include_rationale=False, include_system=True)) == {
        "conversations": [
            {"from": "system", "value": "Think step by step."},
            {"from": "human", "value": "What is 2 + 3?\n\nx = 1"},
            {"from": "gpt", "value": "5"},
        ]
    }


def test_a_dialogue_in_alpaca_keeps_earlier_turns_as_history():
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "2 + 3?"},
        {"role": "assistant", "content": "5"},
    ]
    row = EXPORTERS["alpaca"].row(_record(parsed={"conversation": turns}), ExportOptions())
    assert row == {"instruction": "2 + 3?", "input": "", "output": "5", "history": [["Hi", "Hello"]]}
    pc = EXPORTERS["prompt-completion"].row(_record(parsed={"conversation": turns}), ExportOptions())
    assert pc["prompt"] == turns[:3] and pc["completion"] == turns[3:]


def test_preference_formats_for_trl_and_openai():
    record = _record(parsed={"chosen": "Answer: 5", "rejected": "Answer: 6"})
    conversational = EXPORTERS["dpo"].row(record, ExportOptions(conversational=True))
    assert conversational == {
        "prompt": [{"role": "user", "content": "What is 2 + 3?"}],
        "chosen": [{"role": "assistant", "content": "Answer: 5"}],
        "rejected": [{"role": "assistant", "content": "Answer: 6"}],
    }
    assert EXPORTERS["openai-dpo"].row(record, ExportOptions()) == {
        "input": {"messages": [{"role": "user", "content": "What is 2 + 3?"}]},
        "preferred_output": [{"role": "assistant", "content": "Answer: 5"}],
        "non_preferred_output": [{"role": "assistant", "content": "Answer: 6"}],
    }


def test_a_candidates_dataset_downloads_as_the_lines_of_a_candidates_upload():
    from distillery.schemas.examples import AlpacaRow

    candidates = ["Step 1: 2 + 3 = 5\n\nAnswer: 5", "6"]
    record = _record(parsed={"candidates": candidates, "sources": ["reference", "student"]})
    row = EXPORTERS["candidates"].row(record, ExportOptions())
    assert row == {
        "instruction": "What is 2 + 3?",
        "input": "",
        "output": "5",
        "candidates": candidates,
    }
    assert AlpacaRow.model_validate(row).candidates == row["candidates"]  # it uploads again as it is
    assert EXPORTERS["candidates"].kind == "candidates"


def test_file_writers_round_trip_every_page():
    import gzip
    import io
    import json

    import pyarrow.parquet as pq

    from distillery.datasets.writers import WRITERS

    pages = [[{"a": i, "b": f"é{i}"} for i in range(start, start + 3)] for start in (0, 3)]
    rows = [row for page in pages for row in page]
    jsonl = b"".join(WRITERS["jsonl"][0](pages))
    assert [json.loads(line) for line in jsonl.splitlines()] == rows
    assert gzip.decompress(b"".join(WRITERS["jsonl.gz"][0](pages))) == jsonl
    table = pq.read_table(io.BytesIO(b"".join(WRITERS["parquet"][0](pages))))
    assert table.to_pylist() == rows
    assert pq.ParquetFile(io.BytesIO(b"".join(WRITERS["parquet"][0](pages)))).num_row_groups == 2
