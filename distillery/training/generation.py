"""A generate job's output: a trained student's sampled answers to every prompt of a
dataset, written as a new dataset version of kind "candidates". Its records carry
`parsed.candidates`, as an uploaded candidates file's do, so a `feedback` job with it as
`source_dataset` judges them into preference pairs: the student in the loop.

Each record keeps its prompt record's task, answer and lineage (`seed_ids` name the prompt
record); its candidates are the reference answer first (when asked for and present), then
the student's distinct samples. The training worker samples; this module, which imports
no torch, writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from distillery.datasets import build, queries, stats
from distillery.datasets.download import rows
from distillery.datasets.exporters import ExportOptions, openai_chat
from distillery.datasets.rows import RecordRow, records_of
from distillery.db.models import Dataset, TrainingJob
from distillery.db.models import Record as RecordModel
from distillery.schemas.status import JobStatus, RecordStatus
from distillery.schemas.training import Generate

Source = Literal["reference", "student"]
KIND = "candidates"
_BATCH = 5000


@dataclass(frozen=True)
class Candidates:
    texts: list[str]
    # Where each text came from, one per text.
    sources: list[Source]

    @property
    def from_student(self) -> int:
        return self.sources.count("student")


def candidates(reference: str | None, samples: Sequence[str], *, include_reference: bool) -> Candidates:
    """The reference first (if asked for and not blank), then each sample that is neither
    blank nor equal to an earlier candidate (the reference included), compared without
    surrounding whitespace: a judge learns nothing from a pair of identical answers."""
    texts: list[str] = []
    sources: list[Source] = []
    if include_reference and reference and reference.strip():
        texts.append(reference.strip())
        sources.append("reference")
    for sample in samples:
        text = sample.strip()
        if text and text not in texts:
            texts.append(text)
            sources.append("student")
    return Candidates(texts, sources)


def prompts(dataset_id: str) -> list[list[dict[str, str]]]:
    """Every record's prompt, in order, as the student was trained on them: the trainer's
    own `openai-chat` export (read a page at a time, in short transactions)."""
    return [_split(row["messages"])[0] for page in rows(dataset_id, "openai-chat", ExportOptions()) for row in page]


def reply(record: RecordRow) -> tuple[list[dict[str, str]], str | None]:
    """A record's prompt messages, as `prompts` gives them, and its reference reply, if any."""
    return _split(openai_chat(record, ExportOptions())["messages"])


def _split(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], str | None]:
    if messages and messages[-1]["role"] == "assistant":
        return messages[:-1], messages[-1]["content"] or None
    return messages, None


@dataclass(frozen=True)
class GenerationSummary:
    """A generate job's metrics."""

    prompts: int
    # Asked for: prompts × samples per prompt.
    samples: int
    # Kept as candidates: non-blank, each once, none equal to the reference.
    distinct_samples: int
    # Records written: prompts with at least one candidate.
    records: int
    output_dataset_id: str


def save(session: Session, job_id: str, samples: Sequence[Sequence[str]], params: Generate) -> GenerationSummary | None:
    """Write `samples` (one list per record of the job's dataset, in order) as the job's
    candidates dataset and return what was written; None when the job was closed meanwhile.
    Once only: a rerun after a crash finds the dataset already written and keeps it."""
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id).with_for_update())
    if job is None or job.status != JobStatus.RUNNING or job.dataset_id is None:
        return None
    source = queries.get(session, job.tenant_id, job.dataset_id)
    if job.output_dataset_id is not None:
        written = queries.get(session, job.tenant_id, job.output_dataset_id)
        return _summary(session, source, written, params)
    rows: list[dict[str, Any]] = []
    kept = 0
    for record, drawn in zip(records_of(session, source.id), samples, strict=True):
        prompt, reference = reply(record)
        found = candidates(reference, drawn, include_reference=params.include_reference)
        if found.texts:
            rows.append(_record(len(rows), record, prompt, found, job))
            kept += found.from_student
    ids: list[int] = []
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        ids += session.scalars(insert(RecordModel).returning(RecordModel.id, sort_by_parameter_order=True), batch).all()
    dataset = build.new_version(
        session,
        job.tenant_id,
        f"{source.name}-samples"[:200],
        KIND,
        [
            {
                "type": "training_job",
                "id": job.id,
                "student": job.student_job_id,
                "dataset": source.id,
                "name": source.name,
                "version": source.version,
            }
        ],
    )
    build.add_records(session, dataset, ids)
    dataset.stats = stats.compute(session, dataset)
    job.output_dataset_id = dataset.id
    return GenerationSummary(
        prompts=len(samples),
        samples=len(samples) * params.samples,
        distinct_samples=kept,
        records=len(ids),
        output_dataset_id=dataset.id,
    )


def _record(
    ordinal: int, record: RecordRow, prompt: list[dict[str, str]], found: Candidates, job: TrainingJob
) -> dict[str, Any]:
    return {
        "ordinal": ordinal,
        "method": "generate",
        "step": "generate",
        # As a feedback job names the records it reads: lineage back to the prompt.
        "seed_ids": [f"record:{record.id}"],
        # The model that answered: the student, by the training job that trained it.
        "model": job.student_job_id,
        "instruction": record.instruction,
        "input": record.input,
        "system_prompt": record.system_prompt,
        "messages": prompt,
        "parsed": {
            "candidates": found.texts,
            "sources": found.sources,
            # An uploaded prompt's answer is the user's gold: a feedback job checks against it.
            **({"gold_answer": record.answer} if record.method == "upload" and record.answer else {}),
        },
        "rationale": record.rationale,
        "answer": record.answer,
        "scores": {},
        "status": RecordStatus.ACCEPTED,
    }


def _summary(session: Session, source: Dataset, written: Dataset, params: Generate) -> GenerationSummary:
    """What an earlier attempt of the job wrote."""
    kept = sum(record.parsed.get("sources", []).count("student") for record in records_of(session, written.id))
    return GenerationSummary(
        prompts=source.record_count,
        samples=source.record_count * params.samples,
        distinct_samples=kept,
        records=written.record_count,
        output_dataset_id=written.id,
    )
