"""Review flags on a dataset version's rows, and the request id that created a job

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CREATED_BY_REQUEST = ("jobs", "training_jobs", "pipelines")


def upgrade() -> None:
    op.create_table(
        "dataset_flags",
        sa.Column("dataset_id", sa.String(length=40), nullable=False),
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_flags_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_dataset_flags_record_id_records"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dataset_id", "record_id", name=op.f("pk_dataset_flags")),
    )
    for table in CREATED_BY_REQUEST:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in CREATED_BY_REQUEST:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_id")
    op.drop_table("dataset_flags")
