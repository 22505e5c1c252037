"""What a job will cost: the preview of a dry run, and a running job's projection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from distillery.schemas.base import OutputModel
from distillery.schemas.teachers import PriceSource

# Who a request goes to.
Role = Literal["teacher", "judge", "generator"]
# How a request count relates to what the job will send, repairs of unparsable replies
# aside: exactly it; at least it (later rounds depend on the replies); at most it (steps
# are skipped when a reply is refused, filtered or lists fewer things).
RequestBound = Literal["exact", "lower_bound", "upper_bound"]

# The preview's token counts: no tokenizer is bundled, so characters / 4 (labelled as such).
FALLBACK_TOKENIZER = "chars/4 (fallback)"


class PreviewPrompt(OutputModel):
    template_name: str
    messages: list[dict[str, str]] = Field(description="the request's messages, as they are sent")


class PreviewTeacher(OutputModel):
    teacher_id: str
    name: str
    model: str
    role: Role
    requests: int
    price_source: PriceSource
    input_price_per_mtok: float
    output_price_per_mtok: float
    cost_usd: float | None = Field(description="every reply at max_tokens; null: the teacher's prices are unknown")
    expected_completion_tokens: int = Field(
        description="at the teacher's mean reply over its past jobs; max_tokens each when it has none"
    )
    expected_cost_usd: float | None
    duration_s: float | None = Field(description="at its rpm and tpm limits; null: it has neither")


class JobPreview(OutputModel):
    """A dry run: what the job would send and spend; nothing was created or sent."""

    method: str
    items: int = Field(description="work items of the job's first stage")
    prompts: list[PreviewPrompt] = Field(description="the first items' first requests, rendered")
    requests: int = Field(description="requests to every teacher (judge and generators included)")
    requests_bound: RequestBound = Field(
        description="exact; lower_bound: later rounds depend on the replies; upper_bound: replies that are"
        " filtered or list fewer things skip steps. Repairs of unparsable replies come on top of any of them"
    )
    prompt_tokens: int
    completion_tokens: int = Field(description="every reply at max_tokens: an upper bound")
    expected_completion_tokens: int = Field(
        description="at each teacher's mean reply over its past jobs (max_tokens where it has none)"
    )
    tokenizer: str = Field(description=f"what counted the prompt tokens; '{FALLBACK_TOKENIZER}' when no tokenizer")
    cost_usd: float | None = Field(description="upper bound (every reply at max_tokens); null: a price is unknown")
    cost_note: str
    expected_cost_usd: float | None = Field(description="at expected_completion_tokens; null: a price is unknown")
    duration_s: float | None = Field(
        description="the slowest teacher at its rpm/tpm limits; null: no teacher has one (the time is then"
        " set by its latency and max_concurrency)"
    )
    teachers: list[PreviewTeacher]


class RunningEstimate(OutputModel):
    """A running job's totals at completion, extrapolated from its usage per finished item."""

    basis_items: int = Field(description="finished items the projection is drawn from")
    total_items: int = Field(description="items planned so far; rounds may add more")
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
