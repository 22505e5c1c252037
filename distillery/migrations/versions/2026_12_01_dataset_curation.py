"""Dataset versions from several sources with curation rejections; uploaded records

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # An uploaded record (seeds, eval items, candidate responses) belongs to no job.
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.alter_column("job_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.alter_column("work_item_id", existing_type=BigId, nullable=True)
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sources", Json, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("curation", Json, nullable=True))
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.alter_column("sources", server_default=None)
    op.create_table(
        "dataset_rejections",
        sa.Column("dataset_id", sa.String(length=40), nullable=False),
        sa.Column("record_id", BigId, nullable=False),
        sa.Column("pass_name", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("matched_record_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_rejections_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_dataset_rejections_record_id_records"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dataset_id", "record_id", name=op.f("pk_dataset_rejections")),
    )


def downgrade() -> None:
    op.drop_table("dataset_rejections")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("curation")
        batch_op.drop_column("sources")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.alter_column("work_item_id", existing_type=BigId, nullable=False)
        batch_op.alter_column("job_id", existing_type=sa.String(length=40), nullable=False)
