"""What a benchmark reads beside its own clock: Postgres deadlocks, process memory, and a
job's progress over time (its pace in the first and the last tenth)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil
import psycopg


def deadlocks(database: str) -> int:
    """Postgres' deadlock count for `database` since its statistics were reset (it is created
    fresh for each run). The statistics reach the view up to a second late."""
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}") as conn:
        row = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def rss_mb(pid: int) -> float:
    """Memory of a process and all its descendants (a Celery worker's pool, uvicorn's
    workers), in MiB: the sum of their proportional set sizes (RSS with each shared page
    split among its sharers, so forked children are not counted twice); RSS where PSS is
    not available."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            info = proc.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / 2**20


@dataclass
class ProgressTrace:
    """(seconds, completed) samples of one job, taken while polling it."""

    total: int
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, completed: int) -> None:
        self.samples.append((time.monotonic(), completed))

    def _first_time(self, at_least: int) -> float | None:
        return next((t for t, done in self.samples if done >= at_least), None)

    def first_tenth_rate(self) -> float | None:
        """Records/s from the first record completed to a tenth of the job completed."""
        start, tenth = self._first_time(1), self._first_time(max(1, self.total // 10))
        if start is None or tenth is None or tenth <= start:
            return None
        done = next(done for t, done in self.samples if t == tenth)
        return (done - 1) / (tenth - start)

    def last_tenth_rate(self) -> float | None:
        """Records/s from nine tenths completed to the last record."""
        nine = self._first_time(self.total - self.total // 10)
        end = self._first_time(self.total)
        if nine is None or end is None or end <= nine:
            return None
        done = next(done for t, done in self.samples if t == nine)
        return (self.total - done) / (end - nine)
