"""The dashboard in a real browser, as its tests drive it: Debian's Chromium (never a
downloaded browser), screenshots in test-artifacts/screenshots/, signing in and out."""

from __future__ import annotations

from typing import Any

from tests.conftest import ARTIFACTS

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


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, server_url: str, key: str) -> None:
    page.goto(f"{server_url}/ui/jobs")
    assert page.url.endswith("/ui/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/jobs")


def sign_out(page: Any) -> None:
    page.click("text=Sign out")
    page.wait_for_url("**/ui/login")
