"""A pipeline's stages as they run: the spec's stages with its rounds unrolled, and every
reference rewritten to name the concrete stage it means (the rules are in
distillery/schemas/pipelines.py). A pure function of the stored spec, so the stage rows need
keep no copy of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from distillery.schemas.pipelines import OUTPUT, REFERENCE, Rounds, StageIn, substitute


@dataclass(frozen=True)
class PlannedStage:
    name: str
    kind: str
    # References name concrete stages: "@generate#2".
    spec: dict[str, Any]
    # Which copy of a stage in rounds (1, 2, ...); None for a stage outside them.
    round: int | None


class StoredPipeline(BaseModel):
    """A pipeline row's spec read back: the stages and rounds as validated at submission
    (the checks across stages are not run again)."""

    name: str
    stages: list[StageIn]
    rounds: Rounds | None = None


def copy_name(name: str, round: int | None) -> str:
    return name if round is None or round == 1 else f"{name}#{round}"


def planned(stored: dict[str, Any]) -> list[PlannedStage]:
    spec = StoredPipeline.model_validate(stored)
    return expand(spec.stages, spec.rounds)


def expand(stages: Sequence[StageIn], rounds: Rounds | None) -> list[PlannedStage]:
    index = {stage.name: i for i, stage in enumerate(stages)}
    loop = range(index[rounds.stages[0]], index[rounds.stages[-1]] + 1) if rounds else range(0)
    count = rounds.count if rounds else 1
    students = [i for i in loop if OUTPUT.get(stages[i].kind) == "model"]
    newest = stages[students[-1]].name if students else None

    def target(i: int, round: int, name: str) -> str:
        t = index[name]
        if i in loop:
            if t in loop:  # earlier in this round, else the previous round's
                return copy_name(name, round if t < i else round - 1)
            if round >= 2 and newest is not None and OUTPUT.get(stages[t].kind) == "model":
                return copy_name(newest, round - 1)  # the newest student
            return name
        return copy_name(name, count) if t in loop else name

    def instance(i: int, round: int | None) -> PlannedStage:
        stage = stages[i]
        spec = substitute(stage.kind, stage.spec, lambda _, name: REFERENCE + target(i, round or 1, name))
        return PlannedStage(copy_name(stage.name, round), stage.kind, spec, round)

    out = []
    for i in range(len(stages)):
        if i in loop:
            if i == loop.start:
                out += [instance(j, round) for round in range(1, count + 1) for j in loop]
            continue
        out.append(instance(i, None))
    return out
