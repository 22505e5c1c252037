from __future__ import annotations

import pytest
from alembic import command

from distillery.db.migrate import alembic_config

pytestmark = pytest.mark.integration


def test_postgres_migrations_match_the_models(stack_env):
    command.check(alembic_config(stack_env["DISTILLERY_DATABASE_URL"]))
