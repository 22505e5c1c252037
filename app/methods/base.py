"""What every method receives (the job's settings, one work item, its teachers) and what
it gives back (records, and for a step that feeds a later stage, an output)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import Job
from app.ledger.records import RecordDraft
from app.prompts.render import Prompt, render
from app.teachers.gateway import Teacher


@dataclass(frozen=True)
class JobContext:
    job_id: str
    method: str
    skill: dict[str, Any]
    params: dict[str, Any]
    curation: dict[str, Any] = field(default_factory=dict)
    # The job's own text for any template, by template name.
    templates: dict[str, str] = field(default_factory=dict)
    judge_id: str | None = None
    # The job has a budget (its calls hold reservations).
    budgeted: bool = False

    def prompt(self, name: str, **context: Any) -> Prompt:
        return render(name, self.templates, **context)

    def skill_context(self) -> dict[str, Any]:
        """The variables every template that speaks of the skill is given."""
        skill = self.skill
        return {"skill_name": skill["name"], "skill_description": skill.get("description", "")}


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


Run = Callable[[WorkItemData, JobContext, Teachers], Awaitable[ItemOutput]]


@dataclass(frozen=True)
class Method:
    """A method: its first stage's items, how one item runs, and (for methods that work in
    rounds) the next stage's items once every item of the current one is done."""

    run: Run
    plan: Callable[[dict[str, Any], list[tuple[str, dict[str, Any]]]], list[NewItem]]
    # (session, job row, the stage just finished) → the next stage's items; [] ends the job.
    advance: Callable[[Session, Job, int], list[NewItem]] | None = None
    # The record steps a dataset of this method is made of.
    dataset_kind: str = "sft"
