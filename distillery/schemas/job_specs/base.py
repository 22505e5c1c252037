"""What every job body has, whatever its method, and the base of each method's model.

A body validates as the model of its method (see `JobCreate`): the model brings the
method's own params and the rules its inputs must meet. Stored job specs validate the same
way, with the rules that need the submission's seeds and teacher names left out (see
stored.py).
"""

from __future__ import annotations

import operator
from copy import copy
from functools import cache, reduce
from typing import Any, ClassVar, Literal, Self

import jsonschema
from pydantic import (
    BaseModel,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ModelWrapValidatorHandler,
    PrivateAttr,
    TypeAdapter,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from distillery.schemas.base import InputModel, JsonObject, Name, Text, refuse_unknown_fields
from distillery.schemas.curation import Curation
from distillery.schemas.examples import AlpacaRow, Candidates, ChatRow, NotBlank, Shape

# The validation context under which a job row's stored spec is read back.
STORED = "stored"


def is_stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(STORED))


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


_SEED_HINTS = {
    "prompt": "instruction",
    "question": "instruction",
    "query": "instruction",
    "context": "input",
    "gold": "answer",
    "gold_answer": "answer",
    "response": "answer",
    "completion": "answer",
    "system_prompt": "skill.system_prompt",
    "conversations": "messages",
}


class SeedIn(InputModel):
    """A seed. Also given as an alpaca row (`output` is the gold answer) or a chat row
    (`messages`: the user's message is the instruction, a final assistant message the gold
    answer); a system prompt either brings becomes the job's (see `JobCreate`)."""

    instruction: NotBlank
    input: Text = ""
    # Your own id for the seed; kept in every record's lineage.
    id: Text | None = Field(default=None, max_length=200)
    # A gold answer, when known; kept for evaluation.
    answer: Text | None = None
    # feedback: responses to judge (e.g. your student's own outputs).
    candidates: Candidates | None = None
    # The system prompt the row brought, and the field that brought it.
    _system: tuple[str, str] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _other_shapes(cls, data: Any, handler: ModelWrapValidatorHandler[SeedIn]) -> SeedIn:
        shape = _seed_shape(data)
        if shape is None:
            refuse_unknown_fields(cls, data, _SEED_HINTS)
            return handler(data)
        example = shape.model_validate(data).example()
        if example.turns:
            field = "messages" if shape is ChatRow else "history"
            raise ValueError(f"{field}: a seed is one exchange; for dialogues set params.turns")
        seed = handler(
            {
                key: value
                for key, value in {
                    "instruction": example.instruction,
                    "input": example.input,
                    "id": example.id,
                    "answer": example.response,
                    "candidates": list(example.candidates) if example.candidates is not None else None,
                }.items()
                if value is not None
            }
        )
        if example.system is not None:
            seed._system = ("messages.0" if shape is ChatRow else "system", example.system)
        return seed

    @property
    def system_prompt(self) -> tuple[str, str] | None:
        """(field, text) of the system prompt the row brought, if any."""
        return self._system


def _seed_shape(data: Any) -> type[Shape] | None:
    """A chat row or an alpaca row; None for a seed in its own shape."""
    if not isinstance(data, dict):
        return None
    if "messages" in data:
        return ChatRow
    return AlpacaRow if any(key in data for key in ("output", "system", "history")) else None


class SubtopicIn(InputModel):
    name: Name
    questions: list[NotBlank] = Field(min_length=1, max_length=1000)


class TopicIn(InputModel):
    name: Name
    subtopics: list[Name | SubtopicIn] = Field(min_length=1, max_length=1000)


class DocumentIn(InputModel):
    id: Text | None = Field(default=None, max_length=200)
    title: Text = ""
    text: NotBlank


class Budget(InputModel):
    max_cost_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    max_requests: int | None = Field(default=None, ge=1, le=100_000_000)


class TeacherShare(InputModel):
    teacher: Name = Field(description="teacher id or name")
    weight: float = Field(default=1.0, gt=0, le=1_000_000, description="share of the items, relative to the others")


class Generator(InputModel):
    teacher: Name = Field(description="teacher id or name")
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)


_PARAMS: list[type[CommonParams]] = []


