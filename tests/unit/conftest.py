"""Unit-test fixtures shared across packages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from distillery.db.migrate import upgrade
from distillery.db.models import Tenant
from distillery.db.session import make_engine


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A session on a migrated SQLite file with one tenant, "t1"."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    with Session(make_engine(url)) as session:
        session.add(Tenant(id="t1", name="one"))
        session.flush()
        yield session
