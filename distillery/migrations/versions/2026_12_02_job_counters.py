"""Job counters in shards, usage per teacher; budget reservations hold their worst-case cost

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
PROGRESS = ("completed", "accepted", "rejected", "failed", "skipped")
USAGE = ("requests", "cached_requests", "prompt_tokens", "completion_tokens", "cost_usd")
COLUMNS = (*PROGRESS, "sent_requests", "failed_requests", *USAGE)


def upgrade() -> None:
    op.create_table(
        "job_counters",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("teacher_id", sa.String(length=40), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in PROGRESS),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("sent_requests", "requests")),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("failed_requests", "cached_requests")),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in ("prompt_tokens", "completion_tokens")),
        sa.Column("cost_usd", Money, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_counters_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "teacher_id", "shard", name=op.f("pk_job_counters")),
    )
    # The counts so far become shard 0: progress from the job, usage per teacher from the
    # ledger (every request paid so far was sent once).
    zeros = ", ".join("0" for _ in USAGE)
    op.execute(
        f"INSERT INTO job_counters (job_id, teacher_id, shard, {', '.join(COLUMNS)})"
        f" SELECT id, '', 0, {', '.join(PROGRESS)}, 0, 0, {zeros} FROM jobs"
    )
    paid = "SUM(CASE WHEN cached THEN 0 ELSE 1 END)"
    op.execute(
        f"INSERT INTO job_counters (job_id, teacher_id, shard, {', '.join(COLUMNS)})"
        f" SELECT job_id, teacher_id, 0, {', '.join('0' for _ in PROGRESS)}, {paid}, 0, {paid},"
        " SUM(CASE WHEN cached THEN 1 ELSE 0 END), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd)"
        " FROM usage WHERE teacher_id IS NOT NULL GROUP BY job_id, teacher_id"
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name in (*PROGRESS, *USAGE):
            batch_op.drop_column(name)
        batch_op.add_column(sa.Column("in_flight_cost_usd", Money, nullable=False, server_default="0"))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.alter_column("in_flight_cost_usd", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("in_flight_cost_usd")
        for name in (*PROGRESS, "requests", "cached_requests"):
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        for name in ("prompt_tokens", "completion_tokens"):
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("cost_usd", Money, nullable=False, server_default="0"))
    for name in (*PROGRESS, *USAGE):
        op.execute(
            f"UPDATE jobs SET {name} = (SELECT COALESCE(SUM({name}), 0) FROM job_counters"
            " WHERE job_counters.job_id = jobs.id)"
        )
    op.drop_table("job_counters")
