"""The training job lifecycle on a migrated SQLite database: what a worker may claim, when
a delivery is a duplicate, and how cancels and crashes end."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.base import utcnow
from distillery.db.models import Tenant, TrainingEvent, TrainingJob
from distillery.errors import Conflict, InvalidSpec
from distillery.schemas.training import TrainingJobCreate
from distillery.training import lifecycle
from distillery.training.queries import to_out
from tests.support.training_data import arithmetic, make_dataset, preferences

ATTEMPTS = 3


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    return tmp_path / "model"


def create(session: Session, model_dir: Path, **spec: object) -> TrainingJob:
    body = {"dataset_id": make_dataset(session, "t1", arithmetic(4)), "method": "sft", "base_model": str(model_dir)}
    return lifecycle.create(
        session,
        "t1",
        TrainingJobCreate.model_validate({**body, **spec}),
        hub_cache=model_dir,
        model_dirs=[model_dir.parent],
    )


def kinds(session: Session, job_id: str) -> list[str]:
    return list(
        session.scalars(
            select(TrainingEvent.type).where(TrainingEvent.training_job_id == job_id).order_by(TrainingEvent.id)
        )
    )


def test_the_methods_usual_learning_rate_and_beta_are_filled_in(session, model_dir):
    assert create(session, model_dir).hyperparameters["learning_rate"] == 2e-4
    assert create(session, model_dir, lora=None).hyperparameters["learning_rate"] == 2e-5
    dpo = lifecycle.create(
        session,
        "t1",
        TrainingJobCreate(
            dataset_id=make_dataset(session, "t1", preferences(4), kind="preference"),
            method="dpo",
            base_model=str(model_dir),
        ),
        hub_cache=model_dir,
        model_dirs=[model_dir.parent],
    )
    assert (dpo.hyperparameters["learning_rate"], dpo.hyperparameters["beta"]) == (5e-6, 0.1)


def test_a_dataset_of_the_wrong_kind_is_refused(session, model_dir):
    with pytest.raises(InvalidSpec) as caught:
        create(session, model_dir, method="dpo")
    assert caught.value.details[0]["field"] == "dataset_id"
    assert "needs a preference dataset" in caught.value.message


def test_a_worker_claims_a_job_once_while_it_is_alive(session, model_dir):
    job = create(session, model_dir)
    spec = lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS)
    assert spec is not None and spec.attempt == 1 and spec.dataset["kind"] == "sft"
    assert job.status == "running"
    # The broker delivers the message again (e.g. its visibility timeout passed): dropped.
    assert lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS) is None
    assert job.attempts == 1


def test_a_job_whose_worker_died_restarts_then_fails_after_its_attempts(session, model_dir):
    job = create(session, model_dir)
    for attempt in range(1, ATTEMPTS + 1):
        spec = lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS)
        assert spec is not None and spec.attempt == attempt
        job.heartbeat_at = utcnow() - timedelta(seconds=61)  # the worker was killed
    assert lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS) is None
    assert job.status == "failed"
    assert f"died {ATTEMPTS} times" in (job.error or "")
    assert kinds(session, job.id).count("restarted") == ATTEMPTS - 1


def test_the_reaper_queues_a_silent_job_again_until_its_attempts_are_used_then_fails_it(session, model_dir):
    job, alive = create(session, model_dir), create(session, model_dir)
    lifecycle.start(session, alive.id, stale_after_s=60, max_attempts=ATTEMPTS)
    for attempt in range(1, ATTEMPTS + 1):
        assert lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS) is not None
        job.step = 10 * attempt
        assert lifecycle.reap(session, stale_after_s=60, max_attempts=ATTEMPTS) == []  # heartbeat fresh
        job.heartbeat_at = utcnow() - timedelta(seconds=61)  # the worker was killed
        requeued = lifecycle.reap(session, stale_after_s=60, max_attempts=ATTEMPTS)
        if attempt < ATTEMPTS:
            assert requeued == [job.id] and job.status == "queued"
    assert requeued == [] and job.status == "failed"
    assert job.error is not None and f"died {ATTEMPTS} times" in job.error and "at step 30" in job.error
    assert kinds(session, job.id).count("requeued") == ATTEMPTS - 1
    assert alive.status == "running"


def test_the_reaper_closes_a_silent_job_the_user_asked_to_cancel(session, model_dir):
    job = create(session, model_dir)
    lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS)
    lifecycle.cancel(session, "t1", job.id)
    job.heartbeat_at = utcnow() - timedelta(seconds=61)
    assert lifecycle.reap(session, stale_after_s=60, max_attempts=ATTEMPTS) == []
    assert job.status == "cancelled"


def test_cancelling_a_queued_job_ends_it_and_the_worker_skips_it(session, model_dir):
    job = create(session, model_dir)
    lifecycle.cancel(session, "t1", job.id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS) is None
    with pytest.raises(Conflict):
        lifecycle.cancel(session, "t1", job.id)


def test_cancelling_a_running_job_asks_the_worker_at_its_next_heartbeat(session, model_dir):
    job = create(session, model_dir)
    lifecycle.start(session, job.id, stale_after_s=60, max_attempts=ATTEMPTS)
    assert lifecycle.heartbeat(session, job.id, 3, 10) is False
    lifecycle.cancel(session, "t1", job.id)
    assert job.status == "running" and job.cancel_requested
    assert lifecycle.heartbeat(session, job.id, 4, 10) is True
    lifecycle.finish(session, job.id, "cancelled", "cancelled at step 4", {"steps": 4}, "/artifacts/x")
    assert job.status == "cancelled" and job.metrics == {"steps": 4}
    assert kinds(session, job.id)[-2:] == ["cancel_requested", "cancelled"]


def test_a_steps_train_and_eval_values_merge(session, model_dir):
    from distillery.db.models import TrainingMetric

    job = create(session, model_dir)
    lifecycle.record_step(session, job.id, 5, {"loss": 1.5})
    session.flush()
    lifecycle.record_step(session, job.id, 5, {"eval_loss": 1.7})
    session.flush()
    row = session.get(TrainingMetric, (job.id, 5))
    assert row is not None and row.values == {"loss": 1.5, "eval_loss": 1.7}


def test_another_tenants_job_cannot_be_cancelled(session, model_dir):
    from distillery.errors import NotFound

    job = create(session, model_dir)
    session.add(Tenant(id="t2", name="two"))
    with pytest.raises(NotFound):
        lifecycle.cancel(session, "t2", job.id)


def test_each_method_closes_with_its_own_words():
    training = {"steps": 6, "first_loss": 2.0, "last_loss": 0.5, "eval_loss": None}
    assert lifecycle.closing_message("sft", "succeeded", training) == "trained 6 steps; loss 2.0000 → 0.5000"
    generated = {"prompts": 4, "distinct_samples": 9, "output_dataset_id": "ds_1"}
    assert lifecycle.closing_message("generate", "succeeded", generated) == (
        "4 prompts sampled, 9 distinct answers; candidates dataset ds_1"
    )
    assert lifecycle.closing_message("generate", "cancelled", {"prompts": 2}) == (
        "cancelled after 2 prompts; no dataset written"
    )
    evaluation = {"evaluation": {"prompts": 5, "exact_match": 0.4}}
    assert lifecycle.closing_message("evaluate", "succeeded", evaluation) == (
        "5 gold prompts answered; exact match 40.0%"
    )


def test_the_request_id_it_was_created_under_is_kept_and_shown(session, model_dir):
    body = {"dataset_id": make_dataset(session, "t1", arithmetic(4)), "method": "sft", "base_model": str(model_dir)}
    spec = TrainingJobCreate.model_validate(body)
    job = lifecycle.create(
        session, "t1", spec, hub_cache=model_dir, model_dirs=[model_dir.parent], request_id="req-train-1"
    )
    assert job.request_id == "req-train-1" and to_out(job).request_id == "req-train-1"
    assert create(session, model_dir).request_id is None  # not made by an API request
