"""What the dataset page reads: the version, its download formats, and a page of its rows
for review, filtered as the API's /rows filters them (datasets.review), with the reject
reasons for the filter menu and the number of flagged rows."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sqlalchemy.orm import Session

from distillery.datasets import flags, queries, review
from distillery.datasets.exporters import EXPORTERS
from distillery.schemas.base import Page
from distillery.schemas.datasets import DatasetOut, DatasetRowOut, RowFilters

ROWS_PER_PAGE = 20
# The filter form's fields (the API's row filters) and its page: all a flag form's way back may carry.
FILTER_FIELDS = (*RowFilters.model_fields, "offset")


@dataclass(frozen=True)
class DatasetView:
    dataset: DatasetOut
    formats: list[str]
    rows: list[DatasetRowOut]
    next_offset: int | None
    # Reasons curation kept records out of this version for, with their counts.
    reasons: dict[str, int]
    flagged: int


def dataset_view(session: Session, tenant_id: str, dataset_id: str, where: RowFilters, offset: int) -> DatasetView:
    dataset = queries.to_out(queries.get(session, tenant_id, dataset_id))
    page = Page.of(review.rows(session, tenant_id, dataset_id, where, ROWS_PER_PAGE, offset), ROWS_PER_PAGE, offset)
    reasons: dict[str, int] = {}
    for by_reason in (dataset.stats.get("curation") or {}).values():
        for reason, n in by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + n
    return DatasetView(
        dataset=dataset,
        formats=[name for name, exporter in EXPORTERS.items() if exporter.kind == dataset.kind],
        rows=page.data,
        next_offset=page.next_offset,
        reasons=dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        flagged=flags.count(session, tenant_id, dataset_id),
    )


def filter_query(query: str) -> str:
    """A query string cut down to the filter form's fields (where a flag form returns to)."""
    return urlencode([(k, v) for k, v in parse_qsl(query) if k in FILTER_FIELDS and v])
