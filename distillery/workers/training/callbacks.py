"""Streaming a run into the database: step metrics, events, a heartbeat, and cancel.

Each hook writes in its own short transaction. A cancel is seen in the heartbeat of the
step after it was asked: the trainer is told to save a checkpoint and stop there. A run
that trains nothing (generate, evaluate) beats once a batch of prompts instead."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from distillery.db.session import unit_of_work
from distillery.training import lifecycle
from distillery.training.events import emit

log = logging.getLogger(__name__)

# With token counting on, every log carries the run's totals so far; they are no step's
# metric (tokens_per_second is computed per step instead). The end-of-run log holds
# train_loss, the mean over the run.
RUN_TOTALS = {"train_runtime", "train_tokens_per_second", "num_input_tokens_seen"}


class RunReporter(TrainerCallback):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.cancelled = False
        self.summary: dict[str, Any] = {}
        self.first_loss: float | None = None
        self.last_loss: float | None = None
        self.eval_loss: float | None = None
        # The last training log's values (DPO's rewards/* among them).
        self.last_values: dict[str, float] = {}
        self._tokens = 0
        self._clock = time.monotonic()

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        self._tokens, self._clock = state.num_input_tokens_seen, time.monotonic()
        with unit_of_work() as session:
            lifecycle.heartbeat(session, self.job_id, state.global_step, state.max_steps)
            resumed = f", resumed at step {state.global_step}" if state.global_step else ""
            emit(
                session,
                self.job_id,
                "training_started",
                f"training on {args.device} for {state.max_steps} steps{resumed}",
                total_steps=state.max_steps,
                device=str(args.device),
            )

    def beat(self, state: TrainerState) -> bool:
        """Record progress; True once the user has asked to cancel."""
        with unit_of_work() as session:
            cancel = lifecycle.heartbeat(session, self.job_id, state.global_step, state.max_steps)
        self.cancelled = self.cancelled or cancel
        return self.cancelled

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        if self.beat(state):
            # Keep the last checkpoint: save this step's state, then stop.
            control.should_save = True
            control.should_training_stop = True

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float) and math.isfinite(v)}
        if "train_loss" in numbers:
            self.summary.update(numbers)
            return
        numbers = {k: v for k, v in numbers.items() if k not in RUN_TOTALS}
        if "loss" in numbers:
            self.first_loss = numbers["loss"] if self.first_loss is None else self.first_loss
            self.last_loss = numbers["loss"]
            self.last_values = numbers
            numbers["tokens_per_second"] = self._throughput(state)
        with unit_of_work() as session:
            lifecycle.record_step(session, self.job_id, state.global_step, numbers)
            if "eval_loss" in numbers:
                self.eval_loss = numbers["eval_loss"]
                emit(
                    session,
                    self.job_id,
                    "eval",
                    f"eval loss {numbers['eval_loss']:.4f} at step {state.global_step}",
                    step=state.global_step,
                    eval_loss=numbers["eval_loss"],
                )

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        with unit_of_work() as session:
            emit(
                session,
                self.job_id,
                "checkpoint_saved",
                f"checkpoint at step {state.global_step}",
                step=state.global_step,
            )

    def _throughput(self, state: TrainerState) -> float:
        """Input tokens per second since the previous log (padding excluded)."""
        now = time.monotonic()
        tokens = state.num_input_tokens_seen - self._tokens
        rate = tokens / (now - self._clock) if now > self._clock else 0.0
        self._tokens, self._clock = state.num_input_tokens_seen, now
        return round(rate, 1)


class Heartbeat:
    """Progress of a run that trains nothing: its step is the prompts answered so far, out
    of all it has to answer. Called after each batch; True once the user asked to cancel."""

    def __init__(self, job_id: str, total: int) -> None:
        self.job_id, self.total = job_id, total
        self.cancelled = False

    def __call__(self, done: int) -> bool:
        with unit_of_work() as session:
            cancel = lifecycle.heartbeat(session, self.job_id, done, self.total)
        self.cancelled = self.cancelled or cancel
        return self.cancelled
