"""Work items in stages with an output; teachers with structured outputs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Server defaults fill the rows that exist; the ORM sets the columns from then on.
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("output", Json, nullable=True))
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.alter_column("stage", server_default=None)
    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("supports_structured_outputs", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.alter_column("supports_structured_outputs", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.drop_column("supports_structured_outputs")
    with op.batch_alter_table("work_items", schema=None) as batch_op:
        batch_op.drop_column("output")
        batch_op.drop_column("stage")
