"""Cost of a teacher call from the teacher's per-million-token prices."""

from __future__ import annotations

from decimal import Decimal

MILLION = Decimal(1_000_000)


def cost_usd(prompt_tokens: int, completion_tokens: int, input_per_mtok: Decimal, output_per_mtok: Decimal) -> Decimal:
    return (prompt_tokens * input_per_mtok + completion_tokens * output_per_mtok) / MILLION
