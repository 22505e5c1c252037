from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from app.schemas.base import OutputModel

ExportFormat = Literal["openai-chat", "alpaca", "dpo"]
FileFormat = Literal["jsonl"]


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
