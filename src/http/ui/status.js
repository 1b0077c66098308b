// The status page's script. Compiled into the signer with the page (see status_page.h); it reads
// the same JSON routes as any client (/readyz, /stats, /keys, /jobs) and sends the read token,
// kept in this tab's sessionStorage only, as a bearer token. All text from the server is set with
// textContent, never parsed as HTML.
"use strict";
(() => {
  const TOKEN_KEY = "message-signer.read-token";
  const params = new URLSearchParams(location.search);
  const STATS_MS = clamp(Number(params.get("poll_ms")) || 1000, 250, 60000);
  const SLOW_MS = Math.max(STATS_MS * 5, 5000);  // /keys and /jobs change rarely
  const MAX_SAMPLES = 600;

  const $ = (id) => document.getElementById(id);
  let authRequired = false;
  let timers = [];
  let samples = [];  // {t: seconds, records: n} of the job being shown
  let sampledJob = "";
  const verifying = new Set();
  // In cluster mode /stats shows the job of the pod that answered, which may not be the pod that
  // coordinates the latest job (through a Service, each poll may reach another pod). The latest
  // job from /jobs (the shared store) wins when it is newer; its record is then followed.
  let latestJob = null;  // jobs[0] of the last /jobs poll
  let storeJob = null;   // the latest job's record, while followed
  let jobKey = null;     // id and state of the job shown by the last poll

  class AuthError extends Error {}

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  function fmt(n) { return Number(n).toLocaleString("en-US", { maximumFractionDigits: 0 }); }
  function duration(s) {
    if (!isFinite(s) || s < 0) return "–";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? `${h}h ${m}m ${sec}s` : m ? `${m}m ${sec}s` : `${sec}s`;
  }
  function text(id, value) {
    const el = $(id);
    if (el.textContent !== String(value)) el.textContent = value;  // no repaint when unchanged
  }
  function cell(row, value, cls) {
    const td = row.insertCell();
    td.textContent = value;
    if (cls) td.className = cls;
    return td;
  }
  function pill(el, state) { el.textContent = state; el.className = "pill " + state; }

  // Every answer belongs to the session (token) that asked for it. A logout or a new token starts
  // a new session: requests still in flight are aborted, and an answer that arrives anyway is
  // dropped (Stale) instead of rendered for someone who is no longer logged in.
  class Stale extends Error {}
  let session = { generation: 0, abort: new AbortController() };
  function newSession() {
    session.abort.abort();
    session = { generation: session.generation + 1, abort: new AbortController() };
  }

  async function api(path, options = {}) {
    const mine = session;
    const headers = { Accept: "application/json" };
    if (token()) headers.Authorization = "Bearer " + token();
    let res;
    let body = null;
    try {
      res = await fetch(path, { cache: "no-store", credentials: "omit", ...options, headers,
                                signal: mine.abort.signal });
      try { body = await res.json(); } catch (e) { body = null; }
    } catch (e) {
      if (mine !== session) throw new Stale();
      throw e;
    }
    if (mine !== session) throw new Stale();
    if (res.status === 401 || res.status === 403) {
      throw new AuthError((body && body.error) || `refused (${res.status})`);
    }
    if (!res.ok) throw new Error((body && body.error) || `HTTP ${res.status}`);
    return body;
  }

  function stopPolling() { timers.forEach(clearInterval); timers = []; }

  function showLogin(message) {
    newSession();
    stopPolling();
    $("dashboard").hidden = true;
    $("logout").hidden = true;
    $("connection").hidden = true;
    clearDashboard();
    $("login").hidden = false;
    text("login-error", message || "");
    $("token").focus();
  }

  function clearDashboard() {
    for (const id of ["pods", "keys", "jobs"]) $(id).tBodies[0].replaceChildren();
    for (const el of $("dashboard").querySelectorAll("dd")) el.textContent = "";
    samples = [];
    sampledJob = "";
    renderedPods = "";
    latestJob = null;
    storeJob = null;
    shown = null;
    jobKey = null;
  }

  function handle(error) {
    if (error instanceof Stale) return;  // an answer for a session that has ended
    if (error instanceof AuthError) {
      if (authRequired) sessionStorage.removeItem(TOKEN_KEY);
      showLogin("Token refused: " + error.message);
      return;
    }
    const c = $("connection");
    c.hidden = false;
    pill(c, "offline");
    c.title = error.message;
  }

  async function showDashboard() {
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("logout").hidden = !authRequired;
    stopPolling();
    await Promise.all([pollStats(), pollSlow()]);
    timers.push(setInterval(pollStats, STATS_MS), setInterval(pollSlow, SLOW_MS));
  }

  // A tab in the background polls nothing: each /stats counts the store.
  async function pollStats() {
    if (document.hidden) return;
    try {
      const stats = await api("/stats");
      let job = stats.job;
      // Job ids sort by start time (j-<start ms in hex>-…). A job seen once is followed from
      // then on, whichever pod answers the next poll.
      if (job && (!latestJob || job.id > latestJob.id)) latestJob = { id: job.id, state: job.state };
      if (latestJob && (!job || job.id < latestJob.id)) {
        if (!storeJob || storeJob.id !== latestJob.id || storeJob.state === "running") {
          storeJob = await api(`/jobs/${encodeURIComponent(latestJob.id)}`);
        }
        job = fromRecord(storeJob);
      }
      $("connection").hidden = true;
      renderStats(stats, job && steady(job));
      // A job that appears or ends changes the recent jobs: refresh them now, not in 5 s.
      const key = job ? job.id + " " + job.state : "";
      if (key !== jobKey) {
        if (jobKey !== null) pollSlow();
        jobKey = key;
      }
    } catch (e) { handle(e); }
  }

  async function pollSlow(force) {
    if (document.hidden && force !== true) return;
    try {
      const [keys, jobs] = await Promise.all([api("/keys"), api("/jobs?limit=10")]);
      latestJob = jobs.jobs.length ? jobs.jobs[0] : null;
      renderKeys(keys);
      renderJobs(jobs.jobs);
    } catch (e) { handle(e); }
  }

  // A job record from the store (/jobs/:id) in the shape of /stats' job. Elapsed time is the
  // browser's clock against the record's start while the job runs.
  function fromRecord(r) {
    const ok = r.results.filter((b) => !b.error);
    const byPod = {};
    for (const b of ok) byPod[b.pod] = (byPod[b.pod] || 0) + 1;
    const end = r.ended_unix_ms || Date.now();
    const elapsed = Math.max(0, (end - r.started_unix_ms) / 1000);
    return {
      id: r.id, state: r.state, mode: "http (from the store)",
      scheme: (r.parameters && r.parameters.scheme) || "raw",
      unsigned_at_start: r.unsigned_at_start, batches: r.batches,
      batches_done: ok.length, batches_failed: r.results.length - ok.length,
      retries: r.results.reduce((n, b) => n + Math.max(0, b.attempts - 1), 0),
      records_signed: r.records_signed,
      already_signed: ok.reduce((n, b) => n + b.already_signed, 0), records_invalid: 0,
      elapsed_seconds: elapsed, records_per_second: elapsed > 0 ? r.records_signed / elapsed : 0,
      batches_by_pod: byPod, error: "",
    };
  }

  // Polls of one running job may come from two sources (the coordinating pod's /stats, the
  // store's record, saved at most a second after a batch ends): its counts are shown never going
  // back.
  let shown = null;
  function steady(job) {
    if (shown && shown.id === job.id && job.state === "running") {
      for (const k of ["records_signed", "already_signed", "batches_done", "batches_failed"]) {
        job[k] = Math.max(job[k], shown[k]);
      }
    }
    shown = job;
    return job;
  }

  function renderStats(stats, job) {
    text("signed-records", fmt(stats.signed_records));
    text("unsigned-records", fmt(stats.unsigned_records));
    $("no-job").hidden = !!job;
    $("job-detail").hidden = !job;
    if (!job) { text("job-id", ""); $("job-state").textContent = ""; return; }
    text("job-id", job.id);
    pill($("job-state"), job.state);
    const done = job.records_signed + job.already_signed + job.records_invalid;
    const finished = job.state !== "running";
    let pct = job.unsigned_at_start > 0 ? (100 * done) / job.unsigned_at_start : 100;
    if (job.state === "succeeded") pct = 100;
    pct = clamp(pct, 0, 100);
    $("progress-bar").style.width = pct.toFixed(1) + "%";
    $("progress").setAttribute("aria-valuenow", pct.toFixed(0));
    text("progress-text", Math.floor(pct) + "%");
    text("job-records", fmt(job.records_signed));
    text("job-unsigned-at-start", fmt(job.unsigned_at_start));
    text("job-rate", fmt(job.records_per_second));
    text("job-elapsed", duration(job.elapsed_seconds));
    text("job-batches-done", `${fmt(job.batches_done)} / ${fmt(job.batches)}`);
    text("job-batches-failed", fmt(job.batches_failed));
    text("job-retries", fmt(job.retries));
    text("job-mode", job.mode);
    text("job-scheme", job.scheme || "raw");
    text("job-error", job.error || "");

    if (sampledJob !== job.id) { samples = []; sampledJob = job.id; }
    const last = samples[samples.length - 1];
    if (!last || job.elapsed_seconds > last.t) {
      samples.push({ t: job.elapsed_seconds, records: job.records_signed });
      if (samples.length > MAX_SAMPLES) samples.shift();
    }
    const now = currentRate();
    text("job-rate-now", finished ? "–" : fmt(now));
    const rate = now > 0 ? now : job.records_per_second;
    const left = Math.max(0, job.unsigned_at_start - done);
    text("job-eta", finished ? "done" : rate > 0 ? duration(left / rate) : "–");
    drawChart();

    // Redrawn only when it changed: every repaint costs the browser's CPU, on an operator's
    // laptop or, in the benchmark, on the signer's own cores.
    const pods = JSON.stringify(job.batches_by_pod || {});
    if (pods !== renderedPods) renderPods(job.batches_by_pod || {}, pods);
    text("updated", "Updated " + new Date().toLocaleTimeString("en-GB"));
  }

  let renderedPods = "";
  function renderPods(byPod, key) {
    renderedPods = key;
    const body = $("pods").tBodies[0];
    body.replaceChildren();
    for (const [pod, n] of Object.entries(byPod)) {
      const row = body.insertRow();
      cell(row, pod || "(unnamed)", "mono");
      cell(row, fmt(n), "num");
    }
  }

  // Records/s over the last few seconds of samples.
  function currentRate() {
    if (samples.length < 2) return 0;
    const b = samples[samples.length - 1];
    let a = samples[samples.length - 2];
    for (let i = samples.length - 2; i >= 0 && b.t - samples[i].t <= 5; --i) a = samples[i];
    return b.t > a.t ? (b.records - a.records) / (b.t - a.t) : 0;
  }

  function drawChart() {
    const canvas = $("rate-chart");
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, left = 70, bottom = 22, top = 10;
    ctx.clearRect(0, 0, w, h);
    // Records arrive a chunk at a time, so the rate is taken over at least a second of samples.
    const points = [];
    for (let i = 1, j = 0; i < samples.length; ++i) {
      while (j + 1 < i && samples[i].t - samples[j + 1].t >= 1) ++j;
      const dt = samples[i].t - samples[j].t;
      if (dt > 0) points.push({ t: samples[i].t, r: (samples[i].records - samples[j].records) / dt });
    }
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5b6470";
    ctx.strokeStyle = "#d8dde3";
    ctx.beginPath(); ctx.moveTo(left, top); ctx.lineTo(left, h - bottom); ctx.lineTo(w, h - bottom); ctx.stroke();
    if (points.length === 0) { ctx.fillText("waiting for samples", left + 10, h / 2); return; }
    const tMin = samples[0].t, tMax = Math.max(points[points.length - 1].t, tMin + 1);
    const rMax = Math.max(1, ...points.map((p) => p.r)) * 1.1;
    const x = (t) => left + ((t - tMin) / (tMax - tMin)) * (w - left - 10);
    const y = (r) => h - bottom - (r / rMax) * (h - bottom - top);
    ctx.fillText(fmt(rMax), 4, top + 8);
    ctx.fillText("0", 4, h - bottom);
    ctx.fillText(duration(tMin), left, h - 6);
    ctx.fillText(duration(tMax), w - 50, h - 6);
    ctx.strokeStyle = "#2563eb";
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.r)) : ctx.moveTo(x(p.t), y(p.r))));
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  function renderKeys(data) {
    text("key-set-version", data.set_version);
    const body = $("keys").tBodies[0];
    body.replaceChildren();
    for (const k of data.keys) {
      const row = body.insertRow();
      cell(row, k.index, "num");
      cell(row, k.address, "mono");
      cell(row, k.source);
      cell(row, k.origin, "mono");
    }
  }

  function renderJobs(jobs) {
    const body = $("jobs").tBodies[0];
    body.replaceChildren();
    for (const j of jobs) {
      const row = body.insertRow();
      row.dataset.job = j.id;
      cell(row, j.id, "mono");
      cell(row, j.started_by);
      cell(row, (j.parameters && j.parameters.scheme) || "raw", "mono");
      pill(cell(row, ""), j.state);
      cell(row, fmt(j.records_signed), "num");
      cell(row, j.started_unix_ms ? new Date(j.started_unix_ms).toISOString().replace(".000", "") : "");
      renderVerify(cell(row, ""), j);
    }
  }

  function renderVerify(td, job) {
    td.className = "verify";
    const v = job.verify || { state: "unverified" };
    const state = document.createElement("span");
    pill(state, verifying.has(job.id) ? "verifying" : v.state);
    if (v.detail) state.title = v.detail;
    td.append(state);
    if (v.detail) {
      const d = document.createElement("span");
      d.className = "muted";
      d.textContent = " " + v.detail;
      td.append(d);
    }
    if (job.state === "running") return;
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = v.state === "unverified" ? "Verify" : "Verify again";
    b.disabled = verifying.has(job.id);
    b.addEventListener("click", () => verify(job.id));
    td.append(" ", b);
  }

  async function verify(id) {
    verifying.add(id);
    try {
      await api(`/jobs/${encodeURIComponent(id)}/verify`, { method: "POST" });
    } catch (e) {
      if (e instanceof AuthError || e instanceof Stale) return handle(e);
      alertRow(id, e.message);
    } finally {
      verifying.delete(id);
    }
    await pollSlow(true);
  }

  function alertRow(id, message) {
    const row = $("jobs").querySelector(`tr[data-job="${CSS.escape(id)}"] td.verify`);
    if (row) row.append(Object.assign(document.createElement("span"), { className: "error", textContent: " " + message }));
  }

  async function start() {
    try {
      const res = await fetch("/readyz", { cache: "no-store", headers: { Accept: "application/json" } });
      const ready = await res.json();
      authRequired = ready.auth !== "none";
    } catch (e) {
      authRequired = true;  // not ready: ask for a token anyway, the data routes decide
    }
    try {
      const about = await fetch("/", { headers: { Accept: "application/json" } }).then((r) => r.json());
      text("service-version", "v" + about.version);
    } catch (e) { /* the version is decoration */ }
    if (authRequired && !token()) return showLogin("");
    try {
      await api("/stats");
      await showDashboard();
    } catch (e) {
      if (e instanceof AuthError) return handle(e);
      await showDashboard();
    }
  }

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    $("token").value = "";
    newSession();
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await api("/stats");
      await showDashboard();
    } catch (e) { handle(e); }
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !$("dashboard").hidden) { pollStats(); pollSlow(); }
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("");
  });

  start();
})();
