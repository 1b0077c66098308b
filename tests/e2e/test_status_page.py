"""The status page (issue 14) in a real browser: Debian's Chromium, headless, driven by Playwright
from PyPI (the browser is the system's; nothing is downloaded). The page is the signer's own
GET / for Accept: text/html. With a `read` token typed into its login prompt it follows a job to
100%, and its figures agree with /stats, /keys and /jobs; its Verify button runs the audit check.
Without a valid read token it shows nothing but the login prompt. It must raise no console
errors. A screenshot of the finished job is saved as a test artifact
($SIGNER_TEST_ARTIFACTS, default build/test-artifacts)."""
from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest
import requests

from browser_page import ARTIFACTS, StatusPage, browser  # noqa: F401 (fixture)
from helpers import random_records
from instance import SignerCli, SignerFactory, make_keyring

POLL_MS = 250


def number(text: str) -> int:
    assert re.fullmatch(r"[0-9,]+", text), f"not a formatted count: {text!r}"
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def env(signer_bin, tmp_path_factory):
    work = tmp_path_factory.mktemp("status-page")
    keys = make_keyring(signer_bin, work / "keys")
    store = f"sqlite:{work / 'signer.db'}"
    cli = SignerCli(signer_bin, store, keys.path, work)
    clients = work / "clients.json"
    tokens = {"viewer": cli.add_client(clients, "viewer", "read"),
              "operator": cli.add_client(clients, "operator", "ingest,sign,read"),
              "signer-only": cli.add_client(clients, "signer-only", "sign")}
    factory = SignerFactory(signer_bin, work, keys.path, store)
    server = factory.start("--clients", str(clients), token=tokens["operator"])
    yield SimpleNamespace(server=server, tokens=tokens, keys=keys)
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


def test_root_keeps_json_for_clients_and_serves_the_page_to_browsers(env):
    r = requests.get(env.server.url("/"), timeout=10)
    assert r.status_code == 200 and r.json()["service"] == "message-signer", r.text
    assert r.headers["Content-Type"].startswith("application/json")
    r = requests.get(env.server.url("/"), headers={"Accept": "text/html,*/*;q=0.8"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), r.headers
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9+/=]+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in r.text
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
    assert r.headers["Vary"] == "Accept" and r.headers["Cache-Control"] == "no-store"
    # The page holds no data: nothing of the store or the keys is in it.
    assert not any(k.lower()[4:20] in r.text.lower() for k in env.keys.public_keys)


