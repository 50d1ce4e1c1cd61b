"""Browser tests: Debian's chromium driven by Playwright against a dashboard served in-process.

Playwright's own browser download is not available here, so chromium is launched from
/usr/bin/chromium. In CI (CI=true) a missing browser fails the run; locally it skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scriptdeck.web.testing import DashboardServer

CHROMIUM = os.environ.get("SCRIPTDECK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIXTURES = Path(__file__).parents[1] / "web" / "fixtures" / "plugins"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running in this
    # thread while it is open, which would break later tests that call asyncio.run().
    if not Path(CHROMIUM).exists():
        message = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DashboardServer]:
    plugins = tmp_path / "plugins"
    shutil.copytree(FIXTURES, plugins, ignore=shutil.ignore_patterns("__pycache__"))
    with DashboardServer(tmp_path / "data", [plugins], watch_interval=0.3) as s:
        yield s


@pytest.fixture
def page(browser: Any, server: DashboardServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.set_default_timeout(15_000)
    p.goto(f"{server.url}/?token={server.token}")  # the login URL, as `serve` prints it
    p.wait_for_selector("#live:not(.off)")
    try:
        yield p
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page: Any, name: str) -> None:
    """Save a screenshot as a test artifact (test-artifacts/, gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("document.getElementById('content').scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
