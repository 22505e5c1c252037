"""What every method receives (the job's typed spec, one work item, its teachers), what it
gives back (records, and for a step that feeds a later stage, an output), and the plug-in
that makes a method: its spec model, planning, item step, round end and dataset kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from distillery.curation.normalize import text_hash
from distillery.db.models import Job
from distillery.ledger.records import RecordDraft
from distillery.prompts.render import Prompt, render
from distillery.schemas.curation import Curation
from distillery.schemas.job_specs import CommonParams, GeneratorRef, JobCreate, Skill, StoredSpec
from distillery.schemas.previews import RequestBound
from distillery.teachers.gateway import Teacher

Spec = TypeVar("Spec", bound=JobCreate, covariant=True)
S = TypeVar("S", bound=JobCreate)


@dataclass(frozen=True)
class JobContext(Generic[Spec]):
    job_id: str
    spec: Spec
    judge_id: str | None = None
    # The job has a budget (its calls hold reservations).
    budgeted: bool = False
    # feedback: the configurations that generate candidates, their teachers resolved.
    generators: tuple[GeneratorRef, ...] = ()

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def skill(self) -> Skill:
        return self.spec.skill

    @property
    def params(self) -> CommonParams:
        return self.spec.params

    @property
    def curation(self) -> Curation:
        return self.spec.curation

    @property
    def templates(self) -> dict[str, str]:
        """The job's own text for any template, by template name."""
        return self.spec.templates or {}

    def prompt(self, name: str, **context: Any) -> Prompt:
        return render(name, self.templates, **context)

    def skill_context(self) -> dict[str, Any]:
        """The variables every template that speaks of the skill is given."""
        return {"skill_name": self.skill.name, "skill_description": self.skill.description}


@dataclass(frozen=True)
class WorkItemData:
    id: int
    position: int
    seed_ids: list[Any]
    payload: dict[str, Any]
    teacher_id: str


@dataclass(frozen=True)
class Teachers:
    """The gateways an item may use: its own teacher, the judge (the item's teacher when the
    job names none) and every other teacher of the job by id."""

    own: Teacher
    judge: Teacher
    by_id: dict[str, Teacher]


@dataclass
class ItemOutput:
    drafts: list[RecordDraft]
    # What a step hands to the job's next stage (e.g. proposed tasks to be filtered).
    output: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewItem:
    """A work item to add: its payload and the seeds it came from."""

    payload: dict[str, Any]
    seed_ids: list[Any] = field(default_factory=list)


# A job's seeds as stored: (external id, data).
Seeds = list[tuple[str | None, dict[str, Any]]]

# Who a request goes to: the item's own teacher, the judge, or a teacher by id (a generator).
OWN, JUDGE = "own", "judge"


@dataclass(frozen=True)
class CallPlan:
    """What a job will ask, as far as it is known before any reply: each first-stage item's
    first prompt, as sent, and the requests of the whole job by whom they go to."""

    prompts: list[Prompt]
    requests: dict[str, int]
    # Records made if every step succeeds (each one `curation.judge` scores).
    records: int
    bound: RequestBound


@dataclass(frozen=True)
class Method(Generic[S]):
    """A method: the model of its spec, its first stage's items, how one item runs, and
    (for methods that work in rounds) the next stage's items once every item of the
    current one is done."""

    spec: type[S]
    run: Callable[[WorkItemData, JobContext[S], Teachers], Awaitable[ItemOutput]]
    # (job id, spec, seeds) → the first stage's items.
    plan: Callable[[str, S, Seeds], list[NewItem]]
    # (context, the first stage's items) → the prompts and requests a preview shows.
    calls: Callable[[JobContext[S], list[NewItem]], CallPlan]
    # (session, job row, its spec, the stage just finished) → the next stage's items; [] ends the job.
    advance: Callable[[Session, Job, StoredSpec, int], list[NewItem]] | None = None
    # The record steps a dataset of this method is made of.
    dataset_kind: str = "sft"
    # `curation.judge` scores each accepted record as its item finishes (methods whose
    # records are single responses; a preference pair is judged by the method itself).
    quality_judged: bool = True

    @property
    def item_per_seed(self) -> bool:
        """Each distinct seed is one item: a seed that repeats another is rejected at planning."""
        return self.plan is seed_items


def seed_items(job_id: str, spec: JobCreate, seeds: Seeds) -> list[NewItem]:
    """One item per distinct seed: identical seeds would buy the same answer twice."""
    seen: set[str] = set()
    items: list[NewItem] = []
    for external_id, data in seeds:
        key = text_hash(data["instruction"], data.get("input", ""))
        if key in seen:
            continue
        seen.add(key)
        if spec.target_count and len(items) >= spec.target_count:
            break
        items.append(NewItem(data, [external_id]))
    return items
