from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr

from distillery.schemas.base import InputModel, Name, OutputModel

# Where a teacher's prices come from: its own fields, the genai-prices table, or nowhere.
PriceSource = Literal["teacher", "genai-prices", "unknown"]


class TeacherCreate(InputModel):
    name: Name = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    base_url: AnyHttpUrl = Field(description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1")
    model: Name
    # Write-only: stored encrypted, never returned.
    api_key: SecretStr | None = Field(default=None, max_length=4096)
    rpm: int | None = Field(default=None, ge=1, le=10_000_000)
    tpm: int | None = Field(default=None, ge=1, le=10_000_000_000)
    max_concurrency: int = Field(default=16, ge=1, le=1024)
    # Both 0 (not given): the model's prices from the genai-prices table, where it has them.
    input_price_per_mtok: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=100_000,
        max_digits=18,
        decimal_places=8,
        description="USD per million prompt tokens; 0 and 0: from the genai-prices table for a known model",
    )
    output_price_per_mtok: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=100_000,
        max_digits=18,
        decimal_places=8,
        description="USD per million completion tokens; 0 and 0: from the genai-prices table for a known model",
    )
    supports_batch: bool = Field(default=False, description="the endpoint serves /v1/files and /v1/batches")
    supports_structured_outputs: bool = Field(
        default=False, description="the endpoint takes response_format with a JSON Schema (OpenAI does)"
    )
    batch_price_factor: Decimal = Field(
        default=Decimal("0.5"), gt=0, le=1, max_digits=18, decimal_places=8, description="batch price / online price"
    )


class TeacherOut(OutputModel):
    id: str
    name: str
    base_url: str
    model: str
    has_api_key: bool
    rpm: int | None
    tpm: int | None
    max_concurrency: int
    input_price_per_mtok: float
    output_price_per_mtok: float
    price_source: PriceSource = Field(
        description="where the prices come from: the teacher's own, the genai-prices table, or nowhere (charged as 0)"
    )
    supports_batch: bool
    supports_structured_outputs: bool
    batch_price_factor: float
    created_at: datetime
