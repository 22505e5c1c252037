"""The Prometheus collector: reads counters and live state at scrape time.

One short read-only transaction for the database, then the broker; nothing is cached
between scrapes, so every API replica answers the same figures.

Teacher ids and names tell tenants apart, so the per-teacher series are only for a scrape
that proved it is the operator's (DISTILLERY_METRICS_TOKEN); any other gets the same
families summed over all teachers, with no teacher labels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kombu.exceptions import ChannelError
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distillery.db.models import Job, Teacher, TeacherMetric, WorkItem
from distillery.db.session import unit_of_work
from distillery.observability import http_metrics
from distillery.observability.teacher_metrics import (
    BUCKET_PREFIX,
    LATENCY_BUCKETS,
    OUTCOMES,
    REQUESTS_PREFIX,
    bucket_bound,
)
from distillery.queue import SYNTHESIS, TRAINING, celery_app
from distillery.schemas.status import UNFINISHED_STATUSES, ItemStatus, JobStatus

log = logging.getLogger(__name__)

ACTIVE_JOB_STATUSES = UNFINISHED_STATUSES
WORK_ITEM_STATES = tuple(s.value for s in ItemStatus)
QUEUES = (SYNTHESIS, TRAINING)
# A scrape waits at most this long for a broker that does not answer.
BROKER_TIMEOUT_S = 2.0


@dataclass
class _TeacherCounters:
    name: str
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class _Snapshot:
    teachers: dict[str, _TeacherCounters]
    work_items: dict[str, int]
    jobs: dict[str, int]


class DistilleryCollector(Collector):
    def __init__(self, *, per_teacher: bool) -> None:
        self.per_teacher = per_teacher

    def collect(self) -> Iterator[Metric]:
        with unit_of_work() as session:
            snapshot = _read(session)
        teachers = snapshot.teachers if self.per_teacher else _summed(snapshot.teachers)
        yield from _teacher_families(teachers, labelled=self.per_teacher)
        yield _gauge(
            "distillery_work_items", "Work items of queued or running jobs, by state.", "state", snapshot.work_items
        )
        yield _gauge("distillery_jobs", "Jobs by status.", "status", snapshot.jobs)
        depths = queue_depths()
        if depths:
            yield _gauge("distillery_queue_depth", "Messages waiting in a Celery queue.", "queue", depths)


def build_registry(*, per_teacher: bool) -> CollectorRegistry:
    """A registry of its own: the global one would also export this process's Python and
    GC metrics, which say nothing about the workers that do the work. The API's request
    metrics (http_metrics.py): this process's, or every API process's in multiprocess mode."""
    registry = CollectorRegistry()
    registry.register(DistilleryCollector(per_teacher=per_teacher))
    if http_metrics.shared_between_processes():
        MultiProcessCollector(registry)  # every API process's counts, from their files
    else:
        for metric in http_metrics.COLLECTORS:
            registry.register(metric)
    return registry


def _read(session: Session) -> _Snapshot:
    teachers: dict[str, _TeacherCounters] = {}
    rows = session.execute(
        select(TeacherMetric.teacher_id, TeacherMetric.metric, TeacherMetric.value, Teacher.name).outerjoin(
            Teacher, Teacher.id == TeacherMetric.teacher_id
        )
    )
    for teacher_id, metric, value, name in rows:
        # A deleted teacher keeps its counters under its id, with an empty name.
        teachers.setdefault(teacher_id, _TeacherCounters(name or "")).values[metric] = value

    work_items = dict.fromkeys(WORK_ITEM_STATES, 0)
    by_state = session.execute(
        select(WorkItem.status, func.count())
        .join(Job, Job.id == WorkItem.job_id)
        .where(Job.status.in_(ACTIVE_JOB_STATUSES))
        .group_by(WorkItem.status)
    )
    work_items.update(by_state.all())

    jobs = dict.fromkeys((s.value for s in JobStatus), 0)
    jobs.update(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    return _Snapshot(teachers, work_items, jobs)


def _summed(teachers: dict[str, _TeacherCounters]) -> dict[str, _TeacherCounters]:
    """Every teacher's counters added up, as one unnamed teacher."""
    total = _TeacherCounters("")
    for counters in teachers.values():
        for metric, value in counters.values.items():
            total.values[metric] = total.values.get(metric, 0.0) + value
    return {"": total}


def _teacher_families(teachers: dict[str, _TeacherCounters], *, labelled: bool) -> Iterator[Metric]:
    labels = ["teacher_id", "teacher"] if labelled else []
    requests = CounterMetricFamily(
        "distillery_teacher_requests", "Teacher calls by outcome.", labels=[*labels, "outcome"]
    )
    tokens = CounterMetricFamily("distillery_teacher_tokens", "Tokens billed by teachers.", labels=[*labels, "kind"])
    cost = CounterMetricFamily("distillery_teacher_cost_usd", "Cost of teacher calls in USD.", labels=labels)
    duration = HistogramMetricFamily(
        "distillery_teacher_request_duration_seconds", "Duration of teacher calls.", labels=labels
    )
    for teacher_id, counters in sorted(teachers.items()):
        ids, values = [teacher_id, counters.name] if labelled else [], counters.values
        # Every outcome appears, 0 when none, so rate() sees a series before its first event.
        for outcome in OUTCOMES:
            requests.add_metric([*ids, outcome], values.get(REQUESTS_PREFIX + outcome, 0.0))
        tokens.add_metric([*ids, "prompt"], values.get("prompt_tokens", 0.0))
        tokens.add_metric([*ids, "completion"], values.get("completion_tokens", 0.0))
        cost.add_metric(ids, values.get("cost_usd", 0.0))
        if "latency_count" in values:
            duration.add_metric(ids, _cumulative_buckets(values), values.get("latency_sum", 0.0))
    yield from (requests, tokens, cost, duration)


def _cumulative_buckets(values: dict[str, float]) -> list[tuple[str, float]]:
    """Stored buckets count the calls that fell in each one; Prometheus wants, for each
    bound, the calls at or below it. Bounds stored by an older bucket layout are kept."""
    stored = {bucket_bound(key): value for key, value in values.items() if key.startswith(BUCKET_PREFIX)}
    total, out = 0.0, []
    for le in sorted(set(LATENCY_BUCKETS) | set(stored)):
        total += stored.get(le, 0.0)
        out.append((floatToGoString(le), total))
    return out


def _gauge(name: str, documentation: str, label: str, values: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue; empty when the broker cannot be reached."""
    try:
        with celery_app().connection_for_read() as conn:
            # Fail fast: without this kombu retries a refused connection for several seconds.
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
            return {name: _message_count(conn.default_channel, name) for name in QUEUES}
    except Exception:
        log.debug("broker unreachable: no queue depth this scrape", exc_info=True)
        return {}


def _message_count(channel: Any, name: str) -> int:
    try:
        return int(channel.queue_declare(queue=name, passive=True).message_count)
    except ChannelError as exc:
        # Redis drops a list when it empties, and kombu answers NOT_FOUND for it: that is 0.
        # (kombu's virtual transports set reply_code to the string "404".)
        if str(getattr(exc, "reply_code", "")) == "404":
            return 0
        raise
