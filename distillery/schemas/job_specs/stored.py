"""A job's spec as its row stores it, and read back typed.

The row keeps the validated body without its seeds (stored as rows of their own) and with
every teacher it names resolved to an id (renaming or re-creating a teacher later does not
change a job): `teachers` [{id, name, weight}], `judge_teacher` {id, name} or null,
`params.generators` [{id, name, temperature}], and `templates` {} when none were given.
`rehydrate` is the one way back to the method's model; specs written by earlier versions
of this code read back the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from distillery.schemas.job_specs.base import STORED, JobCreate


class TeacherRef(BaseModel):
    id: str
    name: str


class ShareRef(TeacherRef):
    weight: float = 1.0


class GeneratorRef(TeacherRef):
    temperature: float


@dataclass(frozen=True)
class StoredSpec:
    """A job row's spec: the body as validated at submission and its resolved teachers."""

    job: JobCreate
    teachers: list[ShareRef]
    judge: TeacherRef | None
    generators: list[GeneratorRef]


def stored_form(
    spec: JobCreate, teachers: list[ShareRef], judge: TeacherRef | None, generators: list[GeneratorRef]
) -> dict[str, Any]:
    stored = spec.model_dump(mode="json", exclude={"seeds", "teacher"})
    stored["templates"] = spec.templates or {}
    stored["params"]["generators"] = [g.model_dump() for g in generators]
    stored["teachers"] = [t.model_dump() for t in teachers]
    stored["judge_teacher"] = judge.model_dump() if judge else None
    return stored


def rehydrate(stored: Mapping[str, Any]) -> StoredSpec:
    """The typed spec of a job row's stored JSON."""
    body = dict(stored)
    teachers = [ShareRef.model_validate(t) for t in body.pop("teachers")]
    judge = body.pop("judge_teacher", None)
    params = dict(body.get("params") or {})
    generators = [GeneratorRef.model_validate(g) for g in params.pop("generators", None) or []]
    body["params"] = params
    return StoredSpec(
        job=JobCreate.model_validate(body, context={STORED: True}),
        teachers=teachers,
        judge=TeacherRef.model_validate(judge) if judge else None,
        generators=generators,
    )
