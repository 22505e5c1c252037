"""A teacher's prices: its own, else genai-prices' for its model, else unknown."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from distillery.teachers.price_table import Prices, table_prices, teacher_prices

ZERO = Decimal(0)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The table is the installed snapshot: a lookup that reached for the network fails."""

    def refuse(*args, **kwargs):
        raise AssertionError("the price table tried the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    table_prices.cache_clear()


def test_a_known_model_is_priced_from_the_table_by_the_providers_url():
    found = teacher_prices("gpt-4o-mini", "https://api.openai.com/v1", ZERO, ZERO)
    assert found == Prices(Decimal("0.15"), Decimal("0.6"), "genai-prices")


def test_a_url_the_table_does_not_know_is_matched_on_the_model_name():
    found = teacher_prices("claude-3-5-haiku-latest", "http://127.0.0.1:8000/v1", ZERO, ZERO)
    assert found.source == "genai-prices" and found.input_per_mtok > 0 and found.output_per_mtok > 0


def test_a_known_provider_that_does_not_serve_the_model_leaves_it_unknown():
    # OpenAI's URL with Anthropic's model: no guess from another provider's price list.
    assert teacher_prices("claude-3-5-haiku-latest", "https://api.openai.com/v1", ZERO, ZERO).source == "unknown"


def test_an_unknown_model_is_unknown_and_charged_nothing():
    assert teacher_prices("sim-teacher-1", "http://127.0.0.1:8000/v1", ZERO, ZERO) == Prices(ZERO, ZERO, "unknown")
    assert not Prices(ZERO, ZERO, "unknown").known


def test_the_teachers_own_prices_win_over_the_table():
    own = teacher_prices("gpt-4o-mini", "https://api.openai.com/v1", Decimal(3), ZERO)
    assert own == Prices(Decimal(3), ZERO, "teacher")
