"""The per-process teacher tally, what a flush adds to `teacher_metrics`, and the collector
that reads it back, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from distillery.db.migrate import upgrade
from distillery.db.models import TeacherMetric
from distillery.db.session import make_engine, reset_engine, unit_of_work
from distillery.observability.collector import WORK_ITEM_STATES, _cumulative_buckets, build_registry
from distillery.observability.teacher_metrics import OUTCOMES, TeacherTally
from distillery.queue import TRAINING, celery_app
from distillery.settings import get_settings


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def _stored(session: Session, teacher_id: str = "tch_a") -> dict[str, float]:
    rows = session.execute(
        select(TeacherMetric.metric, TeacherMetric.value).where(TeacherMetric.teacher_id == teacher_id)
    )
    return dict(rows.all())


def test_two_flushes_add_up(session):
    tally = TeacherTally()
    tally.record_request("tch_a", "ok", 0.2)
    tally.record_request("tch_a", "rate_limited", 0.02)
    tally.record_usage("tch_a", 100, 20, Decimal("0.0015"))
    tally.record_request("tch_b", "timeout", 61.0)
    tally.flush(session)
    session.commit()

    tally.record_request("tch_a", "ok", 0.7)
    tally.record_usage("tch_a", 50, 5, 0.0005)
    tally.flush(session)
    session.commit()

    a = _stored(session)
    assert a["requests:ok"] == 2
    assert a["requests:rate_limited"] == 1
    assert a["latency_count"] == 3
    assert a["latency_sum"] == pytest.approx(0.92)
    assert a["prompt_tokens"] == 150
    assert a["completion_tokens"] == 25
    assert a["cost_usd"] == pytest.approx(0.002)
    assert _stored(session, "tch_b") == {
        "requests:timeout": 1,
        "latency_bucket:+Inf": 1,
        "latency_sum": 61.0,
        "latency_count": 1,
    }
    assert tally.pending() == {}


def test_flushing_nothing_runs_no_statement(session):
    statements: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2]))
    tally = TeacherTally()
    tally.flush(session)
    assert statements == []

    tally.record_usage("tch_a", 1, 1, 0)
    tally.flush(session)
    assert [s.split()[0] for s in statements if "teacher_metrics" in s] == ["INSERT"]


def test_a_failed_flush_keeps_the_tally(session, tmp_path):
    tally = TeacherTally()
    tally.record_request("tch_a", "server_error", 1.5)
    tally.record_usage("tch_a", 10, 0, 0.01)
    before = tally.pending()

    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with Session(unmigrated) as broken, pytest.raises(OperationalError, match="no such table"):
        tally.flush(broken)
    unmigrated.dispose()
    assert tally.pending() == before

    # Calls recorded meanwhile are kept alongside; the next good flush writes them all.
    tally.record_request("tch_a", "server_error", 0.3)
    tally.flush(session)
    session.commit()
    stored = _stored(session)
    assert stored["requests:server_error"] == 2
    assert stored["cost_usd"] == pytest.approx(0.01)
    assert stored["latency_count"] == 2


def test_latencies_fall_in_one_bucket_each_and_accumulate_for_prometheus(session):
    tally = TeacherTally()
    for latency in (0.01, 0.05, 0.06, 0.5, 0.5, 3.0, 59.9, 600.0):
        tally.record_request("tch_a", "ok", latency)
    tally.flush(session)
    session.commit()
    stored = _stored(session)

    buckets = {k.removeprefix("latency_bucket:"): v for k, v in stored.items() if k.startswith("latency_bucket:")}
    # A bound is inclusive (Prometheus "le"): 0.05 and 0.5 land in their own buckets.
    assert buckets == {"0.05": 2, "0.1": 1, "0.5": 2, "5": 1, "60": 1, "+Inf": 1}
    assert _cumulative_buckets(stored) == [
        ("0.05", 2),
        ("0.1", 3),
        ("0.25", 3),
        ("0.5", 5),
        ("1.0", 5),
        ("2.5", 5),
        ("5.0", 6),
        ("10.0", 6),
        ("30.0", 6),
        ("60.0", 7),
        ("+Inf", 8),
    ]
    assert stored["latency_count"] == 8


def test_an_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        TeacherTally().record_request("tch_a", "maybe", 0.1)


@pytest.fixture
def embedded_stack(tmp_path, monkeypatch) -> Iterator[None]:
    """The embedded deployment: SQLite database, kombu's SQLAlchemy transport as broker."""

    def reset() -> None:
        get_settings.cache_clear()
        celery_app.cache_clear()
        reset_engine()

    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DISTILLERY_DATABASE_URL", "")
    monkeypatch.setenv("DISTILLERY_BROKER_URL", "")
    reset()
    upgrade(get_settings().resolved_database_url)
    yield
    reset()


def test_the_collector_reads_the_embedded_stack(embedded_stack):
    tally = TeacherTally()
    tally.record_request("tch_gone", "timeout", 30.0)
    with unit_of_work() as session:
        tally.flush(session)
    for _ in range(2):
        celery_app().send_task("distillery.test.never_run", queue=TRAINING)

    families = text_string_to_metric_families(generate_latest(build_registry(per_teacher=True)).decode())
    samples = [s for f in families for s in f.samples]

    def values(name: str, label: str) -> dict[str, float]:
        return {s.labels[label]: s.value for s in samples if s.name == name}

    # The SQLAlchemy transport counts waiting messages as Redis does.
    assert values("distillery_queue_depth", "queue") == {"synthesis": 0, "training": 2}
    assert values("distillery_work_items", "state") == dict.fromkeys(WORK_ITEM_STATES, 0)
    assert values("distillery_jobs", "status")["running"] == 0
    requests = {
        s.labels["outcome"]: s.value
        for s in samples
        if s.labels.get("teacher_id") == "tch_gone"
        and s.labels.get("teacher") == ""
        and s.name == "distillery_teacher_requests_total"
    }
    assert requests == {**dict.fromkeys(OUTCOMES, 0), "timeout": 1}
