from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.api.deps import Limit, Offset, Tenant
from app.api.routes import errors
from app.datasets import versions
from app.datasets.download import jsonl_lines
from app.datasets.exporters import ExportOptions
from app.db.session import unit_of_work
from app.errors import InvalidSpec
from app.schemas.base import Page
from app.schemas.datasets import DatasetOut, ExportFormat, FileFormat

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.get("", response_model=Page[DatasetOut], responses=errors())
def list_datasets(tenant: Tenant, limit: Limit = 50, offset: Offset = 0) -> Page[DatasetOut]:
    with unit_of_work() as session:
        return Page.of(versions.list_all(session, tenant, limit, offset), limit, offset)


@router.get("/{dataset_id}", response_model=DatasetOut, responses=errors(404))
def get_dataset(dataset_id: str, tenant: Tenant) -> DatasetOut:
    with unit_of_work() as session:
        return versions.to_out(versions.get(session, tenant, dataset_id))


@router.get(
    "/{dataset_id}/download",
    response_class=StreamingResponse,
    responses={
        **errors(404, 422),
        200: {"content": {"application/x-ndjson": {}}, "description": "one JSON object per line"},
    },
)
def download_dataset(
    dataset_id: str,
    tenant: Tenant,
    format: ExportFormat = "openai-chat",
    file: FileFormat = "jsonl",
    include_rationale: bool = True,
    include_system: bool = False,
) -> StreamingResponse:
    with unit_of_work() as session:
        dataset = versions.get(session, tenant, dataset_id)
        if (format == "dpo") != (dataset.kind == "preference"):
            wanted = "dpo" if dataset.kind == "preference" else "openai-chat or alpaca"
            raise InvalidSpec("format", f"a {dataset.kind} dataset downloads as {wanted}")
        filename = f"{dataset.name}-v{dataset.version}-{format}.{file}"
    options = ExportOptions(include_rationale=include_rationale, include_system=include_system)
    return StreamingResponse(
        jsonl_lines(dataset_id, format, options),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{_safe(filename)}"'},
    )


def _safe(filename: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
