from __future__ import annotations

from fastapi import APIRouter, Response

from distillery.api.deps import Limit, Offset, ResourceId, Tenant
from distillery.api.routes import errors
from distillery.db.session import unit_of_work
from distillery.schemas.base import Page
from distillery.schemas.teachers import TeacherCreate, TeacherOut
from distillery.teachers import registry

router = APIRouter(prefix="/v1/teachers", tags=["teachers"])


@router.post("", status_code=201, response_model=TeacherOut, responses=errors(409, body=True))
def create_teacher(body: TeacherCreate, tenant: Tenant) -> TeacherOut:
    with unit_of_work() as session:
        return registry.create(session, tenant, body)


@router.get("", response_model=Page[TeacherOut], responses=errors())
def list_teachers(tenant: Tenant, limit: Limit = 50, offset: Offset = 0) -> Page[TeacherOut]:
    with unit_of_work() as session:
        return Page.of(registry.list_all(session, tenant, limit, offset), limit, offset)


@router.get("/{teacher_id}", response_model=TeacherOut, responses=errors(404))
def get_teacher(teacher_id: ResourceId, tenant: Tenant) -> TeacherOut:
    with unit_of_work() as session:
        return registry.get(session, tenant, teacher_id)


@router.delete("/{teacher_id}", status_code=204, response_class=Response, responses=errors(404))
def delete_teacher(teacher_id: ResourceId, tenant: Tenant) -> Response:
    with unit_of_work() as session:
        registry.delete(session, tenant, teacher_id)
    return Response(status_code=204)
