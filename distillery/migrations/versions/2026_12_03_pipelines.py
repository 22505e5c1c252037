"""Pipelines (ordered stages, each a job) and training jobs that start from, sample or score
a trained student

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", Json, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_pipelines_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipelines_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_pipelines_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "pipeline_stages",
        sa.Column("pipeline_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("training_job_id", sa.String(length=40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_pipeline_stages_pipeline_id_pipelines"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_pipeline_stages_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["training_job_id"],
            ["training_jobs.id"],
            name=op.f("fk_pipeline_stages_training_job_id_training_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "position", name=op.f("pk_pipeline_stages")),
    )

    op.create_table(
        "pipeline_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("pipeline_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_pipeline_events_pipeline_id_pipelines"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_events")),
    )
    with op.batch_alter_table("pipeline_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_events_pipeline_id"), ["pipeline_id"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pipeline_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_pipeline_id"), ["pipeline_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_jobs_pipeline_id_pipelines"), "pipelines", ["pipeline_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("student_job_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("output_dataset_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("pipeline_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_training_jobs_pipeline_id"), ["pipeline_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_training_jobs_student_job_id_training_jobs"),
            "training_jobs",
            ["student_job_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_training_jobs_output_dataset_id_datasets"),
            "datasets",
            ["output_dataset_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_training_jobs_pipeline_id_pipelines"),
            "pipelines",
            ["pipeline_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("training_jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_training_jobs_pipeline_id_pipelines"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_training_jobs_output_dataset_id_datasets"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_training_jobs_student_job_id_training_jobs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_training_jobs_pipeline_id"))
        batch_op.drop_column("pipeline_id")
        batch_op.drop_column("output_dataset_id")
        batch_op.drop_column("student_job_id")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_jobs_pipeline_id_pipelines"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_jobs_pipeline_id"))
        batch_op.drop_column("pipeline_id")
    op.drop_table("pipeline_events")
    op.drop_table("pipeline_stages")
    op.drop_table("pipelines")
