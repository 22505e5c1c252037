from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile
from fastapi.responses import PlainTextResponse, StreamingResponse

from distillery.api.body_limit import MIB
from distillery.api.deps import NUL_FREE, Limit, Offset, RecordId, ResourceId, Tenant
from distillery.api.routes import errors
from distillery.datasets import build, card, download, flags, hf_folder, queries, review, uploads
from distillery.datasets.exporters import EXPORTERS, ExportOptions
from distillery.datasets.splits import EVAL_FRACTION, Split
from distillery.datasets.writers import WRITERS
from distillery.db.session import unit_of_work
from distillery.errors import InvalidSpec
from distillery.schemas.base import Name, Page
from distillery.schemas.datasets import (
    DatasetCreate,
    DatasetCurate,
    DatasetOut,
    DatasetRevise,
    DatasetRowOut,
    ExportFormat,
    FileFormat,
    FlagIn,
    FlagOut,
    RejectionOut,
    RowFilters,
    RowView,
    UploadPurpose,
    export_filename,
)
from distillery.settings import get_settings

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
Score = Annotated[
    float | None, Query(allow_inf_nan=False, description="by the row's `score`; unscored rows are left out")
]


@router.get("", response_model=Page[DatasetOut], responses=errors())
def list_datasets(tenant: Tenant, limit: Limit = 50, offset: Offset = 0) -> Page[DatasetOut]:
    with unit_of_work() as session:
        return Page.of(queries.list_all(session, tenant, limit, offset), limit, offset)


@router.post("", status_code=201, response_model=DatasetOut, responses=errors(body=True))
def create_dataset(body: DatasetCreate, tenant: Tenant) -> DatasetOut:
    """Merge jobs' datasets and dataset versions (of one kind) into a new version, filtered
    and curated."""
    with unit_of_work() as session:
        return queries.to_out(build.merge(session, tenant, body))


@router.post("/upload", status_code=201, response_model=DatasetOut, responses=errors(body=True))
def upload_dataset(
    tenant: Tenant,
    file: Annotated[
        UploadFile,
        File(
            description="JSON Lines, gzip-compressed JSON Lines or Parquet, of rows in one format: alpaca, "
            "openai-chat, sharegpt, prompt-completion, dpo, openai-dpo or candidates (any export of ours)"
        ),
    ],
    name: Annotated[Name, Form()],
    purpose: Annotated[
        UploadPurpose | None,
        Form(
            description="the dataset's kind: sft, preference, seeds, eval (for decontamination) or candidates; "
            "default: the file's (preference pairs, candidates, rows that all have a response: sft, else seeds)"
        ),
    ] = None,
) -> DatasetOut:
    """A dataset version from a file; every row is checked, and one bad row imports nothing."""
    max_bytes = get_settings().max_upload_mb * MIB
    with unit_of_work() as session:
        return queries.to_out(uploads.upload(session, tenant, name, purpose, file.file, max_bytes))


@router.get("/{dataset_id}", response_model=DatasetOut, responses=errors(404))
def get_dataset(dataset_id: ResourceId, tenant: Tenant) -> DatasetOut:
    with unit_of_work() as session:
        return queries.to_out(queries.get(session, tenant, dataset_id))


@router.post("/{dataset_id}/curate", status_code=201, response_model=DatasetOut, responses=errors(404, body=True))
def curate_dataset(dataset_id: ResourceId, body: DatasetCurate, tenant: Tenant) -> DatasetOut:
    """A new version of the dataset: its records through the curation passes again."""
    with unit_of_work() as session:
        return queries.to_out(build.recurate(session, tenant, dataset_id, body))


@router.get("/{dataset_id}/rejections", response_model=Page[RejectionOut], responses=errors(404))
def dataset_rejections(
    dataset_id: ResourceId, tenant: Tenant, limit: Limit = 100, offset: Offset = 0
) -> Page[RejectionOut]:
    """The records curation kept out of this version, each with its pass and reason."""
    with unit_of_work() as session:
        return Page.of(queries.rejections(session, tenant, dataset_id, limit, offset), limit, offset)


