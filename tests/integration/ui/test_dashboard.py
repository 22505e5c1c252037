"""The dashboard in a real browser: Debian's Chromium, driven by Playwright (never a
downloaded browser; the fixtures are in conftest.py). Each page is saved as a screenshot in
test-artifacts/screenshots/. The browser fails a test on any console error, so a page the
CSP blocks fails too.

Its defences (CSRF tokens, server-side sign-out, security headers, Secure cookies) are
checked as an attacker would, with a plain HTTP client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

# Playwright's wait_for_function evaluates a string in the page, which the dashboard's CSP
# (rightly) refuses: the tests wait with `expect` on locators, or poll from here.
from playwright.sync_api import expect

from tests.support.dashboard import shot, sign_in, sign_out
from tests.support.settings import overridden
from tests.support.stack import arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# A job name a careless template would run as script.
HOSTILE_NAME = '<img src=x onerror="window.pwned=1">'


def test_jobs_job_rejected_records_and_dataset_download_in_a_browser(api, start_simulator, server_url, page, tmp_path):
    teacher = api.add_teacher(start_simulator(latency_ms=10, malformed_rate=0.5, seed=11))
    seeds = arithmetic_seeds(30)
    job = api.wait_for_job(api.submit_label_job(teacher, seeds, name=HOSTILE_NAME)["id"])
    assert job["status"] == "succeeded" and job["progress"]["rejected"] > 0

    sign_in(page, server_url, api.key)
    row = page.locator(f'tr[data-job-id="{job["id"]}"]')
    assert row.locator("a").inner_text() == HOSTILE_NAME
    assert row.locator('[data-field="status"]').inner_text() == "succeeded"
    shot(page, "jobs")

    row.locator("a").click()
    page.wait_for_url(f"**/ui/jobs/{job['id']}")
    assert page.locator('#job [data-field="done"]').inner_text() == "30/30"
    assert page.locator('#job [data-field="rejected"]').inner_text() == str(job["progress"]["rejected"])
    assert "planned" in page.locator("#events").inner_text()
    shot(page, "job")

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
    shot(page, "job-rejected")

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
    shot(page, "dataset")
    with page.expect_download() as pending:
        page.click("[data-download='alpaca.jsonl']")
    saved = tmp_path / "download.jsonl"
    pending.value.save_as(saved)
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert len(rows) == job["progress"]["accepted"] and set(rows[0]) == {"instruction", "input", "output"}

    # The training page renders whether or not this server has training routes yet.
    page.goto(f"{server_url}/ui/training")
    expect(page.locator("#training-status")).not_to_have_text("Loading…")
    shot(page, "training")

    assert page.evaluate("window.pwned") is None
    for path in ("/ui/jobs", f"/ui/jobs/{job['id']}", f"/ui/datasets/{job['dataset_id']}"):
        page.goto(server_url + path)
        assert api.key not in page.content()
    assert all(api.key not in cookie["value"] and cookie["httpOnly"] for cookie in page.context.cookies())

    old = [c for c in page.context.cookies() if c["name"] == "distillery_session"]
    sign_out(page)
    page.goto(f"{server_url}/ui/jobs")
    assert page.url.endswith("/ui/login")
    # The old cookie, put back (as a thief who copied it would), signs nobody in.
    page.context.add_cookies(old)
    page.goto(f"{server_url}/ui/jobs")
    assert page.url.endswith("/ui/login")


def test_a_running_job_updates_live_and_can_be_cancelled(api, start_simulator, server_url, page):
    teacher = api.add_teacher(start_simulator(latency_ms=400), max_concurrency=1)
    job = api.submit_label_job(teacher, arithmetic_seeds(40))
    sign_in(page, server_url, api.key)
    page.goto(f"{server_url}/ui/jobs/{job['id']}")
    # Polled in place: the count rises without a reload.
    done = page.locator('#job [data-field="done"]')
    wait_until(lambda: int(done.inner_text().split("/")[0]) >= 2, timeout_s=60, what="two items done")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-cancel]")
    expect(page.locator("h1 .status")).to_have_text("cancelled", timeout=30_000)
    assert api.job(job["id"])["status"] == "cancelled"


def test_a_wrong_key_is_refused_and_unknown_ids_are_friendly_404s(api, server_url, page):
    page.goto(f"{server_url}/ui/login")
    page.fill("#key", "dk_not_a_key")
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.locator(".error").inner_text()
    sign_in(page, server_url, api.key)
    response = page.goto(f"{server_url}/ui/jobs/job_missing")
    assert response.status == 404 and "not found" in page.locator("main").inner_text()


def _login_token(client: httpx.Client) -> str:
    page = client.get("/ui/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@contextmanager
def _signed_in(server_url: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as client:
        token = _login_token(client)
        response = client.post("/ui/login", data={"key": key, "csrf": token})
        assert response.status_code == 303 and response.headers["location"] == "/ui/jobs"
        yield client


def _page_token(client: httpx.Client) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/ui/jobs").text)
    assert found is not None
    return found.group(1)


def test_a_sign_in_without_or_with_a_wrong_csrf_token_is_refused_with_a_readable_page(other_api, server_url):
    refused = "has expired or was sent from another site"
    with httpx.Client(base_url=server_url, timeout=30) as client:
        # A forged form: no token, a made-up one, or the attacker's own token without the
        # pre-session cookie it belongs to.
        attacker_token = _login_token(client)
        client.cookies.clear()
        for data in (
            {"key": other_api.key},
            {"key": other_api.key, "csrf": "0" * 64},
            {"key": other_api.key, "csrf": attacker_token},
        ):
            response = client.post("/ui/login", data=data)
            assert response.status_code == 403, data
            assert response.headers["content-type"].startswith("text/html") and refused in response.text
            assert "distillery_session" not in response.headers.get("set-cookie", "")
        # The refusal page is a working form again.
        token = _login_token(client)
        response = client.post("/ui/login", data={"key": "dk_not_a_key", "csrf": token})
        assert response.status_code == 401 and "unknown or revoked" in response.text
        response = client.post("/ui/login", data={"key": other_api.key, "csrf": token})
        assert response.status_code == 303 and "distillery_session" in response.headers["set-cookie"]
        assert client.get("/ui/jobs").status_code == 200


def test_signing_out_ends_the_session_so_the_old_cookie_no_longer_works(other_api, server_url):
    with _signed_in(server_url, other_api.key) as client:
        session = client.cookies["distillery_session"]
        assert other_api.key not in session
        # A forged sign-out (no token, or a wrong one) is refused and ends nothing.
        for data in ({}, {"csrf": "0" * 64}):
            response = client.post("/ui/logout", data=data)
            assert response.status_code == 403 and "did not come from this dashboard" in response.text
        assert client.get("/ui/jobs").status_code == 200

        response = client.post("/ui/logout", data={"csrf": _page_token(client)})
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"

    with httpx.Client(base_url=server_url, timeout=30, cookies={"distillery_session": session}) as thief:
        response = thief.get("/ui/jobs")
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
        assert thief.get("/ui/api/jobs").status_code == 401


def test_a_write_through_the_api_bridge_needs_the_sessions_csrf_token(other_api, server_url):
    with _signed_in(server_url, other_api.key) as client:
        for header in ({}, {"X-Distillery-UI": "1"}, {"X-Distillery-UI": "0" * 64}):
            response = client.post("/ui/api/jobs/job_missing/cancel", headers=header)
            assert response.status_code == 403, header
        # With the page's token the write reaches the API (which knows no such job).
        response = client.post("/ui/api/jobs/job_missing/cancel", headers={"X-Distillery-UI": _page_token(client)})
        assert response.status_code == 404


def test_every_ui_response_carries_the_security_headers(other_api, server_url):
    with _signed_in(server_url, other_api.key) as client:
        responses = [
            client.get("/ui/login"),
            client.get("/ui/jobs"),
            client.get("/ui/jobs/job_missing"),
            client.get("/ui/pipelines"),
            client.get("/ui/pipelines/pipe_missing"),
            client.get("/ui/static/app.js"),
            client.get("/ui/api/jobs"),
            client.post("/ui/logout", data={}),
            httpx.get(f"{server_url}/ui/jobs"),  # signed out: a redirect
        ]
        for response in responses:
            headers = response.headers
            csp = headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, response.url
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")
            assert headers["x-content-type-options"] == "nosniff"
        # No inline script: every <script> loads a file, or is data the page never runs.
        page = responses[1].text
        assert all('src="' in tag or 'type="application/json"' in tag for tag in re.findall(r"<script[^>]*>", page))
        assert not re.search(r"\son[a-z]+=|\sstyle=", page)
    # The API's own responses are not the dashboard's.
    assert "content-security-policy" not in httpx.get(f"{server_url}/healthz").headers


def test_cookies_are_secure_over_https_and_x_forwarded_proto_counts_only_when_trusted(other_api):
    from fastapi.testclient import TestClient

    from distillery.main import create_app

    def secure(base_url: str, headers: dict[str, str]) -> bool:
        """Whether signing in over `base_url` with `headers` sets a Secure session cookie."""
        with TestClient(create_app(), base_url=base_url) as client:
            page = client.get("/ui/login", headers=headers)
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            # Sent by hand: a cookie jar keeps a Secure cookie from a plain-http URL.
            cookie = {"Cookie": f"distillery_login={page.cookies['distillery_login']}"}
            data = {"key": other_api.key, "csrf": token.group(1)}
            response = client.post("/ui/login", data=data, headers=headers | cookie, follow_redirects=False)
            assert response.status_code == 303
            set_cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("distillery_session="))
            return "secure" in [part.strip().lower() for part in set_cookie.split(";")]

    forwarded = {"X-Forwarded-Proto": "https"}
    assert not secure("http://testserver", {})
    assert secure("https://testserver", {})
    # A client's own claim of https is ignored unless a trusted proxy is said to set it.
    assert not secure("http://testserver", forwarded)
    with overridden(trust_forwarded_proto=True):
        assert secure("http://testserver", forwarded)
        assert not secure("http://testserver", {"X-Forwarded-Proto": "http"})


def test_an_unreachable_session_store_is_a_readable_503_not_a_sign_in_loop(test_client):
    cookie = {"Cookie": "distillery_session=" + "x" * 43}
    with overridden(broker_url="redis://127.0.0.1:1/0"):
        response = test_client.get("/ui/jobs", headers=cookie, follow_redirects=False)
        bridged = test_client.get("/ui/api/jobs", headers=cookie)
    assert response.status_code == 503 and "try again" in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert bridged.status_code == 503
