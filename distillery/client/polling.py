"""How `wait()` polls: quick while a job moves, slower while it sits still, until it ends
or the deadline passes. Both clients drive a `Poll` with their own sleep."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from distillery.client.errors import WaitTimeout
from distillery.schemas.pipelines import PipelineOut
from distillery.schemas.status import TERMINAL_STATUSES


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


@dataclass
class Poll:
    """One `wait()`: its deadline, its backoff and the progress it saw last."""

    timeout_s: float | None
    backoff: Backoff = field(default_factory=Backoff)
    deadline: float | None = field(init=False)
    seen: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s

    def delay(self, last: Any, status: str, progress: Any) -> float | None:
        """The pause before polling again, or None once `status` is terminal. Raises
        `WaitTimeout` (carrying `last`, the resource just polled) past the deadline."""
        if status in TERMINAL_STATUSES:
            return None
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise WaitTimeout(f"still {status} after {self.timeout_s:.0f}s", last)
        delay = self.backoff.next_delay(progressed=progress != self.seen)
        self.seen = progress
        return delay


def pipeline_moves(pipeline: PipelineOut) -> Any:
    """What changes while a pipeline makes progress: its stages' statuses and progress."""
    return [(s.status, s.progress) for s in pipeline.stages]
