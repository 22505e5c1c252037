"""`curate`: tasks written from meta-information: topics (UltraChat) or documents (Genstruct, Bonito).

Topics: a topic without subtopics is broken into subtopics, each subtopic into questions,
and each question answered (or opened as a dialogue with `params.turns > 1`); records keep
the topic path. Documents: cut into chunks on paragraph or sentence ends; the teacher
writes question-answer pairs grounded in each chunk and the judge confirms every answer is
supported by it; unsupported answers are rejected. Records keep document id and span.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from distillery.ledger.records import RecordDraft
from distillery.methods.answering import answer_task, label_prompt
from distillery.methods.asking import ask, note_template
from distillery.methods.base import (
    JUDGE,
    OWN,
    CallPlan,
    ItemOutput,
    JobContext,
    Method,
    NewItem,
    Seeds,
    Teachers,
    WorkItemData,
)
from distillery.methods.dialogue import converse, requests_to_answer
from distillery.prompts.extract import find_json, task_list, verdict_line
from distillery.prompts.parse import ParseFailure
from distillery.prompts.render import Prompt
from distillery.schemas.job_specs import CurateJob

_BREAK = re.compile(r"\n\s*\n|(?<=[.!?])\s+")


def chunks(text: str, size: int) -> list[tuple[int, int]]:
    """Spans of at most about `size` characters, cut at paragraph or sentence ends where
    there is one (a single longer sentence is cut where it must be)."""
    spans, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cuts = [m.end() for m in _BREAK.finditer(text, start, end)]
            end = cuts[-1] if cuts and cuts[-1] > start + size // 4 else end
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    return spans


def plan(job_id: str, spec: CurateJob, seeds: Seeds) -> list[NewItem]:
    if spec.documents:
        return [
            NewItem(
                {
                    "step": "grounded",
                    "document_id": doc.id or str(n),
                    "title": doc.title,
                    "span": [start, end],
                    "passage": doc.text[start:end].strip(),
                }
            )
            for n, doc in enumerate(spec.documents)
            for start, end in chunks(doc.text, spec.params.chunk_chars)
        ]
    items = []
    for topic in spec.topics or []:
        if isinstance(topic, str):
            items.append(NewItem({"step": "subtopics", "topic_path": [topic]}))
            continue
        for sub in topic.subtopics:
            if isinstance(sub, str):
                items.append(NewItem({"step": "questions", "topic_path": [topic.name, sub]}))
            else:
                path = [topic.name, sub.name]
                items.extend(NewItem({"step": "answer", "topic_path": path, "instruction": q}) for q in sub.questions)
    return items


STRINGS_FORMAT = 'Reply with only a JSON list of strings: ["...", "..."].'
PAIRS_FORMAT = 'Reply with only a JSON list of question-answer pairs: [{"question": "...", "answer": "..."}].'


def parse_strings(text: str) -> list[str]:
    """A list of strings: JSON (fenced, after a preamble) or a markdown list."""
    listed = find_json(text, list)
    if listed is None:
        listed = [t["instruction"] for t in task_list(text)] or None
    if listed is None:
        raise ParseFailure("invalid_json", "the reply holds no list", STRINGS_FORMAT)
    if not listed or not all(isinstance(v, str) and v.strip() for v in listed):
        raise ParseFailure("schema_mismatch", "the reply must be a JSON list of non-empty strings", STRINGS_FORMAT)
    return [v.strip() for v in listed]


def parse_pairs(text: str) -> list[dict[str, str]]:
    value = find_json(text, list)
    if value is None:
        raise ParseFailure("invalid_json", "the reply holds no JSON list of pairs", PAIRS_FORMAT)
    if not all(
        isinstance(v, dict) and isinstance(v.get("question"), str) and isinstance(v.get("answer"), str) for v in value
    ):
        raise ParseFailure(
            "schema_mismatch", 'the reply must be a JSON list of {"question", "answer"} objects', PAIRS_FORMAT
        )
    return [{"question": v["question"].strip(), "answer": v["answer"].strip()} for v in value]


def parse_support(text: str) -> bool:
    verdict = verdict_line(text).upper()
    if verdict.startswith("SUPPORTED"):
        return True
    if verdict.startswith("UNSUPPORTED"):
        return False
    raise ParseFailure(
        "unclear_verdict",
        "the grounding check must start with SUPPORTED or UNSUPPORTED",
        "Reply with SUPPORTED or UNSUPPORTED on the first line, then one sentence of justification.",
    )


async def curate(item: WorkItemData, job: JobContext[CurateJob], teachers: Teachers) -> ItemOutput:
    params = job.spec.params
    step = item.payload["step"]
    if step == "grounded":
        return ItemOutput(await _grounded(item, job, teachers))
    path = item.payload["topic_path"]
    if step == "answer":
        return ItemOutput([await _answer(item, job, teachers, path, item.payload["instruction"])])
    drafts: list[RecordDraft] = []
    paths = [path]
    if step == "subtopics":
        listed = await ask(teachers.own, job, _subtopics_prompt(job, path), parse_strings)
        if not listed.ok or listed.value is None:
            return ItemOutput([_failed(listed, item, path)])
        paths = [[*path, sub] for sub in listed.value[: params.subtopics_per_topic]]
    asked = await asyncio.gather(*(_questions(job, teachers, p) for p in paths))
    questions = []
    for p, exchange in zip(paths, asked, strict=True):
        if not exchange.ok or exchange.value is None:
            drafts.append(_failed(exchange, item, p))
            continue
        questions += [(p, q) for q in exchange.value[: params.questions_per_topic]]
    drafts += await asyncio.gather(*(_answer(item, job, teachers, p, q) for p, q in questions))
    return ItemOutput(drafts)


async def _questions(job: JobContext[CurateJob], teachers: Teachers, path: list[str]) -> Any:
    return await ask(teachers.own, job, _questions_prompt(job, path), parse_strings)


async def _answer(
    item: WorkItemData, job: JobContext, teachers: Teachers, path: list[str], question: str
) -> RecordDraft:
    if job.params.turns > 1:
        draft = await converse(teachers.own, job, question, "", item.seed_ids)
    else:
        draft = await answer_task(teachers.own, job, question, "", item.seed_ids, step="curate")
    draft.parsed["topic_path"] = path
    return draft


def _failed(exchange: Any, item: WorkItemData, path: list[str]) -> RecordDraft:
    draft = exchange.record(RecordDraft(step="curate", status="rejected", instruction=" > ".join(path)))
    draft.parsed["topic_path"] = path
    return draft


async def _grounded(item: WorkItemData, job: JobContext[CurateJob], teachers: Teachers) -> list[RecordDraft]:
    payload, params = item.payload, job.spec.params
    lineage = {"document_id": payload["document_id"], "span": payload["span"]}
    prompt = _grounded_prompt(job, payload)
    written = await ask(teachers.own, job, prompt, parse_pairs)
    if not written.ok or written.value is None:
        draft = written.record(RecordDraft(step="grounded", status="rejected", instruction=""))
        draft.parsed.update(lineage)
        return [draft]
    pairs = written.value[: params.questions_per_chunk]
    checks = await asyncio.gather(
        *(
            ask(
                teachers.judge,
                job,
                job.prompt("grounded_check", passage=payload["passage"], question=p["question"], answer=p["answer"]),
                parse_support,
                temperature=0,
            )
            for p in pairs
        )
    )
    drafts = []
    for pair, check in zip(pairs, checks, strict=True):
        draft = written.record(
            RecordDraft(
                step="grounded",
                status="accepted",
                instruction=pair["question"],
                input=payload["passage"] if params.passage_in_input else "",
                answer=pair["answer"],
                seed_ids=[payload["document_id"]],
            )
        )
        draft.parsed.update({**lineage, "answer": pair["answer"], "judge_reply": check.reply and check.reply.content})
        note_template(draft, check.prompt)
        if not check.ok:
            draft.status, draft.reject_reason, draft.reject_detail = check.failure  # type: ignore[assignment,misc]
        elif not check.value:
            draft.status, draft.reject_reason = "rejected", "unsupported_answer"
            draft.reject_detail = "the judge found the answer not supported by its passage"
        draft.scores["grounded"] = bool(check.value)
        drafts.append(draft)
    return drafts


def _subtopics_prompt(job: JobContext[CurateJob], path: list[str]) -> Prompt:
    count = job.spec.params.subtopics_per_topic
    return job.prompt("subtopics", topic=path[0], count=count, **job.skill_context())


def _questions_prompt(job: JobContext[CurateJob], path: list[str]) -> Prompt:
    count = job.spec.params.questions_per_topic
    return job.prompt("questions", topic_path=path, count=count, **job.skill_context())


def _grounded_prompt(job: JobContext[CurateJob], payload: dict[str, Any]) -> Prompt:
    count = job.spec.params.questions_per_chunk
    return job.prompt(
        "grounded_qa", passage=payload["passage"], title=payload["title"], count=count, **job.skill_context()
    )


def curate_calls(job: JobContext[CurateJob], items: list[NewItem]) -> CallPlan:
    """Every list as long as asked for: a teacher that lists fewer subtopics, questions or
    pairs makes fewer requests, so this is the most the job asks (exact for questions given)."""
    params = job.spec.params
    answer = requests_to_answer(job)
    per_path = 1 + params.questions_per_topic * answer  # a questions request and its answers
    prompts, requests, records = [], {OWN: 0, JUDGE: 0}, 0
    for item in items:
        payload = item.payload
        step = payload["step"]
        if step == "grounded":
            prompts.append(_grounded_prompt(job, payload))
            requests[OWN] += 1
            requests[JUDGE] += params.questions_per_chunk
            records += params.questions_per_chunk
        elif step == "subtopics":
            prompts.append(_subtopics_prompt(job, payload["topic_path"]))
            requests[OWN] += 1 + params.subtopics_per_topic * per_path
            records += params.subtopics_per_topic * params.questions_per_topic
        elif step == "questions":
            prompts.append(_questions_prompt(job, payload["topic_path"]))
            requests[OWN] += per_path
            records += params.questions_per_topic
        else:
            prompts.append(label_prompt(job, payload["instruction"], ""))
            requests[OWN] += answer
            records += 1
    exact = all(item.payload["step"] == "answer" for item in items)
    return CallPlan(prompts, requests, records=records, bound="exact" if exact else "upper_bound")


METHOD = Method(spec=CurateJob, run=curate, plan=plan, calls=curate_calls)