def test_page_follows_a_job_to_100_percent_and_agrees_with_the_api(browser, env):
    server = env.server
    total, size = 60_000, 1_000
    for start in range(0, total, 20_000):
        r = server.ingest(random_records(20_000, prefix=f"ui-{start}-"))
        assert r.status_code == 200 and r.json()["accepted"] == 20_000, r.text

    tab = StatusPage(browser, server.url(f"/?poll_ms={POLL_MS}"))
    try:
        page = tab.page
        assert tab.response.status == 200
        tab.login(env.tokens["viewer"])
        page.wait_for_selector("#dashboard:not([hidden])")
        assert page.is_hidden("#login")
        # The token lives in this tab's session storage, nowhere else.
        assert page.evaluate("() => sessionStorage.length") == 1
        assert page.evaluate("() => localStorage.length") == 0
        page.wait_for_function(
            "() => document.getElementById('unsigned-records').textContent !== ''")
        assert number(tab.text("#unsigned-records")) == server.stats()["unsigned_records"]

        # Record every value the progress bar takes while the job runs.
        tab.record_progress()
        started = server.sign(size, wait=False)
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        page.wait_for_function(
            "(id) => document.getElementById('job-id').textContent === id", arg=job_id)
        tab.assert_progress_reached_100()

        # Figures on the page against the API, once the page has polled after the end.
        stats = server.stats()
        job = stats["job"]
        assert job["state"] == "succeeded" and job["records_signed"] == total, job
        page.wait_for_function(
            "(n) => document.getElementById('signed-records').textContent.replace(/,/g, '') === n",
            arg=str(stats["signed_records"]))
        assert number(tab.text("#unsigned-records")) == stats["unsigned_records"] == 0
        assert number(tab.text("#job-records")) == job["records_signed"]
        assert number(tab.text("#job-unsigned-at-start")) == job["unsigned_at_start"] == total
        assert tab.text("#job-batches-done") == f"{job['batches_done']:,} / {job['batches']:,}"
        assert number(tab.text("#job-batches-failed")) == job["batches_failed"] == 0
        assert number(tab.text("#job-retries")) == job["retries"]
        assert tab.text("#job-eta") == "done"
        assert tab.text("#job-scheme") == job["scheme"] == "raw"
        pods = page.eval_on_selector_all(
            "#pods tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
        assert {p: int(n.replace(",", "")) for p, n in pods} == job["batches_by_pod"], pods
        samples = page.evaluate(
            "() => document.getElementById('rate-chart').getContext('2d')"
            ".getImageData(0, 0, 900, 180).data.some((v, i) => i % 4 === 2 && v > 200)")
        assert samples, "the records/s chart drew nothing"

        keys = server.get("/keys").json()
        page.wait_for_function(
            "(n) => document.querySelectorAll('#keys tbody tr').length === n",
            arg=len(keys["keys"]))
        rows = page.eval_on_selector_all(
            "#keys tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
        assert [(r[1], r[2]) for r in rows] == [(k["address"], k["source"]) for k in keys["keys"]]
        assert tab.text("#key-set-version") == str(keys["set_version"])

        # The recent jobs: who started the job, and its audit verification, run from the page.
        row = f"#jobs tbody tr[data-job='{job_id}']"
        page.wait_for_selector(f"{row} .pill.succeeded")  # /jobs is polled every few seconds
        cells = page.eval_on_selector(row, "r => [...r.cells].map(c => c.textContent)")
        assert (cells[1], cells[2], cells[3]) == ("operator", "raw", "succeeded"), cells
        assert number(cells[4]) == total
        assert page.inner_text(f"{row} td.verify .pill") == "unverified"
        page.click(f"{row} td.verify button")
        page.wait_for_selector(f"{row} td.verify .pill.ok")
        listed = {j["id"]: j for j in server.get("/jobs").json()["jobs"]}
        verify = listed[job_id]["verify"]
        assert verify["state"] == "ok" and verify["by"] == "viewer", verify
        assert f"{total} valid" in verify["detail"], verify

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000, shot
        print(f"screenshot: {shot}")
        assert tab.errors == [], tab.errors
    finally:
        tab.close()


@pytest.mark.parametrize("who", ["none", "wrong", "signer-only"])
def test_page_without_a_valid_read_token_shows_only_the_login(browser, env, who):
    tab = StatusPage(browser, env.server.url(f"/?poll_ms={POLL_MS}"))
    try:
        page = tab.page
        page.wait_for_selector("#login:not([hidden])")
        if who != "none":
            token = env.tokens["signer-only"] if who == "signer-only" else "mst_" + "0" * 64
            tab.login(token)
            page.wait_for_function(
                "() => document.getElementById('login-error').textContent.startsWith('Token refused')")
            # A refused token is not kept.
            assert page.evaluate("() => sessionStorage.length") == 0
            expected = "unknown credential" if who == "wrong" else "lacks the read role"
            assert expected in tab.text("#login-error"), tab.text("#login-error")
        assert page.is_hidden("#dashboard")
        assert page.eval_on_selector_all("#dashboard td", "cells => cells.length") == 0
        assert page.eval_on_selector_all(
            "#dashboard dd", "dds => dds.filter(d => d.textContent !== '').length") == 0
        address = env.server.get("/keys").json()["keys"][0]["address"]
        assert address not in page.content()
        if who == "none":
            assert tab.errors == [], tab.errors  # no protected route was even tried
    finally:
        tab.close()


def test_a_new_tab_asks_again_and_forget_token_logs_out(browser, env):
    tab = StatusPage(browser, env.server.url(f"/?poll_ms={POLL_MS}"))
    try:
        tab.login(env.tokens["viewer"])
        tab.page.wait_for_selector("#dashboard:not([hidden])")
        other = StatusPage(browser, env.server.url(f"/?poll_ms={POLL_MS}"))  # a new browser context: no shared session storage
        try:
            other.page.wait_for_selector("#login:not([hidden])")
            assert other.page.is_hidden("#dashboard")
        finally:
            other.close()
        tab.page.click("#logout")
        tab.page.wait_for_selector("#login:not([hidden])")
        assert tab.page.evaluate("() => sessionStorage.length") == 0
        assert tab.page.eval_on_selector_all("#dashboard td", "cells => cells.length") == 0
        assert tab.errors == [], tab.errors
    finally:
        tab.close()


@pytest.mark.parametrize("held", ["/keys", "/stats"])
def test_an_answer_held_back_past_forget_token_is_never_shown(browser, env, held):
    """Found in review (issue 19): a /keys or /jobs poll in flight at "Forget token" still
    rendered its answer after the logout (the fresh-clone run failed once on it). Here the answer
    is held back by the browser's network layer until after the logout, then let through: the page
    must drop it, whatever route it was."""
    tab = StatusPage(browser, env.server.url(f"/?poll_ms={POLL_MS}"))
    address = env.server.get("/keys").json()["keys"][0]["address"]
    try:
        page = tab.page
        tab.login(env.tokens["viewer"])
        page.wait_for_selector("#dashboard:not([hidden])")
        page.wait_for_function("() => document.querySelectorAll('#keys tbody tr').length > 0")
        requests_held = []
        page.route(f"**{held}*", lambda route: requests_held.append(route))
        # A refresh of the keys and jobs (as after a job ends or the tab comes back) or the next
        # /stats poll: its request is now held.
        page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")
        deadline = time.monotonic() + 30
        while not requests_held and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert requests_held, f"no {held} request to hold"
        page.click("#logout")
        page.wait_for_selector("#login:not([hidden])")
        for route in requests_held:
            route.continue_()  # the server answers it now, with the old token's data
        page.unroute(f"**{held}*")
        page.wait_for_timeout(1500)
        assert page.is_hidden("#dashboard")
        assert page.eval_on_selector_all("#dashboard td", "cells => cells.length") == 0
        assert page.eval_on_selector_all(
            "#dashboard dd", "dds => dds.filter(d => d.textContent !== '').length") == 0
        assert address not in page.content()
        assert tab.errors == [], tab.errors
    finally:
        tab.close()