@router.get("/{dataset_id}/rows", response_model=Page[DatasetRowOut], responses=errors(404))
def dataset_rows(
    dataset_id: ResourceId,
    tenant: Tenant,
    view: Annotated[RowView, Query(description="the version's rows, or the records curation kept out")] = "kept",
    q: Annotated[
        str | None, Query(max_length=500, pattern=NUL_FREE, description="text in the prompt or response (any case)")
    ] = None,
    min_score: Score = None,
    max_score: Score = None,
    reason: Annotated[
        str | None, Query(max_length=200, pattern=NUL_FREE, description="a reject reason (view=rejected)")
    ] = None,
    flagged: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DatasetRowOut]:
    """The version's rows for review: prompt, response, a pair's chosen and rejected with
    the judge's scores and rationale, and the reviewer's flag."""
    where = RowFilters(view=view, q=q, min_score=min_score, max_score=max_score, reason=reason, flagged=flagged)
    with unit_of_work() as session:
        return Page.of(review.rows(session, tenant, dataset_id, where, limit, offset), limit, offset)


@router.put("/{dataset_id}/flags/{record_id}", response_model=FlagOut, responses=errors(404, body=True))
def flag_row(dataset_id: ResourceId, record_id: RecordId, tenant: Tenant, body: FlagIn | None = None) -> FlagOut:
    """Flag a row of the version as bad (again: its note is replaced)."""
    with unit_of_work() as session:
        return flags.flag(session, tenant, dataset_id, record_id, body.note if body else None)


@router.delete("/{dataset_id}/flags/{record_id}", status_code=204, response_class=Response, responses=errors(404))
def unflag_row(dataset_id: ResourceId, record_id: RecordId, tenant: Tenant) -> Response:
    with unit_of_work() as session:
        flags.unflag(session, tenant, dataset_id, record_id)
    return Response(status_code=204)


@router.post(
    "/{dataset_id}/versions", status_code=201, response_model=DatasetOut, responses=errors(404, 409, body=True)
)
def version_without_flagged(dataset_id: ResourceId, tenant: Tenant, body: DatasetRevise | None = None) -> DatasetOut:
    """A new version of the dataset without its flagged rows (409 when none is flagged)."""
    with unit_of_work() as session:
        return queries.to_out(flags.without_flagged(session, tenant, dataset_id, body.name if body else None))


@router.get(
    "/{dataset_id}/card",
    # A bare Response class, so the error entries stay application/json in the document.
    response_class=Response,
    responses={
        **errors(404),
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}, "description": "README.md"},
    },
)
def dataset_card(dataset_id: ResourceId, tenant: Tenant) -> PlainTextResponse:
    """The version's dataset card (README.md, Hugging Face convention)."""
    with unit_of_work() as session:
        text = card.render(queries.get(session, tenant, dataset_id))
    return PlainTextResponse(
        text, media_type="text/markdown", headers={"Content-Disposition": 'attachment; filename="README.md"'}
    )


@router.get(
    "/{dataset_id}/download",
    response_class=StreamingResponse,
    responses={
        **errors(404, 409),
        200: {
            "content": {media: {} for media in (*(m for _, m in WRITERS.values()), hf_folder.MEDIA_TYPE)},
            "description": "the dataset, streamed (file=hf: a Hugging Face dataset folder as a zip)",
        },
        304: {"description": "the client's copy (If-None-Match) is current"},
    },
)
def download_dataset(
    dataset_id: ResourceId,
    tenant: Tenant,
    format: ExportFormat = "openai-chat",
    file: Annotated[
        FileFormat, Query(description="hf: a zip of README.md (the card) and data/{train,test}-*.parquet")
    ] = "jsonl",
    include_rationale: bool = True,
    include_system: bool = False,
    conversational: bool = False,
    split: Annotated[Split | None, Query(description="only the train or eval split (by prompt hash)")] = None,
    eval_fraction: Annotated[float, Query(ge=0.0, le=1.0)] = EVAL_FRACTION,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    with unit_of_work() as session:
        dataset = queries.get(session, tenant, dataset_id)
        exporter = EXPORTERS[format]
        if exporter.kind != dataset.kind:
            fits = ", ".join(name for name, e in EXPORTERS.items() if e.kind == dataset.kind)
            raise InvalidSpec("format", f"a {dataset.kind} dataset downloads as one of: {fits}")
        if file == "hf":
            hf_folder.check(dataset, split)
        filename = export_filename(dataset.name, dataset.version, format, file, split)
    options = ExportOptions(
        include_rationale=include_rationale,
        include_system=include_system,
        conversational=conversational,
        eval_fraction=eval_fraction,
    )
    tag = download.etag(dataset_id, format, file, options, split)
    if if_none_match == tag:
        return Response(status_code=304, headers={"ETag": tag})
    if file == "hf":
        body, media_type = hf_folder.stream(dataset, format, options), hf_folder.MEDIA_TYPE
    else:
        body, media_type = download.stream(dataset_id, format, file, options, split), WRITERS[file][1]
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "ETag": tag},
    )
