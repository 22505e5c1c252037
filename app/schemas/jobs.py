from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import AfterValidator, Field, model_validator

from app.schemas.base import InputModel, JsonObject, Name, OutputModel, Text
from app.schemas.curation import Curation
from app.schemas.status import JobStatus, RecordStatus


class Skill(InputModel):
    name: Name
    description: Text = ""
    # Replaces the method's default system prompt (e.g. the Orca-style CoT one).
    system_prompt: Text | None = None
    reasoning: Literal["cot", "none"] = "cot"
    output_format: Literal["text", "json"] = "text"
    output_schema: JsonObject | None = Field(default=None, description="JSON Schema every answer must meet")

    @model_validator(mode="after")
    def _schema_is_valid(self) -> Skill:
        if self.output_schema is not None:
            if self.output_format != "json":
                raise ValueError("output_schema: needs output_format 'json'")
            try:
                jsonschema.validators.validator_for(self.output_schema).check_schema(self.output_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"output_schema: not a valid JSON Schema ({exc.message[:200]})") from None
        return self


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


class SeedIn(InputModel):
    instruction: Annotated[Text, AfterValidator(_not_blank)]
    input: Text = ""
    # Your own id for the seed; kept in every record's lineage.
    id: Text | None = Field(default=None, max_length=200)
    # A gold answer, when known; kept for evaluation.
    answer: Text | None = None
    # feedback: responses to judge (e.g. your student's own outputs).
    candidates: list[Text] | None = Field(default=None, max_length=16)


class SubtopicIn(InputModel):
    name: Name
    questions: list[Annotated[Text, AfterValidator(_not_blank)]] = Field(min_length=1, max_length=1000)


class TopicIn(InputModel):
    name: Name
    subtopics: list[Name | SubtopicIn] = Field(min_length=1, max_length=1000)


class DocumentIn(InputModel):
    id: Text | None = Field(default=None, max_length=200)
    title: Text = ""
    text: Annotated[Text, AfterValidator(_not_blank)]


EvolOperation = Literal["add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth"]


class Evol(InputModel):
    # WizardLM evolved its data over 4 rounds.
    rounds: int = Field(default=4, ge=1, le=10)
    operations: list[EvolOperation] = Field(
        default=["add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth"],
        min_length=1,
    )


class Generator(InputModel):
    teacher: Name = Field(description="teacher id or name")
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)


class Params(InputModel):
    # "batch": OpenAI's Batch API (teachers marked supports_batch), at its discount and
    # its pace (hours at worst); failed lines are retried online. label jobs only.
    mode: Literal["online", "batch"] = "online"
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1, le=200_000)
    chunk_size: int | None = Field(default=None, ge=1, le=1000, description="items per worker task")
    samples_per_item: int = Field(default=1, ge=1, le=32, description="self-consistency: k samples vote")
    turns: int = Field(default=1, ge=1, le=16, description="> 1: multi-turn dialogues of this many exchanges")
    # expand (Self-Instruct: each prompt shows 6 seed tasks and 2 generated ones)
    seed_examples: int = Field(default=6, ge=0, le=32)
    generated_examples: int = Field(default=2, ge=0, le=32)
    tasks_per_request: int = Field(default=5, ge=1, le=50)
    max_rounds: int = Field(default=20, ge=1, le=200, description="expand: give up after this many rounds")
    evol: Evol | None = Field(default=None, description="expand by Evol-Instruct instead of Self-Instruct")
    # curate
    subtopics_per_topic: int = Field(default=3, ge=1, le=100)
    questions_per_topic: int = Field(default=3, ge=1, le=100)
    chunk_chars: int = Field(default=1500, ge=200, le=50_000, description="documents are cut into chunks this long")
    questions_per_chunk: int = Field(default=3, ge=1, le=50)
    passage_in_input: bool = Field(default=True, description="documents: a record's input is its passage")
    # feedback
    generators: list[Generator] | None = Field(default=None, max_length=8, description="configurations that answer")
    judge_mode: Literal["rating", "pairwise"] = "rating"
    min_margin: float = Field(default=1.0, ge=0.0, le=5.0)


class Budget(InputModel):
    max_cost_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    max_requests: int | None = Field(default=None, ge=1, le=100_000_000)


class JobRetry(InputModel):
    budget: Budget | None = Field(default=None, description="a new budget (e.g. raised after a budget stop)")


class TeacherShare(InputModel):
    teacher: Name = Field(description="teacher id or name")
    weight: float = Field(default=1.0, gt=0, le=1_000_000, description="share of the items, relative to the others")


