"""Job counters in shards; budget reservations hold their worst-case cost

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Money = sa.Numeric(18, 8)
COUNTS = ("completed", "accepted", "rejected", "failed", "skipped", "requests", "cached_requests")
TOKENS = ("prompt_tokens", "completion_tokens")


def upgrade() -> None:
    op.create_table(
        "job_counters",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("completed", "accepted", "rejected", "failed")),
        sa.Column("skipped", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("sent_requests", "requests", "failed_requests")),
        sa.Column("cached_requests", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in TOKENS),
        sa.Column("cost_usd", Money, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_counters_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "shard", name=op.f("pk_job_counters")),
    )
    # The counts so far become shard 0; requests paid so far were all sent.
    op.execute(
        "INSERT INTO job_counters (job_id, shard, sent_requests, failed_requests, "
        + ", ".join((*COUNTS, *TOKENS, "cost_usd"))
        + ") SELECT id, 0, requests, 0, "
        + ", ".join((*COUNTS, *TOKENS, "cost_usd"))
        + " FROM jobs"
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name in (*COUNTS, *TOKENS, "cost_usd"):
            batch_op.drop_column(name)
        batch_op.add_column(sa.Column("in_flight_cost_usd", Money, nullable=False, server_default="0"))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("in_flight_cost_usd", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("in_flight_cost_usd")
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        for name in TOKENS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("cost_usd", Money, nullable=False, server_default="0"))
    for name in (*COUNTS, *TOKENS, "cost_usd"):
        op.execute(
            f"UPDATE jobs SET {name} = (SELECT COALESCE(SUM({name}), 0) FROM job_counters"
            " WHERE job_counters.job_id = jobs.id)"
        )
    op.drop_table("job_counters")
