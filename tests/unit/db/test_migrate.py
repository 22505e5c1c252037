"""The migrations build the schema the models describe, on SQLite (and on Postgres in the
integration suite)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from distillery.db.base import Base
from distillery.db.migrate import alembic_config, upgrade


def test_sqlite_migrations_match_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises when models and migrations differ
    tables = set(inspect(create_engine(url)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrading_sqlite_keeps_a_jobs_rows_and_moves_its_counts(tmp_path):
    """Batch mode rebuilds `jobs`; the rows that reference a job must survive it."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from distillery.ledger import counters

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0006")
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(text("INSERT INTO tenants (id, name, created_at) VALUES ('t1', 't', CURRENT_TIMESTAMP)"))
        db.execute(
            text(
                "INSERT INTO jobs (id, tenant_id, name, method, spec, status, total, completed, accepted, rejected,"
                " failed, skipped, requests, in_flight_requests, cached_requests, prompt_tokens, completion_tokens,"
                " cost_usd, created_at) VALUES ('j1', 't1', 'n', 'label', '{}', 'succeeded', 3, 3, 2, 1, 0, 0, 2, 0,"
                " 1, 20, 10, 0.25, CURRENT_TIMESTAMP)"
            )
        )
        for n, cached in enumerate((False, False, True)):
            db.execute(
                text(
                    "INSERT INTO usage (job_id, teacher_id, request_hash, cached, prompt_tokens, completion_tokens,"
                    " cost_usd, created_at) VALUES ('j1', 'tch', :h, :c, :p, :q, :cost, CURRENT_TIMESTAMP)"
                ),
                {
                    "h": f"h{n}",
                    "c": cached,
                    "p": 0 if cached else 10,
                    "q": 0 if cached else 5,
                    "cost": 0 if cached else 0.125,
                },
            )
    upgrade(url)
    with Session(engine) as session:
        assert session.execute(text("SELECT count(*) FROM usage")).scalar() == 3
        total = counters.of(session, "j1")
        ((_, teacher, usage),) = [row for row in counters.by_teacher(session, ["j1"]) if row[1]]
    assert (total.completed, total.accepted, total.rejected) == (3, 2, 1)
    assert teacher == "tch" and (usage.requests, usage.cached_requests, usage.prompt_tokens) == (2, 1, 20)
    assert float(total.cost_usd) == 0.25
