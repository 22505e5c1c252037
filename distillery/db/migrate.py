"""Running the Alembic migrations from code (CLI, demo, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# Shipped inside the package, so an installed wheel migrates as a checkout does.
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")
