"""Training jobs with their events and step metrics

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("dataset_id", sa.String(length=40), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("base_model", sa.String(length=1000), nullable=False),
        sa.Column("hyperparameters", Json, nullable=False),
        sa.Column("lora", Json, nullable=True),
        sa.Column("eval_split", sa.Double(), nullable=False),
        sa.Column("evaluate", Json, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=True),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("artifacts_uri", sa.String(length=2000), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_training_jobs_dataset_id_datasets"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_training_jobs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_jobs")),
    )
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_jobs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_jobs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "training_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("training_job_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["training_job_id"],
            ["training_jobs.id"],
            name=op.f("fk_training_events_training_job_id_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_events")),
    )
    with op.batch_alter_table("training_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_events_training_job_id"), ["training_job_id"], unique=False)

    op.create_table(
        "training_metrics",
        sa.Column("training_job_id", sa.String(length=40), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("values", Json, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["training_job_id"],
            ["training_jobs.id"],
            name=op.f("fk_training_metrics_training_job_id_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("training_job_id", "step", name=op.f("pk_training_metrics")),
    )


def downgrade() -> None:
    op.drop_table("training_metrics")
    with op.batch_alter_table("training_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_events_training_job_id"))
    op.drop_table("training_events")
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_jobs_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_training_jobs_status"))
    op.drop_table("training_jobs")
