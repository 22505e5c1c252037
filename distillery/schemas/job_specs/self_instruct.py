"""`expand` by Self-Instruct: new tasks proposed from the seeds, round by round, until
`target_count` (see distillery/methods/self_instruct/)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from distillery.schemas.job_specs.base import CommonParams, SeededJob


class SelfInstructParams(CommonParams):
    # Self-Instruct: each prompt shows 6 seed tasks and 2 generated ones.
    seed_examples: int = Field(default=6, ge=0, le=32)
    generated_examples: int = Field(default=2, ge=0, le=32)
    tasks_per_request: int = Field(default=5, ge=1, le=50)
    max_rounds: int = Field(default=20, ge=1, le=200, description="expand: give up after this many rounds")


class SelfInstructJob(SeededJob):
    key: ClassVar[str] = "self_instruct"
    method: Literal["expand"]
    params: SelfInstructParams = SelfInstructParams()

    def check_inputs(self) -> None:
        super().check_inputs()
        if self.target_count is None:
            raise ValueError("target_count: a Self-Instruct expand job needs the number of tasks to make")

    @property
    def tasks_wanted(self) -> int:
        assert self.target_count is not None  # checked at submission
        return self.target_count
