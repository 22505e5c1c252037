"""`feedback`: candidates judged into preference pairs (see distillery/methods/feedback.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from distillery.schemas.job_specs.base import CommonParams, Generator, SeededJob

NEEDS_GENERATORS = "params.generators: needed unless every seed brings two or more distinct `candidates`"


class FeedbackParams(CommonParams):
    generators: list[Generator] | None = Field(default=None, max_length=8, description="configurations that answer")
    judge_mode: Literal["rating", "pairwise"] = "rating"
    min_margin: float = Field(default=1.0, ge=0.0, le=5.0)

    exclusive: ClassVar[dict[str, str]] = {"generators": "only feedback jobs generate candidates"}

    def check(self) -> None:
        if self.turns > 1 or self.samples_per_item > 1:
            raise ValueError("turns: feedback judges single responses (turns and samples_per_item 1)")
        super().check()


class FeedbackJob(SeededJob):
    key: ClassVar[str] = "feedback"
    method: Literal["feedback"]
    params: FeedbackParams = FeedbackParams()

    def check_inputs(self) -> None:
        super().check_inputs()
        if not self.params.generators and any(len(set(s.candidates or [])) < 2 for s in self.seeds):
            raise ValueError(NEEDS_GENERATORS)

    def check_source(self, seeds: list[dict[str, Any]]) -> None:
        # A candidates dataset (an upload, or a student's samples from a generate job)
        # brings its own; any other dataset brings one answer per record. In a candidates
        # dataset, a record whose samples all agree is rejected alone (too_few_candidates).
        if not self.params.generators and all(len(set(s.get("candidates") or [])) < 2 for s in seeds):
            raise ValueError(
                "params.generators: needed unless source_dataset's records bring two or more distinct"
                " `candidates` (a candidates upload, or a generate job's dataset)"
            )

    def generators(self) -> list[Generator]:
        return self.params.generators or []
