"""`expand` with `params.evol`, Evol-Instruct (Xu et al. 2023, WizardLM): each seed evolves.

Each round rewrites the current instruction with one operation (in depth: add
constraints, deepen, concretize, increase reasoning, complicate the input; in breadth: a
new task of the same domain) and answers it. An evolution is eliminated, with its reason,
when it leaks the rewriting prompt's own markers, when the teacher judges it equal to its
parent, or when the answer is a short refusal or has no content; the next round then
evolves the parent again. Every surviving evolution is a record.
"""

from __future__ import annotations

from distillery.curation.heuristics import is_contentless
from distillery.ledger.records import RecordDraft
from distillery.methods.answering import answer_task
from distillery.methods.asking import ask, note_template
from distillery.methods.base import (
    JUDGE,
    OWN,
    CallPlan,
    ItemOutput,
    JobContext,
    Method,
    NewItem,
    Teachers,
    WorkItemData,
    seed_items,
)
from distillery.methods.dialogue import requests_to_answer
from distillery.prompts.extract import verdict_line
from distillery.prompts.parse import ParseFailure
from distillery.schemas.job_specs import EvolInstructJob

# The rewriting prompt's own words, which an evolved instruction must not repeat.
_MARKERS = ("#given prompt#", "#rewritten prompt#", "given prompt", "rewritten prompt", "#created prompt#")


def _rewrite(text: str) -> str:
    text = text.strip()
    if not text:
        raise ParseFailure("empty_reply", "the teacher returned no rewritten prompt")
    return text


def parse_verdict(text: str) -> bool:
    """True for "Equal", False for "Not Equal": the first line (markup and a "Verdict:"
    label aside), exactly."""
    first = verdict_line(text).lower()
    if first in ("equal", "not equal"):
        return first == "equal"
    raise ParseFailure(
        "unclear_verdict",
        'the equality check must answer "Equal" or "Not Equal"',
        'Reply with exactly "Equal" or exactly "Not Equal" and nothing else.',
    )


async def evolve(item: WorkItemData, job: JobContext[EvolInstructJob], teachers: Teachers) -> ItemOutput:
    evol = job.spec.params.evol
    operations = evol.operations
    parent = item.payload["instruction"]
    drafts = []
    for round_ in range(evol.rounds):
        operation = operations[(item.position + round_) % len(operations)]
        lineage = {"operation": operation, "round": round_ + 1, "parent": parent}
        rewrite = await ask(teachers.own, job, job.prompt("evol", instruction=parent, operation=operation), _rewrite)
        draft = rewrite.record(
            RecordDraft(step="evol", status="accepted", instruction=rewrite.value or "", seed_ids=item.seed_ids)
        )
        draft.parsed.update(lineage)
        drafts.append(draft)
        if not rewrite.ok or rewrite.value is None:
            continue
        evolved = rewrite.value
        leaked = next((m for m in _MARKERS if m in evolved.lower()), None)
        if leaked:
            draft.status, draft.reject_reason = "rejected", "leaked_prompt"
            draft.reject_detail = f"the evolved instruction repeats the rewriting prompt's '{leaked}'"
            continue
        # The operation is not an instruction change the parent already had: a judge call
        # at temperature 0, as in WizardLM's elimination step.
        same = await ask(
            teachers.judge, job, job.prompt("evol_equal", parent=parent, evolved=evolved), parse_verdict, temperature=0
        )
        note_template(draft, same.prompt)
        if not same.ok:
            draft.status, draft.reject_reason, draft.reject_detail = same.failure  # type: ignore[assignment,misc]
            continue
        if same.value:
            draft.status, draft.reject_reason = "rejected", "no_new_information"
            draft.reject_detail = "the teacher judged the evolved instruction equal to its parent"
            continue
        answered = await answer_task(teachers.own, job, evolved, "", item.seed_ids, step="evol")
        answered.template_name, answered.template_version = draft.template_name, draft.template_version
        answered.parsed = {
            **draft.parsed,
            **answered.parsed,
            "templates": {**draft.parsed["templates"], **answered.parsed.get("templates", {})},
        }
        drafts[-1] = answered
        if answered.status == "accepted" and is_contentless(answered.answer or ""):
            answered.status, answered.reject_reason = "rejected", "empty_answer"
            answered.reject_detail = "the answer is only punctuation and stop words"
        if answered.status == "accepted":
            parent = evolved
    return ItemOutput(drafts)


def evol_calls(job: JobContext[EvolInstructJob], items: list[NewItem]) -> CallPlan:
    """Every evolution surviving: per round a rewrite, an equality check and an answer. An
    eliminated one skips its check or answer, so this is the most the job asks."""
    evol = job.spec.params.evol
    operations = evol.operations
    prompts = [
        job.prompt("evol", instruction=item.payload["instruction"], operation=operations[position % len(operations)])
        for position, item in enumerate(items)
    ]
    evolutions = len(items) * evol.rounds
    requests = {OWN: evolutions * (1 + requests_to_answer(job)), JUDGE: evolutions}
    return CallPlan(prompts, requests, records=evolutions, bound="upper_bound")


METHOD = Method(spec=EvolInstructJob, run=evolve, plan=seed_items, calls=evol_calls)
