"""A version's records streamed in order, a page at a time, on a migrated SQLite database."""

from __future__ import annotations

from sqlalchemy.orm import Session

from distillery.datasets.rows import RecordRow, page_of_records, records_of
from tests.support.training_data import arithmetic, make_dataset, preferences


def _dataset(session: Session, examples, kind: str = "sft") -> str:
    dataset = make_dataset(session, "t1", examples, kind)
    session.flush()  # the stream reads through the connection, past the ORM's autoflush
    return dataset


def test_every_record_streams_once_in_version_order_across_pages(session):
    examples = arithmetic(10)
    dataset = _dataset(session, examples)
    _dataset(session, arithmetic(4, offset=50))  # another version's records stay out
    rows = list(records_of(session, dataset, page=3))
    assert [r.instruction for r in rows] == [e.instruction for e in examples]
    assert [(r.rationale, r.answer) for r in rows] == [(e.rationale, e.answer) for e in examples]
    assert all(type(r) is RecordRow and r.method == "label" and r.input == "" for r in rows)


def test_a_page_is_a_range_of_positions_and_past_the_end_is_empty(session):
    examples = arithmetic(5)
    dataset = _dataset(session, examples)
    page = page_of_records(session, dataset, 2, 2)
    assert [r.instruction for r in page] == [e.instruction for e in examples[2:4]]
    assert [r.instruction for r in page_of_records(session, dataset, 4, 10)] == [examples[4].instruction]
    assert page_of_records(session, dataset, 5, 10) == []
    assert list(records_of(session, "ds_none")) == []


def test_a_preference_record_carries_its_pair(session):
    dataset = _dataset(session, preferences(2), kind="preference")
    first = next(records_of(session, dataset))
    assert first.parsed == {"chosen": "It is 3.", "rejected": "It is 1."}
    assert first.answer == "It is 3." and first.method == "feedback"