class CommonParams(InputModel):
    """The knobs of every method; each method's params add its own. A body may also carry
    another method's knobs (one bag held them all before each method had its own model):
    they are checked and ignored, except one `exclusive` to its method, refused elsewhere."""

    # "batch": OpenAI's Batch API (teachers marked supports_batch), at its discount and
    # its pace (hours at worst); failed lines are retried online. See `supports_batch`.
    mode: Literal["online", "batch"] = "online"
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1, le=200_000)
    chunk_size: int | None = Field(default=None, ge=1, le=1000, description="items per worker task")
    samples_per_item: int = Field(default=1, ge=1, le=32, description="self-consistency: k samples vote")
    turns: int = Field(default=1, ge=1, le=16, description="> 1: multi-turn dialogues of this many exchanges")

    # Batch mode needs one independent request per item: methods that work in dependent
    # steps cannot use it.
    supports_batch: ClassVar[bool] = False
    # Knob → why no other method takes it (a value other than null is refused there).
    exclusive: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _PARAMS.append(cls)

    @model_validator(mode="wrap")
    @classmethod
    def _other_methods_knobs(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(data, dict) and any(k not in cls.model_fields for k in data):
            knobs = _every_knob(tuple(_PARAMS))
            foreign = {k: v for k, v in data.items() if k not in cls.model_fields and k in knobs.model_fields}
            if foreign:
                knobs.model_validate(foreign)  # each by its own method's rules, e.g. evol.rounds 1-10
                exclusive = _exclusive(tuple(_PARAMS))
                for key, value in foreign.items():
                    if value is not None and key in exclusive and cls is not CommonParams:
                        raise ValueError(f"{key}: {exclusive[key]}")
                data = {k: v for k, v in data.items() if k not in foreign}
        return handler(data)

    @model_validator(mode="after")
    def _knobs_fit(self) -> Self:
        self.check()
        return self

    def check(self) -> None:
        """Raise ValueError("<knob>: <problem and fix>") when the knobs do not go together."""
        if self.samples_per_item > 1 and self.temperature == 0:
            raise ValueError("temperature: self-consistency samples need a temperature above 0")
        if self.samples_per_item > 1 and self.turns > 1:
            raise ValueError("samples_per_item: dialogues are not sampled; use 1 with turns > 1")
        if self.mode == "batch" and not self.supports_batch:
            raise ValueError("mode: batch mode is for label jobs; other methods run in dependent steps")


# Keyed by the methods' params classes, all of them once every method's module is imported.
@cache
def _every_knob(classes: tuple[type[CommonParams], ...]) -> type[BaseModel]:
    """A model of every method's knobs, to check one a body gives a method that lacks it."""
    fields: dict[str, Any] = {}
    exclusive = _exclusive(classes)
    for params in classes:
        for name, info in params.model_fields.items():
            # Only the knobs a body gives are checked; an exclusive one may be null elsewhere
            # (the one bag had `evol: null`).
            annotation: Any = info.annotation
            optional = copy(info)
            optional.default = None
            fields.setdefault(name, (annotation | None if name in exclusive else annotation, optional))
    return create_model("EveryKnob", **fields)


@cache
def _exclusive(classes: tuple[type[CommonParams], ...]) -> dict[str, str]:
    return {knob: reason for params in classes for knob, reason in params.exclusive.items()}


_MODELS: dict[str, type[JobCreate]] = {}


def method_models() -> list[type[JobCreate]]:
    """Every method's model, in the order their modules were imported."""
    return list(_MODELS.values())


def model_key(data: dict[str, Any]) -> str | None:
    """Which method's model a body is: its `method`, except that `expand` with `params.evol`
    is Evol-Instruct (the API's original way to ask for it)."""
    method = data.get("method")
    if method == "expand":
        params = data.get("params")
        return "evol_instruct" if isinstance(params, dict) and params.get("evol") is not None else "self_instruct"
    return method if isinstance(method, str) else None


class JobCreate(InputModel):
    """A job body. It validates as the model of its method (`model_key`): one subclass per
    method, with the method's params and rules. This class is what they share; a body with
    no known method is checked against it, so every field's problem is still reported.
    Build a body with `JobCreate.model_validate` or the method's model (`LabelJob(...)`):
    a constructor cannot return another class."""

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
    params: CommonParams = CommonParams()
    curation: Curation = Curation()
    budget: Budget = Budget()

    # The method model's name for `model_key`; "" on classes that are not one.
    key: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.key:
            _MODELS[cls.key] = cls

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler(source)
        if cls.__name__ != "JobCreate":  # by name: the class is not bound yet while pydantic builds it
            return schema

        def as_its_method(data: Any, validate: Any, info: ValidationInfo) -> Any:
            model = _MODELS.get(model_key(data) or "") if isinstance(data, dict) else None
            if model is None:
                return validate(data)
            return model.model_validate(data, context=info.context)

        return core_schema.with_info_wrap_validator_function(as_its_method, schema)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        if cls.__name__ != "JobCreate":
            return handler(schema)
        # Any one of the methods' models (`expand` is two: with `params.evol` or without).
        return handler(TypeAdapter(reduce(operator.or_, method_models())).core_schema)

    @model_validator(mode="after")
    def _inputs_fit_the_method(self, info: ValidationInfo) -> Self:
        if not is_stored(info):  # the stored spec has neither seeds nor teacher names
            self.check_inputs()
        return self

    @model_validator(mode="after")
    def _seeds_system_prompt(self) -> Self:
        """A system prompt the seeds bring (as chat or alpaca rows) is the job's: a job has one."""
        brought = [(n, s.system_prompt) for n, s in enumerate(self.seeds) if s.system_prompt is not None]
        if not brought:
            return self
        first = brought[0][1]
        assert first is not None
        system = self.skill.system_prompt if self.skill.system_prompt is not None else first[1]
        for n, given in brought:
            assert given is not None
            if given[1] != system:
                other = "skill.system_prompt" if self.skill.system_prompt is not None else f"seeds.{brought[0][0]}'s"
                raise ValueError(
                    f"seeds.{n}.{given[0]}: a system prompt unlike {other}; a job has one system prompt"
                    " (skill.system_prompt): give the same one or leave it out"
                )
        self.skill.system_prompt = system
        return self

    @model_validator(mode="after")
    def _one_way_to_name_teachers(self, info: ValidationInfo) -> Self:
        if is_stored(info):
            return self
        if (self.teacher is None) == (self.teachers is None):
            raise ValueError("teacher: give either `teacher` or `teachers`, not both and not neither")
        if self.teachers is not None and len({s.teacher for s in self.teachers}) < len(self.teachers):
            raise ValueError("teachers: each teacher may appear once")
        return self

    def check_inputs(self) -> None:
        """Raise ValueError("<field>: <problem and fix>") when the inputs do not fit the method."""

    def check_source(self, seeds: list[dict[str, Any]]) -> None:
        """Raise ValueError("<problem and fix>") when the seeds read from `source_dataset`
        (known only at creation) do not fit the method."""

    def generators(self) -> list[Generator]:
        """The teacher configurations that generate candidates (feedback)."""
        return []

    def template_contexts(self) -> list[dict[str, Any]]:
        """What the job's templates are tried on at submission: the skill with the first,
        the last and SAMPLED_SEEDS seeds spread between. Not a validator: FastAPI validates
        bodies on the event loop, and rendering is CPU work."""
        base = self._skill_variables()
        contexts = [base | {"instruction": s.instruction, "input": s.input} for s in spread(self.seeds)]
        return contexts or [base]

    def _skill_variables(self) -> dict[str, Any]:
        skill = self.skill
        return {
            "system_prompt": skill.system_prompt,
            "reasoning": skill.reasoning,
            "output_format": skill.output_format,
            "output_schema": skill.output_schema,
            "skill_name": skill.name,
            "skill_description": skill.description,
        }

    def shares(self) -> list[TeacherShare]:
        return self.teachers if self.teachers is not None else [TeacherShare(teacher=self.teacher or "")]


class SeededJob(JobCreate):
    """A method that starts from seeds (given, or a dataset's records)."""

    def check_inputs(self) -> None:
        if not self.seeds and self.source_dataset is None:
            raise ValueError(f"seeds: a {self.method} job needs seeds or a source_dataset")
        if self.topics is not None or self.documents is not None:
            raise ValueError(f"topics: only curate jobs take topics or documents, not {self.method} jobs")


# The seeds a job's template overrides are tried on at submission: the first, the last and
# this many spread evenly between.
SAMPLED_SEEDS = 20


def spread(items: list[Any]) -> list[Any]:
    if len(items) <= SAMPLED_SEEDS + 2:
        return items
    last = len(items) - 1
    picked = {round(k * last / (SAMPLED_SEEDS + 1)) for k in range(SAMPLED_SEEDS + 2)}  # 0 and last among them
    return [items[i] for i in sorted(picked)]
