"""Scoring a student: the evaluation step after an sft or dpo run (on its held-out split or
a gold set), and the whole of an `evaluate` job (a trained student on a gold set)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distillery.db.session import unit_of_work
from distillery.schemas.status import JobStatus
from distillery.training import judging
from distillery.training.events import emit
from distillery.training.judging import Comparison
from distillery.training.lifecycle import RunSpec
from distillery.workers.training import student
from distillery.workers.training.artifacts import run_card
from distillery.workers.training.callbacks import Heartbeat
from distillery.workers.training.closing import conclude, event
from distillery.workers.training.evaluate import evaluate
from distillery.workers.training.materialize import DataError, EvalPrompt, eval_prompts


def score(
    spec: RunSpec, model: Any, tokenizer: Any, prompts: list[EvalPrompt], progress: Callable[[int], bool]
) -> tuple[dict[str, Any], list[Comparison]]:
    """The evaluation so far, and the comparisons a judge teacher still has to make (then
    the `evaluated` event waits for its verdict)."""
    assert spec.evaluate is not None
    n = min(spec.evaluate.n, len(prompts))
    gold = spec.gold_set_id
    where = f"prompts of gold set {gold}" if gold else "held-out prompts"
    event(spec.job_id, "evaluation_started", f"the student answers {n} {where}")
    result, free_form = evaluate(model, tokenizer, prompts, n, spec.evaluate.max_new_tokens, progress)
    # Where the prompts came from: a gold set, or the held-out split of the job's dataset.
    result.update(dataset_id=gold or spec.dataset_id, split=None if gold else "eval")
    to_judge = free_form if spec.evaluate.judge_teacher else []
    ties, asked = judging.split(to_judge)
    if to_judge and not asked:  # every answer equals the reference: nothing to ask a judge
        result["judge"] = judging.verdict(None, Counter(tie=ties))
        with unit_of_work() as session:
            emit(session, spec.job_id, "judging_started", f"the judge teacher compares {ties} free-form answers")
            judging.judged(session, spec.job_id, result["judge"])
    if asked:
        return result, to_judge
    with unit_of_work() as session:
        judging.evaluated(session, spec.job_id, result)
    return result, []


def run(spec: RunSpec, scratch: Path) -> None:
    """An evaluate job: the student answers the gold set's prompts and is scored."""
    assert spec.evaluate is not None
    prompts = eval_prompts(spec.dataset_id)
    if not prompts:
        raise DataError(f"dataset {spec.dataset_id} has no gold answers to score against")
    tokenizer, model = student.load(spec, scratch, student.inference_dtype())
    model.to(student.device())
    heartbeat = Heartbeat(spec.job_id, min(spec.evaluate.n, len(prompts)))
    result, to_judge = score(spec, model, tokenizer, prompts, heartbeat)
    status = JobStatus.CANCELLED if heartbeat.cancelled else JobStatus.SUCCEEDED
    metrics = {"evaluation": result}
    card = run_card(spec, status, metrics, {"prompts": len(prompts)}, student.device())
    conclude(spec, status, metrics, card, scratch / "publish", "run card saved", to_judge)
