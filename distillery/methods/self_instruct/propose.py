"""Self-Instruct's propose step: new tasks from in-context examples.

A `propose` item shows the teacher 6 seed tasks and 2 generated ones and asks for new tasks
as a JSON list (read from JSON or markdown lists alike). Tasks failing a per-task rule are
rejected here with their reason; the rest go to the round's end (rounds.py),
where each is compared with the whole pool (ROUGE-L) and the survivors become `label`
items, until `target_count` is reached.
"""

from __future__ import annotations

import random
import re
from typing import Any

from distillery.ledger.records import RecordDraft
from distillery.methods.asking import ask
from distillery.methods.base import OWN, CallPlan, ItemOutput, JobContext, NewItem, Seeds, Teachers, WorkItemData
from distillery.methods.dialogue import requests_to_answer
from distillery.methods.label import label
from distillery.prompts.extract import task_list
from distillery.prompts.parse import ParseFailure
from distillery.prompts.render import Prompt
from distillery.schemas.job_specs import SelfInstructJob, SelfInstructParams

# Self-Instruct samples its tasks at temperature 0.7.
PROPOSE_TEMPERATURE = 0.7
MIN_WORDS, MAX_WORDS = 4, 150
# Things a text model cannot do (Self-Instruct's list).
_UNSUPPORTED = re.compile(
    r"\b(?:images?|pictures?|graphs?|files?|maps?|draw|plot|go to|video|audio|music|flowchart|diagram)\b", re.I
)
_PROGRAM = re.compile(r"^\s*write a program\b", re.I)
TASKS_FORMAT = 'Reply with only a JSON list of tasks: [{"instruction": "...", "input": "..."}].'


def parse_tasks(text: str) -> list[dict[str, str]]:
    """The reply's tasks: a JSON list (fenced or not), "Instruction:/Input:" blocks or a
    markdown list (distillery/prompts/extract.py). A reply with none is a ParseFailure."""
    tasks = task_list(text)
    if not tasks:
        reason = "empty_reply" if not text.strip() else "invalid_json"
        raise ParseFailure(reason, "the reply holds no list of tasks", TASKS_FORMAT)
    return tasks


def task_problem(instruction: str, *, ascii_only: bool = True) -> tuple[str, str] | None:
    """Self-Instruct's per-task filters: (reason, detail) when the task is unusable."""
    words = len(instruction.split())
    if words < MIN_WORDS or words > MAX_WORDS:
        return "length", f"{words} words; tasks need {MIN_WORDS} to {MAX_WORDS}"
    keyword = _UNSUPPORTED.search(instruction)
    if keyword:
        return "unsupported_modality", f"mentions '{keyword.group(0)}', which a text model cannot do"
    if not instruction[0].isalnum():
        return "starts_with_punctuation", "the task starts with punctuation"
    if ascii_only and not instruction.isascii():
        return "non_ascii", "the task has non-ASCII characters"
    if _PROGRAM.match(instruction):
        return "program_task", 'tasks that begin "Write a program" are left out'
    return None


def propose_items(
    job_id: str,
    params: SelfInstructParams,
    round_: int,
    count: int,
    seeds: Seeds,
    generated: list[dict[str, Any]],
) -> list[NewItem]:
    """A round's requests, each with its own sample of examples (fixed by job, round and
    index, so a re-planned round asks the same prompts and hits the cache)."""
    per_request = params.tasks_per_request
    items = []
    for index in range(count):
        rng = random.Random(f"{job_id}:{round_}:{index}")
        shown = rng.sample(seeds, min(params.seed_examples, len(seeds)))
        extra = rng.sample(generated, min(params.generated_examples, len(generated)))
        examples = [{"instruction": d["instruction"], "input": d.get("input", "")} for _, d in shown] + [
            {"instruction": g["instruction"], "input": g.get("input", "")} for g in extra
        ]
        rng.shuffle(examples)
        payload = {"step": "propose", "round": round_, "examples": examples, "count": per_request}
        # Self-Instruct's non-ASCII rule is for English skills: on only when the seeds are ASCII.
        payload["ascii_only"] = all(d["instruction"].isascii() for _, d in seeds)
        items.append(NewItem(payload, [seed_id for seed_id, _ in shown]))
    return items


def requests_for(tasks: int, per_request: int) -> int:
    """Requests to ask for `tasks` more tasks: half again as many, since some are filtered
    out; at most 64 per round, so the pool grows between rounds."""
    return min(64, max(1, -(-tasks * 3 // (2 * per_request))))


def plan(job_id: str, spec: SelfInstructJob, seeds: Seeds) -> list[NewItem]:
    params = spec.params
    return propose_items(job_id, params, 0, requests_for(spec.tasks_wanted, params.tasks_per_request), seeds, [])


def propose_prompt(job: JobContext[SelfInstructJob], payload: dict[str, Any]) -> Prompt:
    return job.prompt("expand", examples=payload["examples"], count=payload["count"], **job.skill_context())


def self_instruct_calls(job: JobContext[SelfInstructJob], items: list[NewItem]) -> CallPlan:
    """The first round's proposals and an answer for every task wanted: a round whose tasks
    are filtered out adds another, so the job asks at least this."""
    wanted = job.spec.tasks_wanted
    requests = {OWN: len(items) + wanted * requests_to_answer(job)}
    return CallPlan([propose_prompt(job, i.payload) for i in items], requests, records=wanted, bound="lower_bound")


async def expand(item: WorkItemData, job: JobContext[SelfInstructJob], teachers: Teachers) -> ItemOutput:
    if item.payload.get("step") != "propose":
        return await label(item, job, teachers)
    payload = item.payload
    prompt = propose_prompt(job, payload)
    # The item's position as the seed: two requests with the same examples still differ.
    asked = await ask(teachers.own, job, prompt, parse_tasks, temperature=PROPOSE_TEMPERATURE, seed=item.position)
    base: dict[str, Any] = {"step": "propose", "seed_ids": item.seed_ids}
    if not asked.ok or asked.value is None:
        return ItemOutput([asked.record(RecordDraft(instruction="", status="rejected", **base))])
    drafts, candidates = [], []
    for task in asked.value[: payload["count"]]:
        instruction = task["instruction"]
        problem = task_problem(instruction, ascii_only=payload["ascii_only"]) if instruction else ("length", "empty")
        if problem is None:
            candidates.append(task)
            continue
        draft = asked.record(
            RecordDraft(instruction=task["instruction"], input=task["input"], status="rejected", **base)
        )
        draft.reject_reason, draft.reject_detail = problem
        drafts.append(draft)
    template = {"name": prompt.template_name, "version": prompt.template_version}
    return ItemOutput(drafts, {"candidates": candidates, "round": payload["round"], "template": template})
