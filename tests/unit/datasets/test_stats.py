"""A version's stats measure each record's response as curation does."""

from __future__ import annotations

from sqlalchemy import select

from distillery.datasets import stats
from distillery.db.models import Dataset, DatasetRecord, Record
from tests.support.training_data import Example, make_dataset


def test_response_words_count_the_rationale_and_every_assistant_turn(session):
    dataset_id = make_dataset(
        session, "t1", [Example("Add two and three", "5", "Two and three make five"), Example("Say hi", "Hello there")]
    )
    session.flush()
    dialogue = session.scalars(
        select(Record).join(DatasetRecord).where(DatasetRecord.dataset_id == dataset_id, DatasetRecord.position == 1)
    ).one()
    dialogue.parsed = {
        "conversation": [
            {"role": "user", "content": "Say hi"},
            {"role": "assistant", "content": "Hello there"},
            {"role": "user", "content": "And goodbye?"},
            {"role": "assistant", "content": "Goodbye now, friend"},
        ]
    }
    session.flush()
    dataset = session.get(Dataset, dataset_id)
    assert dataset is not None
    words = stats.compute(session, dataset)["words"]
    # 5 + 1 words of rationale and answer (no "Answer:" label); 2 + 3 of the dialogue's turns.
    assert (words["response"]["count"], words["response"]["mean"], words["response"]["max"]) == (2, 5.5, 6)
    assert words["prompt"]["mean"] == 3.0
