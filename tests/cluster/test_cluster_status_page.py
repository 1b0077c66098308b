"""The status page in cluster mode, opened through the Service (nginx round-robin over three
pods), as an operator's browser would reach it: each poll of /stats may land on a pod that does
not coordinate the job. The page follows the latest job from the shared store then, so it shows
the job started on pod 0 all along, its progress only going forward to 100%, and its batches by
pod for all three pods. (The local cluster runs on loopback without a clients file, so the page
needs no token; tests/e2e covers the login.)"""
from __future__ import annotations

import pytest

from browser_page import ARTIFACTS, StatusPage, browser  # noqa: F401 (fixture)
from local_cluster import ceil_div, scaled


@pytest.mark.stores("postgres")
def test_page_through_the_service_follows_a_job_spread_over_three_pods(cluster, store, browser):
    n, size = scaled(20_000), scaled(250)
    batches = ceil_div(n, size)
    cluster.insert_original_docs(n)
    tab = StatusPage(browser, f"{cluster.lb_url}/?poll_ms=250")
    try:
        page = tab.page
        page.wait_for_selector("#dashboard:not([hidden])")
        assert page.is_hidden("#login")
        tab.record_progress()
        r = cluster.pods[0].sign(size, wait=False)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        tab.assert_progress_reached_100()
        assert tab.text("#job-id") == job_id
        # Once shown, the job stayed on the page: no poll answered by another pod replaced it.
        ids = tab.job_ids_seen()
        assert ids and set(ids[ids.index(job_id):]) == {job_id}, ids

        job = cluster.pods[0].wait_job_done()
        assert job["state"] == "succeeded" and job["batches_done"] == batches, job
        page.wait_for_function(
            "(n) => document.querySelectorAll('#pods tbody tr').length === n",
            arg=len(cluster.pods))
        rows = page.eval_on_selector_all(
            "#pods tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
        shown = {pod: int(count.replace(",", "")) for pod, count in rows}
        assert set(shown) == {pod.name for pod in cluster.pods}, shown
        assert sum(shown.values()) == batches, shown
        assert tab.text("#job-batches-done") == f"{batches:,} / {batches:,}"
        page.wait_for_selector(f"#jobs tbody tr[data-job='{job_id}'] .pill.succeeded")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "status-page-cluster.png"), full_page=True)
        assert tab.errors == [], tab.errors
    finally:
        tab.close()
