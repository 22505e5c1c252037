"""ORM rows. No relationships: rows refer to each other by foreign key only, so every load is
an explicit query and nothing loads lazily."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from distillery.db.base import Base, BigId, utcnow

Money = Numeric(18, 8)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # sha256 of the key: a leaked table yields no usable key.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Teacher(Base):
    __tablename__ = "teachers"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str] = mapped_column(String(2000))
    model: Mapped[str] = mapped_column(String(200))
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    rpm: Mapped[int | None]
    tpm: Mapped[int | None] = mapped_column(BigInteger)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=16)
    input_price_per_mtok: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    output_price_per_mtok: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    # The provider runs OpenAI's Batch API (/v1/files, /v1/batches) for this model.
    supports_batch: Mapped[bool] = mapped_column(Boolean, default=False)
    # The endpoint takes OpenAI's `response_format` with a JSON Schema (structured outputs).
    supports_structured_outputs: Mapped[bool] = mapped_column(Boolean, default=False)
    # Share of the online price a batch call costs (OpenAI: 0.5).
    batch_price_factor: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.5"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # SET NULL: deleting a teacher keeps its jobs; records keep teacher and model by value.
    teacher_id: Mapped[str | None] = mapped_column(ForeignKey("teachers.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(20))
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    total: Mapped[int] = mapped_column(default=0)
    # Progress and usage live in `job_counters` (summed over shards). Here: the budget's
    # reservations of calls in flight, held only for jobs with a budget. A killed worker's
    # reservations are left here, never counted as paid, and the lease reaper clears them
    # once no item of the job is held.
    in_flight_requests: Mapped[int] = mapped_column(default=0)
    in_flight_cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    max_requests: Mapped[int | None]
    max_cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    dataset_id: Mapped[str | None] = mapped_column(String(40))
    # The pipeline run this job is a stage of, if any.
    pipeline_id: Mapped[str | None] = mapped_column(ForeignKey("pipelines.id", ondelete="SET NULL"), index=True)
    # The X-Request-ID of the API call that created it; the workers' log lines carry it.
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BudgetHold(Base):
    """The budget reservations one worker process holds on a job (their sum is the job's
    in-flight count), renewed with its leases: a dead process's are found and given back
    (distillery/ledger/budget.py)."""

    __tablename__ = "budget_holds"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80), primary_key=True)
    requests: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    renewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobCounter(Base):
    """One shard of a job's progress and usage counters (see distillery/ledger/counters.py)."""

    __tablename__ = "job_counters"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    # The teacher whose usage the row counts; "" for the job's progress.
    teacher_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    completed: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    sent_requests: Mapped[int] = mapped_column(default=0)
    requests: Mapped[int] = mapped_column(default=0)
    failed_requests: Mapped[int] = mapped_column(default=0)
    cached_requests: Mapped[int] = mapped_column(default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class Seed(Base):
    __tablename__ = "seeds"
    __table_args__ = (UniqueConstraint("job_id", "position"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int]
    # The user's own id for the seed, if given: it is kept in lineage.
    external_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]


class WorkItem(Base):
    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("job_id", "position"),
        Index("ix_work_items_job_status", "job_id", "status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int]
    # Jobs that work in rounds add a stage of items when the previous one is done.
    stage: Mapped[int] = mapped_column(default=0)
    seed_ids: Mapped[list[int]]
    payload: Mapped[dict[str, Any]]
    # What the item hands to the end of its stage (e.g. proposed tasks to filter).
    output: Mapped[dict[str, Any] | None]
    # The teacher this item was assigned to at planning (a job may spread over several).
    teacher_id: Mapped[str | None] = mapped_column(String(40))
    # pending → running (leased) → done | failed | skipped
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    leased_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("work_item_id", "ordinal"),
        Index("ix_records_job_status", "job_id", "status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Null for an uploaded record (seeds, eval items, candidates), which no job made.
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(default=0)
    method: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(40))
    teacher_id: Mapped[str | None] = mapped_column(String(40))
    teacher_name: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    template_name: Mapped[str | None] = mapped_column(String(100))
    template_version: Mapped[str | None] = mapped_column(String(40))
    seed_ids: Mapped[list[Any]]
    instruction: Mapped[str] = mapped_column(Text)
    input: Mapped[str] = mapped_column(Text, default="")
    system_prompt: Mapped[str | None] = mapped_column(Text)
    messages: Mapped[list[Any]]
    raw_response: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    parsed: Mapped[dict[str, Any]]
    rationale: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[dict[str, Any]]
    # accepted | rejected | failed (the teacher never answered)
    status: Mapped[str] = mapped_column(String(20))
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    reject_detail: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobEvent(Base):
    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    type: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    # sft | preference (made by jobs, trainable); seeds | eval | candidates (uploaded)
    kind: Mapped[str] = mapped_column(String(20), default="sft")
    # What the version was made from: [{"type": "job" | "dataset" | "upload", "id", ...}].
    sources: Mapped[list[Any]] = mapped_column(default=list)
    # The set-level curation settings it was made with.
    curation: Mapped[dict[str, Any] | None]
    record_count: Mapped[int]
    stats: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetRecord(Base):
    """Membership of a record in a dataset version; a version never changes once made."""

    __tablename__ = "dataset_records"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("records.id", ondelete="CASCADE"))


class DatasetRejection(Base):
    """A record a curation pass kept out of a version: the pass, why, and for a duplicate
    the record kept in its place."""

    __tablename__ = "dataset_rejections"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    pass_name: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    matched_record_id: Mapped[int | None] = mapped_column(BigId)


class DatasetFlag(Base):
    """A row of a dataset version a reviewer flagged as bad. The version itself never
    changes: a new version without the flagged rows is derived from it."""

    __tablename__ = "dataset_flags"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Usage(Base):
    """One row per teacher call a job made or took from the cache: the cost ledger."""

    __tablename__ = "usage"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    teacher_id: Mapped[str | None] = mapped_column(String(40))
    request_hash: Mapped[str] = mapped_column(String(64))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeacherBatch(Base):
    """A provider batch (OpenAI Batch API) of a chunk's requests. Its id is a hash of the
    request hashes, so a worker that re-runs the chunk after a crash finds the batch and
    polls it instead of submitting and paying for it again."""

    __tablename__ = "teacher_batches"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    teacher_id: Mapped[str] = mapped_column(String(40))
    # The batch's lines by custom_id (the request hash), each reserved in the job's budget
    # in the transaction that made this row.
    request_hashes: Mapped[list[Any]]
    provider_batch_id: Mapped[str | None] = mapped_column(String(200))
    input_file_id: Mapped[str | None] = mapped_column(String(200))
    # submitting → submitted → the provider's final status (completed, failed, expired, cancelled)
    status: Mapped[str] = mapped_column(String(20), default="submitting")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class TeacherMetric(Base):
    """Monotonic per-teacher counters (requests by outcome, tokens, cost, latency
    histogram buckets), added to by every worker process: /metrics reads them."""

    __tablename__ = "teacher_metrics"
    teacher_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    metric: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[float] = mapped_column(Double, default=0.0)


class CachedResponse(Base):
    """A teacher reply by request hash, written before anything else awaits."""

    __tablename__ = "response_cache"
    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(200))
    response: Mapped[dict[str, Any]]
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingJob(Base):
    """A student fine-tuning job (SFT or DPO) on a dataset version, run by a training worker.

    queued → running → succeeded | failed | cancelled. A cancel of a running job sets
    `cancel_requested`; the worker stops at the next step and keeps what it trained."""

    __tablename__ = "training_jobs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # SET NULL: a training job and its artifacts outlive the dataset version it read.
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(10))
    base_model: Mapped[str] = mapped_column(String(1000))
    hyperparameters: Mapped[dict[str, Any]]
    # Null: full fine-tuning.
    lora: Mapped[dict[str, Any] | None]
    eval_split: Mapped[float] = mapped_column(Double)
    evaluate: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Deliveries of the job's message that started it: a worker killed mid-run (e.g. by the
    # kernel's OOM killer) makes the broker deliver it again, but not forever.
    attempts: Mapped[int] = mapped_column(default=0)
    # Touched at every training step: a second delivery of a job whose worker is alive is
    # recognised and dropped.
    heartbeat_at: Mapped[datetime | None]
    step: Mapped[int] = mapped_column(default=0)
    total_steps: Mapped[int | None]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts_uri: Mapped[str | None] = mapped_column(String(2000))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Set while the trained job waits for its judge step, which the synthesis workers run
    # (distillery/training/judging.py): no training worker holds it, so no heartbeat is expected.
    judging_since: Mapped[datetime | None]
    # What the judge step needs and what the job closes with: the comparisons, the metrics
    # so far, the artifacts' location and, once created, the judge job's id.
    judging: Mapped[dict[str, Any] | None]
    # The finished training job whose student this one continues training (sft, dpo),
    # samples (generate) or scores (evaluate).
    student_job_id: Mapped[str | None] = mapped_column(ForeignKey("training_jobs.id", ondelete="SET NULL"))
    # What a generate job wrote: the student's samples as a candidates dataset.
    output_dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    pipeline_id: Mapped[str | None] = mapped_column(ForeignKey("pipelines.id", ondelete="SET NULL"), index=True)


class TrainingEvent(Base):
    __tablename__ = "training_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    training_job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    type: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TrainingMetric(Base):
    """What the trainer logged at one optimizer step (train and eval values merged), so a
    run restarted from a checkpoint rewrites its steps instead of adding to them."""

    __tablename__ = "training_metrics"
    training_job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(primary_key=True)
    values: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pipeline(Base):
    """A distillation run: ordered stages, each an ordinary synthesis or training job,
    started one after another by distillery/pipelines/. queued → running → succeeded | failed |
    cancelled."""

    __tablename__ = "pipelines"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # As validated at creation (PipelineCreate), stage references unresolved.
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class PipelineStage(Base):
    """One stage of a pipeline run and the job that runs it, once started."""

    __tablename__ = "pipeline_stages"
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    training_job_id: Mapped[str | None] = mapped_column(ForeignKey("training_jobs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class PipelineEvent(Base):
    __tablename__ = "pipeline_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    type: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
