"""The dashboard's pipeline pages in a real browser (fixtures in conftest.py): the list, a
run's stages with links to their jobs, its report and the gold-set chart, and another
tenant's run as "not found".

The run is a real two-stage label pipeline through the API, the workers and the simulated
teacher; its first stage labels an uploaded gold set, which gives the teacher's accuracy.
The training stages that score a student would take minutes on a CPU runner
(tests/integration/pipelines/test_training_stages.py runs them and checks the report's
numbers), so here they are written into the ledger as a finished run leaves them: this
test checks that the page draws what the report says."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.dashboard import shot, sign_in, sign_out
from tests.support.pipelines import label, submit, wait_for
from tests.support.stack import Api, arithmetic_seeds
from tests.support.training_api import upload

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A pipeline name a careless template would run as script.
HOSTILE_NAME = '<img src=x onerror="window.pwned=1"> loop'
STUDENT_EXACT_MATCH = 0.625
SFT_METRICS = {"steps": 12, "first_loss": 2.5, "last_loss": 0.75}


def _gold(api: Api, count: int) -> dict[str, Any]:
    lines = [
        {"id": f"g{i}", "instruction": s["instruction"], "output": s["answer"]}
        for i, s in enumerate(arithmetic_seeds(count, offset=60))
    ]
    return upload(api, "gold", "eval", lines)


def _add_trained_stages(api: Api, pipeline_id: str, gold_id: str, prompts: int) -> None:
    """An sft stage that trained and an evaluate stage that scored the student on the gold
    set, as finished training jobs leave them."""
    from distillery.db.base import new_id
    from distillery.db.models import PipelineStage, TrainingJob
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import tenant_for_key

    with unit_of_work() as session:
        tenant_id = tenant_for_key(session, api.key)
        assert tenant_id is not None
        stages = [
            ("sft", None, SFT_METRICS),
            (
                "evaluate",
                {"dataset_id": gold_id, "n": prompts},
                {"evaluation": {"prompts": prompts, "exact_match": STUDENT_EXACT_MATCH}},
            ),
        ]
        for position, (kind, evaluate, metrics) in enumerate(stages, start=2):
            job = TrainingJob(
                id=new_id("train"),
                tenant_id=tenant_id,
                dataset_id=gold_id,
                method=kind,
                base_model="tiny-student",
                hyperparameters={},
                eval_split=0.0,
                evaluate=evaluate,
                status="succeeded",
                step=metrics.get("steps", 0),
                total_steps=metrics.get("steps"),
                metrics=metrics,
                pipeline_id=pipeline_id,
            )
            session.add(job)
            session.flush()  # no ORM relationships: rows go in the order they are flushed
            session.add(
                PipelineStage(
                    pipeline_id=pipeline_id,
                    position=position,
                    name=kind,
                    kind=kind,
                    status="succeeded",
                    training_job_id=job.id,
                )
            )


def test_a_pipeline_is_listed_and_its_page_shows_stages_report_and_the_gold_chart(
    api, other_api, start_simulator, server_url, page
):
    teacher = api.add_teacher(start_simulator(latency_ms=50, wrong_rate=0.25, seed=7))["name"]
    gold = _gold(api, 8)
    body = {
        "name": HOSTILE_NAME,
        "stages": [
            # The teacher over the gold set: mismatches are rejected (gold_mismatch) and scored.
            {"name": "teacher", "kind": "job", "spec": label(teacher, seeds=[], source_dataset=gold["id"])},
            {"name": "relabel", "kind": "job", "spec": label(teacher, seeds=[], source_dataset="@teacher")},
        ],
    }
    run = submit(api, body)

    # Opened while it runs: the page follows the run live and reloads when it ends.
    sign_in(page, server_url, api.key)
    page.goto(f"{server_url}/ui/pipelines/{run['id']}")
    expect(page.locator("h1 .status")).to_have_text("succeeded", timeout=120_000)
    done = wait_for(api, run["id"])
    assert done["status"] == "succeeded", done["error"]
    expect(page.locator("#no-evaluation")).to_be_visible()
    assert page.locator("#gold-chart").count() == 0

    page.goto(f"{server_url}/ui/pipelines")
    row = page.locator(f'tr[data-pipeline-id="{run["id"]}"]')
    assert row.locator("a").inner_text() == HOSTILE_NAME
    assert row.locator('[data-field="status"]').inner_text() == "succeeded"
    assert row.locator('[data-field="done"]').inner_text() == "2/2"
    assert row.locator('[data-field="cost"]').inner_text() == f"{done['cost_usd']:.4f}"
    shot(page, "pipelines")

    _add_trained_stages(api, run["id"], gold["id"], prompts=8)
    report = {s["name"]: s for s in api.get(f"/v1/pipelines/{run['id']}/report").json()["stages"]}
    teacher_gold = report["teacher"]["gold"]
    assert teacher_gold is not None and teacher_gold["scored"] == 8
    assert report["evaluate"]["evaluation"]["teacher"] == teacher_gold

    row.locator("a").click()
    page.wait_for_url(f"**/ui/pipelines/{run['id']}")
    assert page.locator("h1").inner_text().startswith(HOSTILE_NAME)
    stages = page.locator("#stages tbody tr")
    assert stages.locator("td:nth-child(2)").all_inner_texts() == ["teacher", "relabel", "sft", "evaluate"]
    for n, stage in enumerate(done["stages"]):
        link = stages.nth(n).locator(f'a[href="/ui/jobs/{stage["job_id"]}"]')
        assert link.inner_text() == stage["job_id"]
    assert stages.nth(0).locator('[data-field="done"]').inner_text() == "8/8 items"
    assert stages.nth(2).locator('[data-field="done"]').inner_text() == "12/12 steps"
    assert stages.nth(3).locator("a").get_attribute("href").startswith("/ui/training/train_")

    table = page.locator("#report")
    teacher_row = table.locator('tr[data-stage-name="teacher"]')
    records = report["teacher"]["records"]
    assert teacher_row.locator('[data-col="kept"]').inner_text() == str(records["kept"])
    rejected = teacher_row.locator('[data-col="rejected"]').inner_text()
    assert rejected.split()[0] == str(records["rejected"])
    assert all(reason in rejected for reason in list(records["rejected_by_reason"])[:3])
    assert teacher_row.locator('[data-col="requests"]').inner_text().split()[0] == str(
        report["teacher"]["teacher"]["requests"]
    )
    teacher_percent = f"{round(teacher_gold['accuracy'] * 100, 1):.1f}%"
    assert teacher_row.locator('[data-col="teacher"]').inner_text().startswith(teacher_percent)
    sft_row = table.locator('tr[data-stage-name="sft"]')
    assert sft_row.locator('[data-col="steps"]').inner_text() == "12"
    assert sft_row.locator('[data-col="loss"]').inner_text() == "2.5 → 0.75"
    evaluated = table.locator('tr[data-stage-name="evaluate"]')
    assert evaluated.locator('[data-col="student"]').inner_text().startswith("62.5%")
    assert evaluated.locator('[data-col="teacher"]').inner_text().startswith(teacher_percent)

    # The chart: one group (the evaluate stage), the student's bar beside the teacher's.
    # (SVG nodes have text content, not an HTML element's inner text.)
    chart = page.locator("#gold-chart svg")
    assert chart.locator(".gold-group").count() == 1
    student_bar = chart.locator('rect[data-series="student"]')
    teacher_bar = chart.locator('rect[data-series="teacher"]')
    assert student_bar.get_attribute("data-percent") == "62.5"
    assert float(student_bar.get_attribute("width")) == pytest.approx(0.625 * 400)
    assert teacher_bar.get_attribute("data-percent") == f"{round(teacher_gold['accuracy'] * 100, 1)}"
    assert float(teacher_bar.get_attribute("width")) == pytest.approx(teacher_gold["accuracy"] * 400, abs=0.1)
    assert chart.locator('text.value[data-series="student"]').text_content() == "62.5%"
    assert chart.locator('text.value[data-series="teacher"]').text_content() == teacher_percent
    assert chart.get_attribute("role") == "img"
    assert "student exact match 62.5%" in chart.locator("desc").text_content()
    assert "exact match" in chart.locator("title").first.text_content()
    assert chart.locator(".legend text").all_text_contents() == ["student exact match", "teacher accuracy"]
    assert page.locator("#no-evaluation").count() == 0
    assert "stage_succeeded" in page.locator("#events").inner_text()
    assert page.evaluate("window.pwned") is None
    shot(page, "pipeline")

    # A stage's link leads to its own job page.
    stages.nth(0).locator("a").first.click()
    page.wait_for_url(f"**/ui/jobs/{done['stages'][0]['job_id']}")
    assert page.locator('#job [data-field="done"]').inner_text() == "8/8"

    # Another tenant sees neither the run nor its page.
    sign_out(page)
    sign_in(page, server_url, other_api.key)
    page.goto(f"{server_url}/ui/pipelines")
    assert page.locator(f'tr[data-pipeline-id="{run["id"]}"]').count() == 0
    response = page.goto(f"{server_url}/ui/pipelines/{run['id']}")
    assert response.status == 404 and "not found" in page.locator("main").inner_text()
    assert HOSTILE_NAME not in page.content()
