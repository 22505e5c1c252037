"""Uploaded JSONL files become dataset versions: seeds for jobs, eval sets for
decontamination, candidate responses for feedback. Every line is checked first; one bad
line means nothing is imported, and the answer names each bad line and its problem."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert
from sqlalchemy.orm import Session

from distillery.datasets import build, stats
from distillery.db.models import Dataset, Record
from distillery.errors import InvalidSpec, InvalidUpload
from distillery.schemas.base import MAX_DEPTH, InputProblem
from distillery.schemas.datasets import UploadLine, UploadPurpose
from distillery.schemas.status import RecordStatus

MAX_PROBLEMS = 100
_BATCH = 5000


def _problems(number: int, raw: bytes, purpose: UploadPurpose) -> tuple[UploadLine | None, list[dict[str, Any]]]:
    try:
        value = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        return None, [{"line": number, "field": "line", "problem": f"not valid JSON: {exc}"[:300]}]
    except RecursionError:  # nested thousands deep: the parser gives up
        return None, [{"line": number, "field": "line", "problem": f"nested deeper than {MAX_DEPTH} levels"}]
    if not isinstance(value, dict):
        return None, [{"line": number, "field": "line", "problem": "must be a JSON object"}]
    try:
        line = UploadLine.model_validate(value)
    except ValidationError as exc:
        return None, [_problem(number, e) for e in exc.errors()]
    if purpose == "candidates" and not line.candidates:
        return None, [{"line": number, "field": "candidates", "problem": "a candidates file needs `candidates`"}]
    if purpose != "candidates" and line.candidates is not None:
        problem = f"only a candidates file takes `candidates`, not a {purpose} file"
        return None, [{"line": number, "field": "candidates", "problem": problem}]
    return line, []


def _problem(number: int, error: Any) -> dict[str, Any]:
    raw = (error.get("ctx") or {}).get("error")
    if isinstance(raw, InputProblem):  # found in the raw line: it names its own field
        return {"line": number, "field": raw.field or "line", "problem": str(raw).removeprefix(f"{raw.field}: ")}
    return {"line": number, "field": ".".join(str(p) for p in error["loc"]) or "line", "problem": error["msg"]}


def upload(session: Session, tenant_id: str, name: str, purpose: UploadPurpose, lines: Iterable[bytes]) -> Dataset:
    parsed: list[tuple[int, UploadLine]] = []
    problems: list[dict[str, Any]] = []
    bad = 0
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        line, found = _problems(number, raw, purpose)
        if found:
            bad += 1
            problems += found[: MAX_PROBLEMS - len(problems)]
        elif line is not None:
            parsed.append((number, line))
    if bad:
        shown = ", ".join(str(p["line"]) for p in problems[:10])
        raise InvalidUpload(f"{bad} bad lines (first: {shown}); nothing was imported", problems)
    if not parsed:
        raise InvalidSpec("file", "the file has no lines")
    ids: list[int] = []
    for start in range(0, len(parsed), _BATCH):
        rows = [_record(number, line, purpose) for number, line in parsed[start : start + _BATCH]]
        ids += session.scalars(insert(Record).returning(Record.id, sort_by_parameter_order=True), rows).all()
    dataset = build.new_version(
        session, tenant_id, name, purpose, [{"type": "upload", "purpose": purpose, "lines": len(parsed)}]
    )
    build.add_records(session, dataset, ids)
    dataset.stats = stats.compute(session, dataset)
    return dataset


def _record(number: int, line: UploadLine, purpose: str) -> dict[str, Any]:
    return {
        "ordinal": number,
        "method": "upload",
        "step": purpose,
        "seed_ids": [line.id or f"line:{number}"],
        "instruction": line.instruction,
        "input": line.input,
        "messages": [],
        "parsed": {"candidates": line.candidates} if line.candidates else {},
        "answer": line.output,
        "scores": {},
        "status": RecordStatus.ACCEPTED,
    }
