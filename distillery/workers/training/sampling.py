"""A generate job: the trained student samples `generate.samples` answers to every prompt
of a dataset, and distillery/training/generation.py writes them as a candidates dataset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import set_seed

from distillery.db.session import unit_of_work
from distillery.schemas.status import JobStatus
from distillery.schemas.training import Generate
from distillery.training import generation
from distillery.training.lifecycle import RunSpec
from distillery.workers.training import student
from distillery.workers.training.artifacts import run_card
from distillery.workers.training.callbacks import Heartbeat
from distillery.workers.training.closing import conclude, event
from distillery.workers.training.evaluate import generate
from distillery.workers.training.materialize import DataError

# Sequences generated at once (prompts × samples): bounded memory whatever `samples` is.
BATCH_SEQUENCES = 32


def sample(
    model: Any,
    tokenizer: Any,
    prompts: list[list[dict[str, str]]],
    params: Generate,
    progress: Callable[[int], bool],
) -> list[list[str]]:
    """`params.samples` answers to each prompt, in order; fewer prompts answered when
    `progress` (called after each batch with the prompts done) says to stop."""
    set_seed(params.seed)
    model.eval()
    per_batch = max(1, BATCH_SEQUENCES // params.samples)
    answers: list[list[str]] = []
    for start in range(0, len(prompts), per_batch):
        batch = prompts[start : start + per_batch]
        replies = generate(
            model,
            tokenizer,
            batch,
            params.max_new_tokens,
            samples=params.samples,
            do_sample=True,
            temperature=params.temperature,
            top_p=params.top_p,
        )
        answers += [replies[i * params.samples : (i + 1) * params.samples] for i in range(len(batch))]
        if progress(len(answers)):
            break
    return answers


def run(spec: RunSpec, scratch: Path) -> None:
    params = spec.generate
    assert params is not None
    prompts = generation.prompts(spec.dataset_id)
    if not prompts:
        raise DataError(f"dataset {spec.dataset_id} has no prompts")
    tokenizer, model = student.load(spec, scratch, student.inference_dtype())
    model.to(student.device())
    event(
        spec.job_id,
        "generation_started",
        f"the student samples {params.samples} answers for each of {len(prompts)} prompts",
        prompts=len(prompts),
    )
    heartbeat = Heartbeat(spec.job_id, len(prompts))
    answers = sample(model, tokenizer, prompts, params, heartbeat)
    if heartbeat.cancelled:
        metrics: dict[str, Any] = {"prompts": len(answers), "output_dataset_id": None}
        status = JobStatus.CANCELLED
    else:
        with unit_of_work() as session:
            written = generation.save(session, spec.job_id, answers, params)
        if written is None:
            return  # closed meanwhile (a reaper that thought this worker dead)
        metrics = asdict(written)
        status = JobStatus.SUCCEEDED
        event(
            spec.job_id,
            "dataset_written",
            f"candidates dataset {written.output_dataset_id}: {written.records} records,"
            f" {written.distinct_samples} distinct answers of {written.samples} sampled",
            dataset_id=written.output_dataset_id,
        )
    card = run_card(spec, status, metrics, {"prompts": len(prompts)}, student.device())
    conclude(spec, status, metrics, card, scratch / "publish", "run card saved", [])