class JobCreate(InputModel):
    name: Name
    teacher: Name | None = Field(default=None, description="teacher id or name (or `teachers`)")
    teachers: list[TeacherShare] | None = Field(
        default=None, min_length=1, max_length=16, description="spread the items over several teachers by weight"
    )
    judge_teacher: Name | None = Field(default=None, description="teacher id or name that judges; default: the item's")
    method: Literal["label", "expand", "curate", "feedback"]
    skill: Skill
    seeds: list[SeedIn] = Field(default=[], max_length=100_000)
    source_dataset: Name | None = Field(
        default=None, description="dataset id whose records are seeds too (their answers become feedback candidates)"
    )
    topics: list[Name | TopicIn] | None = Field(default=None, min_length=1, max_length=10_000)
    documents: list[DocumentIn] | None = Field(default=None, min_length=1, max_length=10_000)
    target_count: int | None = Field(default=None, ge=1, le=1_000_000)
    templates: dict[str, Text] | None = Field(default=None, max_length=32, description="your text for templates")
    params: Params = Params()
    curation: Curation = Curation()
    budget: Budget = Budget()

    @model_validator(mode="after")
    def _inputs_fit_the_method(self) -> JobCreate:
        method, params = self.method, self.params
        if method == "curate":
            if (self.topics is None) == (self.documents is None):
                raise ValueError("topics: a curate job needs either `topics` or `documents`")
            if self.seeds or self.source_dataset:
                raise ValueError("seeds: a curate job starts from topics or documents, not seeds")
        elif not self.seeds and self.source_dataset is None:
            raise ValueError(f"seeds: a {method} job needs seeds or a source_dataset")
        elif self.topics is not None or self.documents is not None:
            raise ValueError(f"topics: only curate jobs take topics or documents, not {method} jobs")
        if method == "label" and self.source_dataset is None and (self.target_count or 0) > len(self.seeds):
            raise ValueError("target_count: a label job makes at most one record per seed")
        if method == "expand" and params.evol is None and self.target_count is None:
            raise ValueError("target_count: a Self-Instruct expand job needs the number of tasks to make")
        if params.evol is not None and method != "expand":
            raise ValueError("params.evol: Evol-Instruct is a kind of expand job")
        if method == "feedback":
            if params.turns > 1 or params.samples_per_item > 1:
                raise ValueError("params.turns: feedback judges single responses (turns and samples_per_item 1)")
            if not params.generators and (
                self.source_dataset or any(len(set(s.candidates or [])) < 2 for s in self.seeds)
            ):
                raise ValueError("params.generators: needed unless every seed brings two or more distinct `candidates`")
        elif params.generators is not None:
            raise ValueError("params.generators: only feedback jobs generate candidates")
        if params.samples_per_item > 1 and params.temperature == 0:
            raise ValueError("params.temperature: self-consistency samples need a temperature above 0")
        if params.samples_per_item > 1 and params.turns > 1:
            raise ValueError("params.samples_per_item: dialogues are not sampled; use 1 with turns > 1")
        if params.mode == "batch" and method != "label":
            raise ValueError("params.mode: batch mode is for label jobs; other methods run in dependent steps")
        return self

    @model_validator(mode="after")
    def _one_way_to_name_teachers(self) -> JobCreate:
        if (self.teacher is None) == (self.teachers is None):
            raise ValueError("teacher: give either `teacher` or `teachers`, not both and not neither")
        if self.teachers is not None and len({s.teacher for s in self.teachers}) < len(self.teachers):
            raise ValueError("teachers: each teacher may appear once")
        return self

    def template_contexts(self) -> list[dict[str, Any]]:
        """What the job's templates are tried on at submission: the skill with the first,
        the last and SAMPLED_SEEDS seeds spread between (documents likewise). Not a
        validator: FastAPI validates bodies on the event loop, and rendering is CPU work."""
        skill = self.skill
        base: dict[str, Any] = {
            "system_prompt": skill.system_prompt,
            "reasoning": skill.reasoning,
            "output_format": skill.output_format,
            "output_schema": skill.output_schema,
            "skill_name": skill.name,
            "skill_description": skill.description,
        }
        contexts = [base | {"instruction": s.instruction, "input": s.input} for s in _spread(self.seeds)]
        chunk = self.params.chunk_chars
        contexts += [base | {"title": d.title, "passage": d.text[:chunk]} for d in _spread(self.documents or [])]
        return contexts or [base]

    def shares(self) -> list[TeacherShare]:
        return self.teachers if self.teachers is not None else [TeacherShare(teacher=self.teacher or "")]


# The seeds a job's template overrides are tried on at submission: the first, the last and
# this many spread evenly between.
SAMPLED_SEEDS = 20


def _spread(items: list[Any]) -> list[Any]:
    if len(items) <= SAMPLED_SEEDS + 2:
        return items
    last = len(items) - 1
    picked = {round(k * last / (SAMPLED_SEEDS + 1)) for k in range(SAMPLED_SEEDS + 2)}  # 0 and last among them
    return [items[i] for i in sorted(picked)]


class Progress(OutputModel):
    total: int
    completed: int
    accepted: int
    rejected: int
    failed: int
    skipped: int


class TeacherUsage(OutputModel):
    teacher_id: str
    teacher_name: str | None
    requests: int
    cached_requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class UsageOut(OutputModel):
    requests: int = Field(description="requests paid for: a reply came back and was charged")
    sent_requests: int = Field(description="HTTP requests sent to teachers, retries included")
    failed_requests: int = Field(description="requests sent that got an error or no answer (not paid)")
    cached_requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    by_teacher: list[TeacherUsage]


class JobTeacher(OutputModel):
    teacher_id: str
    name: str
    weight: float


class JobOut(OutputModel):
    id: str
    name: str
    method: str
    teacher_id: str | None = Field(description="the first of `teachers`")
    teachers: list[JobTeacher]
    judge_teacher_id: str | None
    mode: Literal["online", "batch"]
    status: JobStatus
    progress: Progress
    usage: UsageOut
    budget: Budget
    dataset_id: str | None
    stop_reason: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EventOut(OutputModel):
    id: int
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any]


class RecordOut(OutputModel):
    id: int
    job_id: str
    method: str
    step: str
    status: RecordStatus
    reject_reason: str | None
    reject_detail: str | None
    duplicate_of: int | None
    instruction: str
    input: str
    rationale: str | None
    answer: str | None
    parsed: dict[str, Any]
    scores: dict[str, Any]
    teacher_id: str | None
    teacher_name: str | None
    model: str | None
    template_name: str | None
    template_version: str | None
    seed_ids: list[Any]
    messages: list[Any]
    raw_response: str | None
    finish_reason: str | None
    created_at: datetime
