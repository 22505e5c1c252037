"""The preview's token count and a running job's projection at completion."""

from __future__ import annotations

from decimal import Decimal

from distillery.jobs.preview import prompt_tokens
from distillery.jobs.queries import projection
from distillery.ledger.counters import Counts


def test_prompt_tokens_are_a_quarter_of_the_characters_plus_each_messages_framing():
    messages = [{"role": "system", "content": "x" * 10}, {"role": "user", "content": "y" * 8}]
    assert prompt_tokens(messages) == (3 + 4) + (2 + 4)


def test_no_projection_before_an_item_finishes():
    assert projection(Counts(), total=10) is None


def test_projection_scales_the_usage_per_finished_item_to_the_items_that_will_run():
    spent = Counts(completed=4, requests=8, prompt_tokens=400, completion_tokens=120, cost_usd=Decimal("0.02"))
    found = projection(spent, total=10)
    assert found is not None
    assert (found.basis_items, found.total_items) == (4, 10)
    assert (found.requests, found.prompt_tokens, found.completion_tokens) == (20, 1000, 300)
    assert found.cost_usd == 0.05


def test_skipped_items_are_not_projected():
    # A budget stop skipped 6 of 10 items: the job ends with the 4 it ran.
    spent = Counts(completed=4, skipped=6, requests=4, cost_usd=Decimal("0.01"))
    found = projection(spent, total=10)
    assert found is not None and found.total_items == 4 and found.requests == 4
