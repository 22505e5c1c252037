"""A teacher's prices per million tokens: its own, else the genai-prices table's.

genai-prices (pydantic's maintained table of LLM API prices) ships a snapshot of its data
inside the package; only its `UpdatePrices`, which this code never starts, fetches newer
prices, so a lookup reads the installed snapshot and nothing leaves the machine. The
provider is the one the teacher's base_url names (api.openai.com: OpenAI); a base_url the
table does not know (a proxy, a local server) is matched on the model name alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot

from distillery.schemas.teachers import PriceSource
from distillery.teachers.pricing import MILLION


@dataclass(frozen=True)
class Prices:
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    source: PriceSource

    @property
    def known(self) -> bool:
        return self.source != "unknown"


def teacher_prices(model: str, base_url: str, input_per_mtok: Decimal, output_per_mtok: Decimal) -> Prices:
    """The prices a teacher is charged at: its own when it has any (a price of 0 and 0 is
    "not given"), else the table's for its model, else unknown (charged as 0)."""
    if input_per_mtok or output_per_mtok:
        return Prices(input_per_mtok, output_per_mtok, "teacher")
    return table_prices(model, base_url) or Prices(Decimal(0), Decimal(0), "unknown")


@lru_cache(maxsize=1024)
def table_prices(model: str, base_url: str) -> Prices | None:
    """The table's price of a million input and a million output tokens of `model`, or None."""
    try:
        get_snapshot().find_provider(None, None, base_url)
        by_url: str | None = base_url
    except LookupError:
        by_url = None  # the table knows no provider at this URL
    try:
        return _lookup(model, by_url)
    except LookupError:
        return None


def _lookup(model: str, provider_api_url: str | None) -> Prices:
    # Priced per whole million of each kind, so tiered prices read at their first tier.
    inputs = calc_price(Usage(input_tokens=int(MILLION)), model, provider_api_url=provider_api_url)
    outputs = calc_price(Usage(output_tokens=int(MILLION)), model, provider_api_url=provider_api_url)
    return Prices(Decimal(str(inputs.input_price)), Decimal(str(outputs.output_price)), "genai-prices")
