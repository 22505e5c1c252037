"""Teacher endpoints owned by a tenant."""

from __future__ import annotations

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from distillery.db.base import new_id
from distillery.db.models import Teacher
from distillery.db.scoping import get_owned, owned_by
from distillery.errors import Conflict, InvalidSpec
from distillery.schemas.teachers import TeacherCreate, TeacherOut
from distillery.security import teacher_urls
from distillery.security.scrub import scrub
from distillery.security.secrets import encrypt
from distillery.teachers.price_table import Prices, teacher_prices


def prices(row: Teacher) -> Prices:
    return teacher_prices(row.model, row.base_url, row.input_price_per_mtok, row.output_price_per_mtok)


def to_out(row: Teacher) -> TeacherOut:
    charged = prices(row)
    return TeacherOut(
        id=row.id,
        name=row.name,
        base_url=scrub(row.base_url),  # a teacher created before URL credentials were refused
        model=row.model,
        has_api_key=row.api_key_encrypted is not None,
        rpm=row.rpm,
        tpm=row.tpm,
        max_concurrency=row.max_concurrency,
        input_price_per_mtok=float(charged.input_per_mtok),
        output_price_per_mtok=float(charged.output_per_mtok),
        price_source=charged.source,
        supports_batch=row.supports_batch,
        supports_structured_outputs=row.supports_structured_outputs,
        batch_price_factor=float(row.batch_price_factor),
        created_at=row.created_at,
    )


def create(session: Session, tenant_id: str, spec: TeacherCreate) -> TeacherOut:
    refused = teacher_urls.refusal(str(spec.base_url))
    if refused:
        raise InvalidSpec("base_url", refused)
    row = Teacher(
        id=new_id("tch"),
        tenant_id=tenant_id,
        name=spec.name,
        base_url=str(spec.base_url).rstrip("/"),
        model=spec.model,
        api_key_encrypted=encrypt(spec.api_key.get_secret_value()) if spec.api_key else None,
        rpm=spec.rpm,
        tpm=spec.tpm,
        max_concurrency=spec.max_concurrency,
        input_price_per_mtok=spec.input_price_per_mtok,
        output_price_per_mtok=spec.output_price_per_mtok,
        supports_batch=spec.supports_batch,
        supports_structured_outputs=spec.supports_structured_outputs,
        batch_price_factor=spec.batch_price_factor,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(f"a teacher named '{spec.name}' already exists") from None
    return to_out(row)


def list_all(session: Session, tenant_id: str, limit: int, offset: int) -> list[TeacherOut]:
    stmt = owned_by(Teacher, tenant_id).order_by(Teacher.created_at, Teacher.id).limit(limit).offset(offset)
    return [to_out(t) for t in session.scalars(stmt)]


def get(session: Session, tenant_id: str, teacher_id: str) -> TeacherOut:
    return to_out(get_owned(session, Teacher, tenant_id, teacher_id, "teacher"))


def delete(session: Session, tenant_id: str, teacher_id: str) -> None:
    session.delete(get_owned(session, Teacher, tenant_id, teacher_id, "teacher"))


def resolve(session: Session, tenant_id: str, id_or_name: str, field: str = "teacher") -> Teacher:
    """The teacher a job names, by id or by name; `field` names the spec field in errors."""
    row = session.scalar(owned_by(Teacher, tenant_id).where(or_(Teacher.id == id_or_name, Teacher.name == id_or_name)))
    if row is None:
        raise InvalidSpec(field, f"no teacher with id or name '{id_or_name}'")
    return row
