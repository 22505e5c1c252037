"""The migrations build the schema the models describe, on SQLite (and on Postgres in the
integration suite)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from app.db.base import Base
from app.db.migrate import alembic_config, upgrade


def test_sqlite_migrations_match_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)
    command.check(alembic_config(url))  # raises when models and migrations differ
    tables = set(inspect(create_engine(url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
