"""The row viewer's reads: a page of a version's rows, typed for review, filtered by text,
score, flag and (for the records curation kept out) reject reason.

Kept rows come in the version's order (position); rejected ones by record id. Every read
starts from the tenant's own version, so another tenant's rows are simply not found.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from sqlalchemy import ColumnElement, Select, and_, func, null, or_, select
from sqlalchemy.orm import Session

from distillery.curation.candidates import SCORE_KEYS, score_of
from distillery.curation.record_text import prompt_text, response_text
from distillery.datasets import queries
from distillery.db.models import DatasetFlag, DatasetRecord, DatasetRejection, Record
from distillery.errors import InvalidSpec
from distillery.schemas.datasets import (
    AspectRating,
    DatasetRowOut,
    PreferenceOut,
    PreferenceSide,
    RowFilters,
    RowRejection,
    RowView,
)


def _check(where: RowFilters) -> None:
    if where.reason is not None and where.view != "rejected":
        raise InvalidSpec("reason", "filters the records curation kept out: add view=rejected")
    if where.min_score is not None and where.max_score is not None and where.min_score > where.max_score:
        raise InvalidSpec("min_score", f"{where.min_score:g} is above max_score {where.max_score:g}")


# score_of in SQL: the first of SCORE_KEYS the record has. Null when it has none, so
# a score filter passes over unscored rows instead of counting them as 0.
_score = func.coalesce(*(Record.scores[key].as_float() for key in SCORE_KEYS))

_COLUMNS = (
    Record.id,
    Record.method,
    Record.instruction,
    Record.input,
    Record.rationale,
    Record.answer,
    Record.parsed,
    Record.scores,
    DatasetFlag.record_id.label("flag"),
    DatasetFlag.note,
)
_SEARCHED = (Record.instruction, Record.input, Record.rationale, Record.answer)


def rows(
    session: Session, tenant_id: str, dataset_id: str, where: RowFilters, limit: int, offset: int
) -> list[DatasetRowOut]:
    _check(where)
    dataset = queries.get(session, tenant_id, dataset_id)
    flag = and_(DatasetFlag.dataset_id == dataset.id, DatasetFlag.record_id == Record.id)
    stmt: Select[Any]
    if where.view == "kept":
        stmt = (
            select(*_COLUMNS, DatasetRecord.position)
            .select_from(DatasetRecord)
            .join(Record, Record.id == DatasetRecord.record_id)
            .where(DatasetRecord.dataset_id == dataset.id)
            .order_by(DatasetRecord.position)
        )
    else:
        rejection = (
            DatasetRejection.pass_name,
            DatasetRejection.reason,
            DatasetRejection.detail,
            DatasetRejection.matched_record_id,
        )
        stmt = (
            select(*_COLUMNS, null().label("position"), *rejection)
            .select_from(DatasetRejection)
            .join(Record, Record.id == DatasetRejection.record_id)
            .where(DatasetRejection.dataset_id == dataset.id)
            .order_by(DatasetRejection.record_id)
        )
        if where.reason is not None:
            stmt = stmt.where(DatasetRejection.reason == where.reason)
    stmt = stmt.outerjoin(DatasetFlag, flag)
    for condition in _conditions(where):
        stmt = stmt.where(condition)
    return [_row(r, where.view) for r in session.execute(stmt.limit(limit).offset(offset))]


def _conditions(where: RowFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.q:
        conditions.append(or_(*(column.icontains(where.q, autoescape=True) for column in _SEARCHED)))
    if where.min_score is not None:
        conditions.append(_score >= where.min_score)
    if where.max_score is not None:
        conditions.append(_score <= where.max_score)
    if where.flagged is not None:
        conditions.append(DatasetFlag.record_id.is_not(None) if where.flagged else DatasetFlag.record_id.is_(None))
    return conditions


def _row(r: Any, view: RowView) -> DatasetRowOut:
    parsed = r.parsed or {}
    scores = r.scores or {}
    return DatasetRowOut(
        record_id=r.id,
        position=r.position,
        method=r.method,
        prompt=prompt_text(r),
        response=response_text(r),
        score=score_of(scores),
        scores=scores,
        judge_rationale=parsed.get("quality_rationale"),
        preference=_preference(parsed, scores),
        rejection=(
            RowRejection(pass_name=r.pass_name, reason=r.reason, detail=r.detail, matched_record_id=r.matched_record_id)
            if view == "rejected"
            else None
        ),
        flagged=r.flag is not None,
        note=r.note,
    )


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _preference(parsed: dict[str, Any], scores: dict[str, Any]) -> PreferenceOut | None:
    """A pair as the feedback method leaves it: chosen and rejected texts, and among its
    candidates each one's score, source and (rating mode) per-aspect ratings with rationale."""
    if not isinstance(parsed.get("chosen"), str) or not isinstance(parsed.get("rejected"), str):
        return None
    candidates = {c["response"]: c for c in parsed.get("candidates") or [] if isinstance(c, dict) and "response" in c}

    def side(name: str) -> PreferenceSide:
        text = parsed[name]
        candidate = candidates.get(text, {})
        ratings = candidate.get("ratings") or {}
        score = candidate.get("score", scores.get(name))
        return PreferenceSide(
            response=text,
            score=float(score) if _number(score) else None,
            source=candidate.get("source"),
            ratings=[
                AspectRating(aspect=aspect, rating=float(r["rating"]), rationale=str(r.get("rationale", "")))
                for aspect, r in ratings.items()
                if isinstance(r, dict) and _number(r.get("rating"))
            ],
        )

    margin = scores.get("margin")
    return PreferenceOut(
        judge_mode=parsed.get("judge_mode"),
        margin=float(margin) if _number(margin) else None,
        chosen=side("chosen"),
        rejected=side("rejected"),
    )
