"""A job's live progress bar, for `Client.wait(progress=True)` and the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from distillery.schemas.jobs import JobOut
from distillery.schemas.status import JobStatus


class _BarAndDetail(Progress):
    """The bar on one line, the counts under it: a line of its own, wrapped at the
    terminal's edge rather than cut there."""

    detail = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield Text(self.detail)


class JobProgress:
    """The live bar of `wait(progress=True)`, `jobs submit --wait` and `jobs wait`; feed it
    every polled job. Rich draws it in a terminal and as a live cell output in Jupyter."""

    _columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),  # whatever width the others leave
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )

    def __init__(self, console: Console | None = None) -> None:
        self._bar = _BarAndDetail(*self._columns, console=console, expand=True)
        self._task = self._bar.add_task("queued", total=None)
        self._first: tuple[float, int] | None = None

    def __enter__(self) -> JobProgress:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def update(self, job: JobOut) -> None:
        p, u = job.progress, job.usage
        now = time.monotonic()
        if self._first is None and job.status == JobStatus.RUNNING:
            self._first = (now, p.completed)
        rate = ""
        if self._first is not None and now > self._first[0]:
            rate = f" · {(p.completed - self._first[1]) / (now - self._first[0]):.1f} items/s"
        self._bar.detail = (
            f"accepted {p.accepted} · rejected {p.rejected} · failed {p.failed}"
            f" · {u.requests} requests · {u.prompt_tokens + u.completion_tokens} tokens · ${u.cost_usd:.4f}{rate}"
        )
        self._bar.update(self._task, description=job.status, total=p.total or None, completed=p.completed)
