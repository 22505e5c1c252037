"""A dry run: a job checked as a submission is, planned and priced, and nothing stored.

Prompts are the method's own (its `calls` renders each first-stage item's first request
with the job's templates); requests are counted by the method, labelled exact or a bound;
prompt tokens are counted on those prompts, completion tokens at `max_tokens` (an upper
bound) and, where the teacher has answered before, at its mean reply length; cost is at
each teacher's prices (its own or the genai-prices table's); duration at its rpm/tpm.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from jinja2 import TemplateError
from sqlalchemy.orm import Session

from distillery.db.models import Teacher as TeacherRow
from distillery.errors import InvalidSpec
from distillery.jobs import lifecycle
from distillery.jobs.planning import spread
from distillery.ledger import counters
from distillery.methods.base import JUDGE, OWN, JobContext, RequestBound, Seeds
from distillery.methods.registry import method_for
from distillery.prompts.render import Prompt
from distillery.schemas.job_specs import JobCreate, rehydrate
from distillery.schemas.previews import FALLBACK_TOKENIZER, JobPreview, PreviewPrompt, PreviewTeacher, Role
from distillery.teachers import registry
from distillery.teachers.pricing import cost_usd

SHOWN_PROMPTS = 3
# The fallback count: about 4 characters a token in English, plus each message's framing.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
# The job id a dry run plans under (Self-Instruct samples its examples by job id, so a
# real job's proposal prompts show other examples).
DRY_RUN_JOB = "dry-run"


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(math.ceil(len(m["content"]) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages)


@dataclass
class _Load:
    """What one teacher is asked, over all its roles in the job."""

    row: TeacherRow
    role: Role
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # At the teacher's mean reply so far (max_tokens when it has not answered yet).
    expected_completion_tokens: int = 0


def preview(session: Session, tenant_id: str, spec: JobCreate, *, max_active: int) -> JobPreview:
    resolved = lifecycle.resolve(session, tenant_id, spec, max_active=max_active)
    stored = rehydrate(resolved.stored)
    method = method_for(stored.job)
    seeds: Seeds = list(resolved.seeds)
    items = method.plan(DRY_RUN_JOB, stored.job, seeds)
    context = JobContext(
        job_id=DRY_RUN_JOB,
        spec=stored.job,
        judge_id=stored.judge.id if stored.judge else None,
        generators=tuple(stored.generators),
    )
    try:
        plan = method.calls(context, items)
    except TemplateError as exc:  # the job's own template, on data the submission check did not try
        raise InvalidSpec("templates", f"a template fails to render on the job's data: {exc}"[:500]) from None
    params = stored.job.params
    requests = Counter(plan.requests)
    if stored.job.curation.judge and method.quality_judged:
        requests[JUDGE] += plan.records  # one quality score per record
    per_prompt = [prompt_tokens(p.messages) for p in plan.prompts]
    first_tokens = sum(per_prompt) / len(per_prompt) if per_prompt else 0.0

    loads: dict[str, _Load] = {}

    def charge(row: TeacherRow, role: Role, n: int, tokens_each: float) -> None:
        load = loads.setdefault(row.id, _Load(row, role))
        load.requests += n
        load.prompt_tokens += round(n * tokens_each)
        load.completion_tokens += n * params.max_tokens

    shares = resolved.shares
    # The teachers' requests go as their items do (planning spreads items by weight).
    picks = Counter(spread([w for _, w in shares], len(items)))
    own = requests.pop(OWN, 0)
    split = [own * picks[n] // max(len(items), 1) for n in range(len(shares))]
    split[0] += own - sum(split)
    for (row, _), n in zip(shares, split, strict=True):
        charge(row, "teacher", n, first_tokens)
    judge_row = resolved.judge or shares[0][0]  # without a judge, the item's teacher judges
    # A judge's prompt quotes a reply: up to max_tokens more.
    charge(judge_row, "judge", requests.pop(JUDGE, 0), first_tokens + params.max_tokens)
    for teacher_id, n in requests.items():
        charge(resolved.named[teacher_id], "generator", n, first_tokens)
    # Calibration: each teacher's mean reply over its past jobs' paid requests.
    for teacher_id, used in counters.teacher_usage(session, list(loads)).items():
        load = loads[teacher_id]
        if used.requests:
            mean = min(used.completion_tokens / used.requests, params.max_tokens)
            load.expected_completion_tokens = round(load.requests * mean)
    for load in loads.values():
        load.expected_completion_tokens = load.expected_completion_tokens or load.completion_tokens
    batched = {row.id for row, _ in shares} if params.mode == "batch" else set()
    teachers = [_priced(load, load.row.id in batched) for load in loads.values() if load.requests]
    return _summary(stored.job.method, len(items), plan.prompts, plan.bound, teachers, loads, batched)


def _priced(load: _Load, batched: bool) -> PreviewTeacher:
    row = load.row
    prices = registry.prices(row)
    cost = expected = None
    if prices.known:
        factor = row.batch_price_factor if batched else Decimal(1)
        cost = factor * cost_usd(
            load.prompt_tokens, load.completion_tokens, prices.input_per_mtok, prices.output_per_mtok
        )
        expected = factor * cost_usd(
            load.prompt_tokens, load.expected_completion_tokens, prices.input_per_mtok, prices.output_per_mtok
        )
    limits = []
    if row.rpm:
        limits.append(load.requests / row.rpm * 60)
    if row.tpm:
        limits.append((load.prompt_tokens + load.completion_tokens) / row.tpm * 60)
    return PreviewTeacher(
        teacher_id=row.id,
        name=row.name,
        model=row.model,
        role=load.role,
        requests=load.requests,
        price_source=prices.source,
        input_price_per_mtok=float(prices.input_per_mtok),
        output_price_per_mtok=float(prices.output_per_mtok),
        cost_usd=float(cost) if cost is not None else None,
        expected_completion_tokens=load.expected_completion_tokens,
        expected_cost_usd=float(expected) if expected is not None else None,
        duration_s=round(max(limits), 1) if limits and not batched else None,
    )


def _summary(
    method: str,
    items: int,
    prompts: list[Prompt],
    bound: RequestBound,
    teachers: list[PreviewTeacher],
    loads: dict[str, _Load],
    batched: set[str],
) -> JobPreview:
    unknown = [t for t in teachers if t.cost_usd is None]
    if unknown:
        cost = expected = None
        first = unknown[0]
        note = (
            f"unknown: teacher '{first.name}' (model '{first.model}') has no prices and genai-prices does not list"
            " its model; set input_price_per_mtok and output_price_per_mtok on the teacher"
        )
    else:
        cost = sum(t.cost_usd or 0.0 for t in teachers)
        expected = sum(t.expected_cost_usd or 0.0 for t in teachers)
        note = "an upper bound: every reply at max_tokens" + (", at the batch price" if batched else "")
    durations = [t.duration_s for t in teachers if t.duration_s is not None]
    return JobPreview(
        method=method,
        items=items,
        prompts=[PreviewPrompt(template_name=p.template_name, messages=p.messages) for p in prompts[:SHOWN_PROMPTS]],
        requests=sum(t.requests for t in teachers),
        requests_bound=bound,
        prompt_tokens=sum(load.prompt_tokens for load in loads.values()),
        completion_tokens=sum(load.completion_tokens for load in loads.values()),
        expected_completion_tokens=sum(t.expected_completion_tokens for t in teachers),
        tokenizer=FALLBACK_TOKENIZER,
        cost_usd=cost,
        cost_note=note,
        expected_cost_usd=expected,
        # Teachers are asked side by side: the job takes as long as its slowest.
        duration_s=max(durations) if durations else None,
        teachers=teachers,
    )
