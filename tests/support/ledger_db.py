"""A migrated SQLite database for the fast core: the embedded mode's own database, with a
tenant, a teacher and jobs made the way the API makes them, and no Redis or subprocess.

The schema comes from the migrations, built once per process and copied for each test
(a copy takes milliseconds, a full upgrade most of a second)."""

from __future__ import annotations

import secrets
import sqlite3
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from distillery.db.base import utcnow
from distillery.db.models import Teacher, Tenant, WorkItem

TENANT = "tnt_core"
TEACHER = "tch_core"


@lru_cache
def _migrated_template() -> Path:
    from distillery.db.migrate import upgrade

    path = Path(tempfile.mkdtemp(prefix="distillery-schema-")) / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def fresh_database(data_dir: Path) -> Path:
    """A copy of the migrated schema as `data_dir`/distillery.db, the embedded default."""
    path = data_dir / "distillery.db"
    with sqlite3.connect(_migrated_template()) as source, sqlite3.connect(path) as target:
        source.backup(target)
    source.close()
    target.close()
    return path


def add_tenant_and_teacher(session: Session) -> None:
    if session.get(Tenant, TENANT) is not None:  # the session's Postgres database has them
        return
    session.add(Tenant(id=TENANT, name="core"))
    session.flush()
    session.add(Teacher(id=TEACHER, tenant_id=TENANT, name="teacher", base_url="http://teacher/v1", model="m"))
    session.flush()


def seeds(count: int) -> list[dict[str, str]]:
    return [{"id": f"q{i}", "instruction": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(count)]


def create_job(session: Session, seed_list: list[dict[str, Any]], **spec: Any) -> str:
    """A queued label job for the core teacher, created as the API creates one."""
    from distillery.jobs import lifecycle
    from distillery.schemas.jobs import JobCreate

    body = {
        "name": f"job-{secrets.token_hex(3)}",
        "teacher": "teacher",
        "method": "label",
        "skill": {"name": "arithmetic", "description": "Add.", "reasoning": "none"},
        "seeds": seed_list,
        **spec,
    }
    return lifecycle.create(session, TENANT, JobCreate.model_validate(body), max_active=0).id


def expire_leases(session: Session, item_ids: list[int]) -> None:
    """Let these items' leases run out now, as a killed worker's do."""
    session.execute(update(WorkItem).where(WorkItem.id.in_(item_ids)).values(leased_until=utcnow().replace(year=2000)))
