"""The dashboard tests' server and browser. The browser fails a test on any script error
or 5xx, so a page the CSP blocks fails too."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.support.server import api_server


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
