"""The per-process tally of teacher calls, flushed into `teacher_metrics`.

Records happen on the event loop and flushes on a database worker thread, hence the lock.
Keys per teacher: `requests:<outcome>`, `latency_bucket:<le>` (NOT cumulative: each call
adds to the one bucket it falls in; the collector accumulates), `latency_sum`,
`latency_count`, `prompt_tokens`, `completion_tokens`, `cost_usd`.
"""

from __future__ import annotations

import math
import os
import threading
from bisect import bisect_left
from collections import defaultdict
from decimal import Decimal
from typing import Literal, get_args

from sqlalchemy.orm import Session

from distillery.db.models import TeacherMetric
from distillery.db.upsert import insert_for

Outcome = Literal["ok", "rate_limited", "server_error", "timeout", "connection_error", "client_error"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
# Teacher latencies run from tens of milliseconds (cache-warm small models) to a minute
# (long reasoning completions); the last bound is +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, math.inf)

REQUESTS_PREFIX = "requests:"
BUCKET_PREFIX = "latency_bucket:"

_Key = tuple[str, str]  # (teacher_id, metric)


def bucket_key(le: float) -> str:
    return BUCKET_PREFIX + ("+Inf" if math.isinf(le) else f"{le:g}")


def bucket_bound(key: str) -> float:
    """The upper bound of a `latency_bucket:<le>` key (float() reads "+Inf")."""
    return float(key.removeprefix(BUCKET_PREFIX))


_BUCKET_KEYS = tuple(bucket_key(le) for le in LATENCY_BUCKETS)


class TeacherTally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[_Key, float] = defaultdict(float)

    def record_request(self, teacher_id: str, outcome: str, latency_s: float) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown teacher call outcome {outcome!r}")
        bucket = _BUCKET_KEYS[bisect_left(LATENCY_BUCKETS, latency_s)]
        with self._lock:
            counts = self._counts
            counts[(teacher_id, REQUESTS_PREFIX + outcome)] += 1
            counts[(teacher_id, bucket)] += 1
            counts[(teacher_id, "latency_sum")] += latency_s
            counts[(teacher_id, "latency_count")] += 1

    def record_usage(
        self, teacher_id: str, prompt_tokens: int, completion_tokens: int, cost_usd: Decimal | float
    ) -> None:
        with self._lock:
            counts = self._counts
            counts[(teacher_id, "prompt_tokens")] += prompt_tokens
            counts[(teacher_id, "completion_tokens")] += completion_tokens
            counts[(teacher_id, "cost_usd")] += float(cost_usd)

    def flush(self, session: Session) -> None:
        """Add everything tallied so far to `teacher_metrics` in the session's transaction.

        If the statement raises, the tally is put back and the error propagates. The caller
        commits; a rollback after a successful flush drops these counts (they are metrics:
        the `usage` table is the cost ledger)."""
        with self._lock:
            taken, self._counts = self._counts, defaultdict(float)
        if not taken:
            return
        # Sorted so that concurrent flushes from several processes lock rows in one order
        # on Postgres instead of deadlocking.
        rows = [{"teacher_id": t, "metric": m, "value": v} for (t, m), v in sorted(taken.items())]
        stmt = insert_for(session, TeacherMetric).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["teacher_id", "metric"],
            set_={"value": TeacherMetric.value + stmt.excluded.value},
        )
        try:
            session.execute(stmt)
        except BaseException:
            with self._lock:
                for key, value in taken.items():
                    self._counts[key] += value
            raise

    def pending(self) -> dict[_Key, float]:
        """A copy of what the next flush would write."""
        with self._lock:
            return dict(self._counts)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._counts = defaultdict(float)


_tally = TeacherTally()
# A forked child (a Celery prefork worker) starts with an empty tally and a fresh lock:
# it must not flush its parent's counts a second time, nor inherit a lock held mid-record.
os.register_at_fork(after_in_child=_tally._reset)


def record_request(teacher_id: str, outcome: str, latency_s: float) -> None:
    """One teacher call: its outcome (one of OUTCOMES) and how long it took."""
    _tally.record_request(teacher_id, outcome, latency_s)


def record_usage(teacher_id: str, prompt_tokens: int, completion_tokens: int, cost_usd: Decimal | float) -> None:
    """Tokens and cost of one answered teacher call."""
    _tally.record_usage(teacher_id, prompt_tokens, completion_tokens, cost_usd)


def flush(session: Session) -> None:
    """Add this process's tally to `teacher_metrics` (see TeacherTally.flush)."""
    _tally.flush(session)
