"""The dashboard in a real browser: Debian's Chromium, driven by Playwright (never a
downloaded browser). Each page is saved as a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.support.server import api_server
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "screenshots"
# A job name a careless template would run as script.
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="module")
def server_url(stack_env: dict[str, str], logs: Path) -> Iterator[str]:
    with api_server(stack_env, logs) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    # A script error or any 5xx fails the test. (The browser also logs 4xx loads as console
    # errors; those are the tests' own wrong keys and missing ids, or absent training routes.)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response", lambda response: response.status >= 500 and problems.append(f"{response.status} {response.url}")
    )
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and problems.append(message.text)
        ),
    )
    yield page
    context.close()
    assert problems == []


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _sign_in(page: Any, server_url: str, key: str) -> None:
    page.goto(f"{server_url}/ui/jobs")
    assert page.url.endswith("/ui/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/jobs")


def test_jobs_job_rejected_records_and_dataset_download_in_a_browser(api, start_simulator, server_url, page, tmp_path):
    teacher = api.add_teacher(start_simulator(latency_ms=10, malformed_rate=0.5, seed=11))
    seeds = arithmetic_seeds(30)
    job = api.wait_for_job(api.submit_label_job(teacher, seeds, name=HOSTILE_NAME)["id"])
    assert job["status"] == "succeeded" and job["progress"]["rejected"] > 0

    _sign_in(page, server_url, api.key)
    row = page.locator(f'tr[data-job-id="{job["id"]}"]')
    assert row.locator("a").inner_text() == HOSTILE_NAME
    assert row.locator('[data-field="status"]').inner_text() == "succeeded"
    _shot(page, "jobs")

    row.locator("a").click()
    page.wait_for_url(f"**/ui/jobs/{job['id']}")
    assert page.locator('#job [data-field="done"]').inner_text() == "30/30"
    assert page.locator('#job [data-field="rejected"]').inner_text() == str(job["progress"]["rejected"])
    assert "planned" in page.locator("#events").inner_text()
    _shot(page, "job")

    page.select_option("select[name=status]", "rejected")
    page.click("#record-filters button[type=submit]")
    page.wait_for_url("**status=rejected**")
    shown = page.locator("details.record")
    assert shown.count() == job["progress"]["rejected"]
    assert set(shown.locator("summary .reason").all_inner_texts()) == {"missing_answer"}
    assert "missing_answer" in page.locator("select[name=reason]").inner_text()
    shown.first.locator("summary").click()
    body = shown.first.locator(".record-body")
    assert body.is_visible() and "Prompt messages" in body.inner_text() and "Raw reply" in body.inner_text()
    _shot(page, "job-rejected")

    accepted = api.records(job["id"], status="accepted")[0]
    page.goto(f"{server_url}/ui/jobs/{job['id']}")
    page.fill("input[name=q]", accepted["instruction"])
    page.click("#record-filters button[type=submit]")
    page.wait_for_url("**q=**")
    assert page.locator("details.record summary .snippet").all_inner_texts() == [accepted["instruction"]]

    page.goto(f"{server_url}/ui/datasets")
    page.click(f"a[href='/ui/datasets/{job['dataset_id']}']")
    page.wait_for_selector("#charts svg")
    # Whatever the stats hold, numbers are summarised and distributions drawn as charts.
    assert page.locator("#charts .chart svg rect.bar").count() > 0
    assert page.locator("#charts .chart h3").first.inner_text() == "summary"
    _shot(page, "dataset")
    with page.expect_download() as pending:
        page.click("[data-download='alpaca.jsonl']")
    saved = tmp_path / "download.jsonl"
    pending.value.save_as(saved)
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert len(rows) == job["progress"]["accepted"] and set(rows[0]) == {"instruction", "input", "output"}

    # The training page renders whether or not this server has training routes yet.
    page.goto(f"{server_url}/ui/training")
    page.wait_for_function("document.getElementById('training-status').textContent !== 'Loading…'")
    _shot(page, "training")

    assert page.evaluate("window.pwned") is None
    for path in ("/ui/jobs", f"/ui/jobs/{job['id']}", f"/ui/datasets/{job['dataset_id']}"):
        page.goto(server_url + path)
        assert api.key not in page.content()
    assert all(api.key not in cookie["value"] and cookie["httpOnly"] for cookie in page.context.cookies())

    page.click("text=Sign out")
    page.wait_for_url("**/ui/login")
    page.goto(f"{server_url}/ui/jobs")
    assert page.url.endswith("/ui/login")


def test_a_running_job_updates_live_and_can_be_cancelled(api, start_simulator, server_url, page):
    teacher = api.add_teacher(start_simulator(latency_ms=400), max_concurrency=1)
    job = api.submit_label_job(teacher, arithmetic_seeds(40))
    _sign_in(page, server_url, api.key)
    page.goto(f"{server_url}/ui/jobs/{job['id']}")
    # Polled in place: the count rises without a reload.
    page.wait_for_function(
        "Number(document.querySelector('#job [data-field=\"done\"]').textContent.split('/')[0]) >= 2",
        timeout=60_000,
    )
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-cancel]")
    page.wait_for_function("document.querySelector('h1 .status').textContent === 'cancelled'", timeout=30_000)
    assert api.job(job["id"])["status"] == "cancelled"


def test_a_wrong_key_is_refused_and_unknown_ids_are_friendly_404s(api, server_url, page):
    page.goto(f"{server_url}/ui/login")
    page.fill("#key", "dk_not_a_key")
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.locator(".error").inner_text()
    _sign_in(page, server_url, api.key)
    response = page.goto(f"{server_url}/ui/jobs/job_missing")
    assert response.status == 404 and "not found" in page.locator("main").inner_text()
