"""How `wait()` paces its polls: quick while a job moves, slower while it sits still."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distillery.schemas.pipelines import PipelineOut
from distillery.schemas.status import TERMINAL_STATUSES

TERMINAL = TERMINAL_STATUSES


@dataclass
class Backoff:
    initial_s: float = 0.5
    factor: float = 1.5
    maximum_s: float = 5.0

    def __post_init__(self) -> None:
        self._delay = self.initial_s

    def next_delay(self, progressed: bool) -> float:
        """The pause before the next poll; progress since the last poll resets it."""
        self._delay = self.initial_s if progressed else min(self.maximum_s, self._delay * self.factor)
        return self._delay


def pipeline_moves(pipeline: PipelineOut) -> Any:
    """What changes while a pipeline makes progress: its stages' statuses and progress."""
    return [(s.status, s.progress) for s in pipeline.stages]
