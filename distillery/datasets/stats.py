"""A version's stats, computed once when it is made: counts, rejections by pass and reason,
length and score distributions, teachers, templates, methods, splits and cost."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distillery.curation.record_text import response_text
from distillery.datasets.splits import EVAL_FRACTION, split_of
from distillery.db.models import Dataset, DatasetRecord, DatasetRejection, Record
from distillery.ledger import counters
from distillery.schemas.status import RecordStatus

_WORD = re.compile(r"\w+")
# Word-count histogram edges: short instructions to long CoT answers.
EDGES = (0, 10, 25, 50, 100, 250, 500, 1000, 2500)


def _bucket(n: int) -> str:
    lower = max(e for e in EDGES if e <= n)
    upper = next((e for e in EDGES if e > n), None)
    return f"{lower}-{upper - 1}" if upper is not None else f"{lower}+"


def _distribution(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    histogram = Counter(_bucket(v) for v in values)
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 1),
        "p50": ordered[len(ordered) // 2],
        "p90": ordered[int(len(ordered) * 0.9)],
        "max": ordered[-1],
        "histogram": {_bucket(e): histogram[_bucket(e)] for e in EDGES if histogram[_bucket(e)]},
    }


def compute(session: Session, dataset: Dataset) -> dict[str, Any]:
    words: dict[str, list[int]] = {"prompt": [], "response": []}
    scores: dict[str, list[float]] = {}
    teachers: Counter[str] = Counter()
    templates: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    splits: Counter[str] = Counter()
    jobs: set[str] = set()
    rows = session.execute(
        select(
            Record.instruction,
            Record.input,
            Record.rationale,
            Record.answer,
            Record.parsed,
            Record.scores,
            Record.teacher_name,
            Record.template_name,
            Record.method,
            Record.job_id,
        )
        .join(DatasetRecord, DatasetRecord.record_id == Record.id)
        .where(DatasetRecord.dataset_id == dataset.id)
        .execution_options(yield_per=5000)
    )
    for row in rows:
        words["prompt"].append(len(_WORD.findall(row.instruction)) + len(_WORD.findall(row.input)))
        words["response"].append(len(_WORD.findall(response_text(row))))
        for name, value in (row.scores or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                scores.setdefault(name, []).append(float(value))
        teachers[row.teacher_name or "none"] += 1
        templates[row.template_name or "none"] += 1
        methods[row.method] += 1
        splits[split_of(row.instruction, row.input, EVAL_FRACTION)] += 1
        if row.job_id:
            jobs.add(row.job_id)
    rejected = session.execute(
        select(DatasetRejection.pass_name, DatasetRejection.reason, func.count())
        .where(DatasetRejection.dataset_id == dataset.id)
        .group_by(DatasetRejection.pass_name, DatasetRejection.reason)
    ).all()
    by_pass: dict[str, dict[str, int]] = {}
    for pass_name, reason, n in rejected:
        by_pass.setdefault(pass_name, {})[reason] = n
    if dataset.job_id is not None and dataset.parent_id is None:
        # A job's own version: every record the job did not accept, by reason (the curation
        # passes' rejections are marked on the job's records too).
        reasons: Counter[str | None] = Counter(
            dict(
                session.execute(
                    select(Record.reject_reason, func.count())
                    .where(Record.job_id == dataset.job_id, Record.status != RecordStatus.ACCEPTED)
                    .group_by(Record.reject_reason)
                ).all()
            )
        )
    else:
        reasons = Counter()
        for _, reason, n in rejected:
            reasons[reason] += n
    spent = counters.totals(session, list(jobs))
    cost = sum((c.cost_usd for c in spent.values()), Decimal(0))
    requests = sum(c.requests for c in spent.values())
    return {
        "records": dataset.record_count,
        "reject_reasons": {reason or "unknown": n for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])},
        "curation": by_pass,
        "words": {name: _distribution(values) for name, values in words.items()},
        "scores": {name: _score_distribution(values) for name, values in sorted(scores.items())},
        "teachers": dict(teachers.most_common()),
        "templates": dict(templates.most_common()),
        "methods": dict(methods.most_common()),
        "splits": {"eval_fraction": EVAL_FRACTION, "train": splits["train"], "eval": splits["eval"]},
        "jobs": len(jobs),
        "teacher_requests": int(requests or 0),
        "cost_usd": float(cost or 0),
    }


def _score_distribution(values: list[float]) -> dict[str, Any]:
    # Scores are 1-10 ratings, 0-1 agreements or margins: one decimal is fine-grained enough.
    histogram = Counter(f"{round(v, 1):g}" for v in values)
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 3),
        "min": min(values),
        "max": max(values),
        "histogram": dict(sorted(histogram.items(), key=lambda kv: float(kv[0]))),
    }
