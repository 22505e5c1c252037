"""Alembic environment: one schema for SQLite and Postgres (batch mode on SQLite)."""

from __future__ import annotations

from alembic import context

from distillery.db import models  # noqa: F401  (registers the tables)
from distillery.db.base import Base
from distillery.db.session import make_engine
from distillery.settings import get_settings


def run_migrations() -> None:
    url = context.config.attributes.get("database_url") or get_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch mode rebuilds a table (copy, drop, rename); with foreign keys on, the drop
            # would cascade and delete every row that references it (a job's records).
            # Set on the driver's connection: it must run outside a transaction, and any
            # statement through SQLAlchemy would begin one first.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
