"""`expand` by Evol-Instruct: each seed evolves over rounds (see distillery/methods/evol.py).
Asked for as an `expand` job with `params.evol`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from distillery.schemas.base import InputModel
from distillery.schemas.job_specs.base import CommonParams, SeededJob

EvolOperation = Literal["add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth"]


class Evol(InputModel):
    # WizardLM evolved its data over 4 rounds.
    rounds: int = Field(default=4, ge=1, le=10)
    operations: list[EvolOperation] = Field(
        default=["add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth"],
        min_length=1,
    )


class EvolParams(CommonParams):
    evol: Evol = Field(description="expand by Evol-Instruct instead of Self-Instruct")

    exclusive: ClassVar[dict[str, str]] = {"evol": "Evol-Instruct is a kind of expand job"}


class EvolInstructJob(SeededJob):
    key: ClassVar[str] = "evol_instruct"
    method: Literal["expand"]
    params: EvolParams
