"""Reviewing data in the dashboard, in a real browser (fixtures in conftest.py): a dataset's
rows paged, searched and filtered, a row flagged and a new version made without the flagged
rows, a preference pair's chosen and rejected side by side with the judge's ratings, and the
training pages fitting the screen at 1280 and 2024 pixels wide. Each step is saved as a
screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.dashboard import shot, sign_in
from tests.support.stack import Api, arithmetic_seeds

pytestmark = pytest.mark.integration

# A note a careless template would run as script.
HOSTILE_NOTE = '<img src=x onerror="window.pwned=1"> off by one'
WIDTHS = (1280, 2024)


def _judged_dataset(api: Api, start_simulator: Any, count: int) -> dict[str, Any]:
    """A labeling job's version, its records scored by the judge and the low ones kept out."""
    teacher = api.add_teacher(start_simulator(wrong_rate=0.2))
    curation = {"judge": {"min_score": 9}, "gold": "keep", "near_dedup": None}
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(count), curation=curation)["id"])
    assert job["status"] == "succeeded", job
    return api.get(f"/v1/datasets/{job['dataset_id']}").json()


def _api_rows(api: Api, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"/v1/datasets/{dataset_id}/rows", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_row_viewer_pages_searches_flags_and_makes_a_version_without_the_flagged_rows(
    api, start_simulator, server_url, page
):
    dataset = _judged_dataset(api, start_simulator, 50)
    rows = _api_rows(api, dataset["id"])
    assert len(rows) == dataset["record_count"] > 20
    sign_in(page, server_url, api.key)
    page.goto(f"{server_url}/ui/datasets/{dataset['id']}")
    shown = page.locator("#rows article.review-row")
    expect(shown).to_have_count(20)
    assert shown.first.locator(".prompt").inner_text() == rows[0]["prompt"]
    assert "Judge:" in shown.first.locator(".judge").inner_text()
    assert _fits(page)
    shot(page, "dataset-rows")

    page.click("text=next rows →")
    page.wait_for_url("**offset=20**")
    expect(shown).to_have_count(len(rows) - 20)

    # Search: any case, in the prompt.
    wanted = rows[7]
    page.fill("#row-filters input[name=q]", wanted["prompt"].upper())
    page.click("#row-filters button[type=submit]")
    page.wait_for_url("**q=**")
    expect(shown).to_have_count(1)
    assert shown.first.get_attribute("data-record-id") == str(wanted["record_id"])
    shot(page, "dataset-search")

    # Flag it with a note: back on the same filtered page, the row marked.
    row = page.locator(f"#row-{wanted['record_id']}")
    row.locator("input[name=note]").fill(HOSTILE_NOTE)
    row.locator("button", has_text="Flag").click()
    page.wait_for_url(f"**#row-{wanted['record_id']}")
    assert "q=" in page.url
    expect(row.locator(".status-flagged")).to_have_text("flagged")
    expect(row.locator(".note")).to_have_text(f"Note: {HOSTILE_NOTE}")
    shot(page, "dataset-flagged-row")

    # A second flag, then the flagged filter and the score filter.
    other = rows[2]
    page.goto(f"{server_url}/ui/datasets/{dataset['id']}")
    page.locator(f"#row-{other['record_id']}").locator("button", has_text="Flag").click()
    expect(page.locator(f"#row-{other['record_id']} .status-flagged")).to_be_visible()
    page.select_option("#row-filters select[name=flagged]", "yes")
    page.click("#row-filters button[type=submit]")
    page.wait_for_url("**flagged=yes**")
    assert sorted(int(i) for i in shown.evaluate_all("rows => rows.map(r => r.dataset.recordId)")) == sorted(
        [wanted["record_id"], other["record_id"]]
    )
    lowest = min(r["score"] for r in rows)
    page.goto(f"{server_url}/ui/datasets/{dataset['id']}?max_score={lowest}")
    expect(shown).to_have_count(min(20, len([r for r in rows if r["score"] <= lowest])))
    assert page.locator("#row-filters input[name=max_score]").input_value() == f"{lowest}"

    # The records curation kept out, by reason.
    page.goto(f"{server_url}/ui/datasets/{dataset['id']}")
    page.select_option("#row-filters select[name=reason]", "low_quality")
    page.click("#row-filters button[type=submit]")
    page.wait_for_url("**reason=low_quality**")
    low = _api_rows(api, dataset["id"], view="rejected", reason="low_quality")
    expect(shown).to_have_count(len(low))
    assert set(shown.locator(".reason").all_inner_texts()) == {"low_quality"}
    assert shown.locator("form.flag-form").count() == 0  # only the version's own rows are flagged
    shot(page, "dataset-rejected-rows")

    # Unflag the second row; the new version leaves out the one still flagged.
    page.goto(f"{server_url}/ui/datasets/{dataset['id']}?flagged=yes")
    page.locator(f"#row-{other['record_id']}").locator("button", has_text="Unflag").click()
    expect(shown).to_have_count(1)
    page.click("#new-version button")
    page.wait_for_url(lambda url: "/ui/datasets/" in url and dataset["id"] not in url)
    new_id = page.url.rsplit("/", 1)[-1]
    version = api.get(f"/v1/datasets/{new_id}").json()
    assert version["record_count"] == dataset["record_count"] - 1 and version["parent_id"] == dataset["id"]
    assert "1 flagged rows dropped" in page.locator("main > p.muted").inner_text()
    expect(shown).to_have_count(20)
    download = api.get(f"/v1/datasets/{new_id}/download", params={"format": "alpaca"})
    prompts = [json.loads(line)["instruction"] for line in download.text.splitlines()]
    assert wanted["prompt"] not in prompts and len(prompts) == version["record_count"]
    shot(page, "dataset-new-version")
    assert page.evaluate("window.pwned") is None


def test_a_preference_pair_shows_chosen_and_rejected_side_by_side_with_the_judges_ratings(
    api, shared_simulator, server_url, page
):
    teacher = api.add_teacher(shared_simulator)
    # No gold answers (they would decide the pairs without the judge).
    seeds = [
        {"instruction": s["instruction"], "candidates": [f"Answer: {s['answer']}", f"Answer: {int(s['answer']) + 9}"]}
        for s in arithmetic_seeds(4)
    ]
    job = api.submit_label_job(teacher, seeds, method="feedback", curation={"near_dedup": None})
    job = api.wait_for_job(job["id"])
    assert job["status"] == "succeeded", job
    first = _api_rows(api, job["dataset_id"])[0]
    sign_in(page, server_url, api.key)
    page.goto(f"{server_url}/ui/datasets/{job['dataset_id']}")
    row = page.locator(f"#row-{first['record_id']}")
    chosen, rejected = row.locator(".side-chosen"), row.locator(".side-rejected")
    expect(chosen.locator(".response")).to_have_text(first["preference"]["chosen"]["response"])
    expect(rejected.locator(".response")).to_have_text(first["preference"]["rejected"]["response"])
    left, right = chosen.bounding_box(), rejected.bounding_box()
    assert left is not None and right is not None
    assert left["x"] + left["width"] <= right["x"] and abs(left["y"] - right["y"]) < 1
    rationale = first["preference"]["chosen"]["ratings"][0]["rationale"]
    assert rationale in chosen.locator("table.ratings").inner_text()
    assert f"score {first['preference']['chosen']['score']:g}" in chosen.locator("h3").inner_text()
    assert _fits(page)
    shot(page, "dataset-preference")


def _training_job(api: Api, dataset_id: str, tmp_path: Path) -> str:
    """A training job with long values: a deep model path, forty LoRA modules, a long event
    message and a few steps of metrics (as a running job leaves them)."""
    from distillery.db.models import TrainingEvent, TrainingMetric
    from distillery.db.session import unit_of_work

    model = tmp_path.joinpath(*(["a-rather-long-directory-name-for-a-student-model"] * 4))
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    modules = [f"model.layers.{i}.self_attn.q_proj" for i in range(40)]
    body = {"dataset_id": dataset_id, "method": "sft", "base_model": str(model), "lora": {"target_modules": modules}}
    response = api.post("/v1/training-jobs", json=body)
    assert response.status_code == 202, response.text
    training_job_id = str(response.json()["id"])
    with unit_of_work() as session:
        session.add(TrainingEvent(training_job_id=training_job_id, type="note", message="/" + "x" * 400))
        session.add_all(
            TrainingMetric(training_job_id=training_job_id, step=s, values={"loss": 2.0 / s, "learning_rate": 2e-4})
            for s in range(1, 6)
        )
    return training_job_id


def test_the_training_pages_fit_the_screen_at_1280_and_2024_pixels(api, shared_simulator, server_url, page, tmp_path):
    teacher = api.add_teacher(shared_simulator)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(3))["id"])
    training_job_id = _training_job(api, job["dataset_id"], tmp_path)
    sign_in(page, server_url, api.key)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server_url}/ui/training/{training_job_id}")
        expect(page.locator("#training-fields dt", has_text="hyperparameters")).to_be_visible()
        expect(page.locator("#curves .chart").first).to_be_visible()
        expect(page.locator("#training-events tbody tr").first).to_be_visible()
        assert "q_proj" in page.locator("#training-fields").inner_text()
        assert _fits(page), f"the training job page overflows at {width} px"
        shot(page, f"training-job-{width}")
        page.goto(f"{server_url}/ui/training")
        expect(page.locator(f"a[href='/ui/training/{training_job_id}']")).to_be_visible()
        assert _fits(page), f"the training list overflows at {width} px"
        shot(page, f"training-{width}")
