"""The browser side of the status page tests (tests/e2e and tests/cluster): Debian's Chromium,
headless, driven by Playwright from PyPI (the browser is the system's; nothing is downloaded),
and a tab on the page that collects every console error and uncaught exception."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SIGNER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("SIGNER_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))
# As a browser on a machine without outside network must run: no background connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: scripts/setup.sh installs it from "
                    "tests/e2e/requirements.txt", pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: scripts/setup.sh installs Debian's chromium",
                    pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class StatusPage:
    """One browser tab on the status page, collecting what it logs as an error."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1200, "height": 1400})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console",
                     lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.set_default_timeout(UI_TIMEOUT_MS)
        self.response = self.page.goto(url)

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector).strip()

    def login(self, token: str) -> None:
        self.page.wait_for_selector("#login:not([hidden])")
        self.page.fill("#token", token)
        self.page.click("#login-form button[type=submit]")

    def record_progress(self) -> None:
        """From now on, keeps every value the progress bar takes and every job id shown."""
        self.page.evaluate("""() => {
            window.progressSeen = [];
            window.jobIdsSeen = [];
            const bar = document.getElementById('progress');
            new MutationObserver(() => window.progressSeen.push(
                Number(bar.getAttribute('aria-valuenow')))).observe(
                bar, {attributes: true, attributeFilter: ['aria-valuenow']});
            const id = document.getElementById('job-id');
            new MutationObserver(() => window.jobIdsSeen.push(id.textContent)).observe(
                id, {childList: true, characterData: true, subtree: true});
        }""")

    def assert_progress_reached_100(self) -> list[int]:
        """The progress bar, since record_progress(), only went forward and ended at 100%."""
        self.page.wait_for_function(
            "() => document.getElementById('progress-text').textContent === '100%'")
        self.page.wait_for_selector("#job-state.succeeded")
        seen = self.page.evaluate("() => window.progressSeen")
        print(f"progress values seen: {seen}")
        assert seen and seen[-1] == 100, seen
        assert seen == sorted(seen), f"the progress bar went backwards: {seen}"
        return seen

    def job_ids_seen(self) -> list[str]:
        return self.page.evaluate("() => window.jobIdsSeen")

    def close(self) -> None:
        self.context.close()
