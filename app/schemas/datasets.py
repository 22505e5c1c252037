from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from app.schemas.base import OutputModel

ExportFormat = Literal["openai-chat", "prompt-completion", "alpaca", "sharegpt", "dpo", "openai-dpo"]
FileFormat = Literal["jsonl", "jsonl.gz", "parquet"]


class DatasetOut(OutputModel):
    id: str
    name: str
    version: int
    kind: str
    job_id: str | None
    parent_id: str | None
    record_count: int
    stats: dict[str, Any]
    created_at: datetime
