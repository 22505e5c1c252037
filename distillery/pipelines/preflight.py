"""Checks at submission that need the database: what each stage names exists and is the
tenant's (teachers, datasets, training jobs, base models), and a training stage that takes
a job stage's dataset gets the kind it trains on; so a typo is a 422 on the POST, not a
stage that fails hours later. Problems name the field as the body does:
stages.<n>.spec.<field>. The stage's own create checks everything again when it starts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from distillery.datasets import build
from distillery.datasets import queries as datasets
from distillery.db.models import TrainingJob
from distillery.db.scoping import get_owned
from distillery.errors import InvalidSpec, NotFound
from distillery.methods.registry import method_for
from distillery.pipelines.stages import Runtime
from distillery.schemas.jobs import JobCreate
from distillery.schemas.pipelines import PipelineCreate, StageIn, literals, references
from distillery.schemas.training import TrainingJobCreate
from distillery.teachers import registry
from distillery.training.base_models import locate
from distillery.training.lifecycle import DATASET_KIND


@contextmanager
def within(position: int) -> Iterator[None]:
    """InvalidSpec on a stage's job body, renamed to the pipeline body's field."""
    try:
        yield
    except InvalidSpec as exc:
        detail = exc.details[0]
        raise InvalidSpec(f"stages.{position}.spec.{detail['field']}", detail["problem"]) from None


def check(session: Session, tenant_id: str, spec: PipelineCreate, runtime: Runtime) -> None:
    bodies = spec.bodies()
    for n, (stage, body) in enumerate(zip(spec.stages, bodies, strict=True)):
        with within(n):
            _ids(session, tenant_id, stage)
            if isinstance(body, JobCreate):
                _job(session, tenant_id, body)
            else:
                _training(session, tenant_id, body, runtime)
        _dataset_kind(n, stage, spec.stages, bodies)


def _ids(session: Session, tenant_id: str, stage: StageIn) -> None:
    for field, value in literals(stage.kind, stage.spec):
        try:
            if field.takes == "dataset":
                datasets.get(session, tenant_id, value)
            else:
                get_owned(session, TrainingJob, tenant_id, value, "training job")
        except NotFound:
            kind = "dataset" if field.takes == "dataset" else "training job"
            raise InvalidSpec(field.dotted, f"no {kind} '{value}'") from None


def _job(session: Session, tenant_id: str, body: JobCreate) -> None:
    field = "teacher" if body.teacher is not None else "teachers"
    for share in body.shares():
        registry.resolve(session, tenant_id, share.teacher, field)
    if body.judge_teacher is not None:
        registry.resolve(session, tenant_id, body.judge_teacher, "judge_teacher")
    for generator in body.generators():
        registry.resolve(session, tenant_id, generator.teacher, "params.generators")
    build.eval_sets(session, tenant_id, body.curation)


def _training(session: Session, tenant_id: str, body: TrainingJobCreate, runtime: Runtime) -> None:
    if body.base_model is not None:  # else a `student`, checked with the other ids
        locate(body.base_model, runtime.hub_cache, runtime.model_dirs)
    if body.evaluate is not None and body.evaluate.judge_teacher is not None:
        registry.resolve(session, tenant_id, body.evaluate.judge_teacher, "evaluate.judge_teacher")


def _dataset_kind(n: int, stage: StageIn, stages: list[StageIn], bodies: list[JobCreate | TrainingJobCreate]) -> None:
    wanted = DATASET_KIND.get(stage.kind)
    if wanted is None:
        return
    position = {s.name: i for i, s in enumerate(stages)}
    for field, name in references(stage.kind, stage.spec):
        source = bodies[position[name]]
        if field.path != ("dataset_id",) or not isinstance(source, JobCreate):
            continue
        made = method_for(source).dataset_kind
        if made != wanted:
            raise InvalidSpec(
                f"stages.{n}.spec.dataset_id",
                f"a {stage.kind} stage trains on a {wanted} dataset; stage '{name}' (a {source.method} job)"
                f" makes a {made} dataset",
            )
