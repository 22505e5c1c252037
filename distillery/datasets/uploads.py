"""Uploaded files become dataset versions: training data (sft, preference) in any format
we export, seeds for jobs, eval sets for decontamination, candidate responses for feedback.

A file holds rows of one shape (distillery/schemas/examples.py), known by the first row's
fields. Every row is checked first; one bad row means nothing is imported, and the answer
names each bad row, its field and its problem. The dataset's kind is the purpose given,
else the file's: preference pairs, candidates, rows that all have a reply (sft), or seeds.
"""

from __future__ import annotations

from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.orm import Session

from distillery.curation.record_text import split_completion
from distillery.datasets import build, stats
from distillery.datasets.upload_files import RawRow, rows
from distillery.db.models import Dataset, Record
from distillery.errors import InvalidSpec, InvalidUpload
from distillery.schemas.base import problem_of
from distillery.schemas.datasets import UploadProblem, UploadPurpose
from distillery.schemas.examples import ACCEPTED_SHAPES, Example, RowProblem, Shape, field_path, shape_of
from distillery.schemas.status import RecordStatus

MAX_PROBLEMS = 100
_BATCH = 5000


def _fields(value: dict[str, Any]) -> str:
    names = [str(k)[:40] for k in list(value)[:10]]
    return ", ".join(names) + (", ..." if len(value) > 10 else "") if names else "none"


class _Reader:
    """The rows of one file, read as examples of the file's one shape."""

    def __init__(self) -> None:
        self.shape: type[Shape] | None = None
        self.first = 0

    def read(self, row: RawRow) -> tuple[Example | None, list[UploadProblem]]:
        number = row.number
        if row.problem is not None:
            return None, [_problem(number, "line", row.problem)]
        if not isinstance(row.value, dict):
            return None, [_problem(number, "line", "must be a JSON object")]
        shape = shape_of(row.value)
        if shape is None:
            seen = f"fields seen: {_fields(row.value)}; the shapes read are {ACCEPTED_SHAPES}"
            return None, [_problem(number, "line", f"not a row of a known format ({seen})")]
        if self.shape is None:
            self.shape, self.first = shape, number
        elif shape is not self.shape:
            problem = (
                f"a {shape.format} row (fields: {_fields(row.value)}) in a file of {self.shape.format} rows"
                f" (from row {self.first}); one format per file"
            )
            return None, [_problem(number, "line", problem)]
        try:
            return shape.model_validate(row.value).example(), []
        except ValidationError as exc:
            return None, [_validation_problem(number, e) for e in exc.errors(include_url=False, include_input=False)]
        except RowProblem as exc:
            return None, [_problem(number, exc.field, exc.problem)]


def _problem(number: int, field: str, problem: str) -> UploadProblem:
    return UploadProblem(line=number, field=field, problem=problem)


def _validation_problem(number: int, error: Any) -> UploadProblem:
    field, problem = problem_of(error)
    return _problem(number, field_path(field.split(".")) or "line", problem)


def _kind(shape: type[Shape], examples: list[tuple[int, Example]]) -> str:
    """The kind a file makes when no purpose is given."""
    if shape.preference:
        return "preference"
    if any(e.candidates is not None for _, e in examples):
        return "candidates"
    return "sft" if all(e.has_reply for _, e in examples) else "seeds"


def _fits(number: int, example: Example, shape: type[Shape], kind: str) -> list[UploadProblem]:
    """What is wrong with a row for a dataset of `kind`."""
    if kind == "candidates" and not example.candidates:
        return [_problem(number, "candidates", "a candidates file needs `candidates`")]
    if kind != "candidates" and example.candidates is not None:
        return [_problem(number, "candidates", f"only a candidates file takes `candidates`, not a {kind} file")]
    if kind == "sft" and not example.has_reply:
        return [_problem(number, shape.reply_field, "an sft dataset needs each row's response")]
    return []


def upload(
    session: Session, tenant_id: str, name: str, purpose: UploadPurpose | None, file: IO[bytes], max_bytes: int
) -> Dataset:
    reader = _Reader()
    examples: list[tuple[int, Example]] = []
    problems: list[UploadProblem] = []
    bad: list[int] = []
    for row in rows(file, max_bytes):
        example, found = reader.read(row)
        if found:
            bad.append(row.number)
            problems += found[: MAX_PROBLEMS - len(problems)]
        elif example is not None:
            examples.append((row.number, example))
    shape = reader.shape
    if shape is None and not bad:
        raise InvalidSpec("file", "the file has no rows")
    kind = purpose or (_kind(shape, examples) if shape is not None else "seeds")
    if shape is not None and not bad:
        if shape.preference and kind != "preference":
            raise InvalidSpec("purpose", f"{shape.format} rows are preference pairs: upload them as 'preference'")
        if kind == "preference" and not shape.preference:
            raise InvalidSpec("purpose", f"a preference dataset is made of dpo or openai-dpo rows, not {shape.format}")
        for number, example in examples:
            found = _fits(number, example, shape, kind)
            if found:
                bad.append(number)
                problems += found[: MAX_PROBLEMS - len(problems)]
    if bad or shape is None:
        first = problems[0]
        shown = f"row {first.line}: {first.field}: {first.problem}"
        details = [p.model_dump() for p in problems]
        raise InvalidUpload(f"{len(bad)} bad rows (first: {shown}); nothing was imported", details)
    ids: list[int] = []
    for start in range(0, len(examples), _BATCH):
        batch = [_record(number, example, kind) for number, example in examples[start : start + _BATCH]]
        ids += session.scalars(insert(Record).returning(Record.id, sort_by_parameter_order=True), batch).all()
    source = {"type": "upload", "purpose": kind, "format": shape.format, "lines": len(examples)}
    dataset = build.new_version(session, tenant_id, name, kind, [source])
    build.add_records(session, dataset, ids)
    dataset.stats = stats.compute(session, dataset)
    return dataset


def _record(number: int, example: Example, kind: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    rationale, answer = None, example.response
    if example.turns:
        parsed["conversation"] = [{"role": m.role, "content": m.content} for m in example.turns]
    elif example.response is not None:
        rationale, answer = split_completion(example.response)
    if example.chosen is not None:
        parsed.update(chosen=example.chosen, rejected=example.rejected)
        answer = example.chosen  # as a feedback job's pair: its answer is the chosen response
    if example.candidates:
        parsed["candidates"] = list(example.candidates)
    return {
        "ordinal": number,
        "method": "upload",
        "step": kind,
        "seed_ids": [example.id or f"line:{number}"],
        "instruction": example.instruction,
        "input": example.input,
        "system_prompt": example.system,
        "messages": [],
        "parsed": parsed,
        "rationale": rationale,
        "answer": answer,
        "scores": {},
        "status": RecordStatus.ACCEPTED,
    }
