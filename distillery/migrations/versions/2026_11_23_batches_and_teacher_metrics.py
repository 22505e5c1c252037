"""Batch API submissions, a teacher per work item, per-teacher metrics

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:59:31.236658
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teacher_metrics",
        sa.Column("teacher_id", sa.String(length=40), nullable=False),
        sa.Column("metric", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("teacher_id", "metric", name=op.f("pk_teacher_metrics")),
    )
    op.create_table(
        "teacher_batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("teacher_id", sa.String(length=40), nullable=False),
        sa.Column("request_hashes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("provider_batch_id", sa.String(length=200), nullable=True),
        sa.Column("input_file_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_teacher_batches_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teacher_batches")),
    )
    with op.batch_alter_table("teacher_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teacher_batches_job_id"), ["job_id"], unique=False)

    # Server defaults fill the rows that exist; the ORM sets both columns from then on.
    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supports_batch", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column("batch_price_factor", sa.Numeric(precision=18, scale=8), nullable=False, server_default="0.5")
        )
    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.alter_column("supports_batch", server_default=None)
        batch_op.alter_column("batch_price_factor", server_default=None)

    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("teacher_id", sa.String(length=40), nullable=True))
    # Items planned before this revision belong to their job's one teacher.
    op.execute(
        "UPDATE work_items SET teacher_id = (SELECT jobs.teacher_id FROM jobs WHERE jobs.id = work_items.job_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_column("teacher_id")
    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.drop_column("batch_price_factor")
        batch_op.drop_column("supports_batch")
    with op.batch_alter_table("teacher_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teacher_batches_job_id"))
    op.drop_table("teacher_batches")
    op.drop_table("teacher_metrics")
