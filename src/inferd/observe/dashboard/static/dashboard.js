// The gateway dashboard: polls /api/status (tables), /api/history (charts) and /api/lineage
// (model lineage) and redraws. Charts use uPlot, served from the package (static/vendor/, fetched
// by scripts/web-assets); without it the tables still work. No external assets.
// Every value from the gateway is written with textContent, never as HTML.
// This script holds the page's state (a card per deployment) and the polling; format.js,
// tables.js, charts.js and lineage.js, loaded before it, draw (index.html lists them in order).
"use strict";

const POLL_MS = 1500;
const LINEAGE_MS = 10000;

// -- cards: one per deployment, kept across polls so its charts keep their canvases ----------

const cards = new Map();
const view = { range: 3600, history: null, lineage: null, currency: null };

function card(name) {
  let c = cards.get(name);
  if (!c) {
    c = {
      section: el("section", { class: "card", "data-deployment": name }),
      live: el("div", { class: "live" }),
      charts: el("div", { class: "charts" }),
      events: el("ol", { class: "events" }),
      lineage: el("div", { class: "lineage" }),
      plots: new Map(),
      versions: [],
      marks: [],
    };
    c.section.append(c.live,
      el("div", { class: "history" }, el("h3", {}, "Over time"), c.charts, c.events),
      c.lineage);
    cards.set(name, c);
  }
  return c;
}

function render(status) {
  const scaling = {};
  for (const a of status.autoscaling || []) (scaling[a.deployment] ||= []).push(a);
  // As /v2/health/ready says: deployments at zero can answer.
  const ok = status.ready || (status.deployments.length > 0 &&
    status.deployments.every((d) => d.ready || atZero(d, scaling[d.name])));
  const ready = document.getElementById("ready");
  ready.textContent = ok ? "ready" : "not ready";
  ready.className = "badge " + (ok ? "ok" : "bad");
  document.getElementById("generation").textContent = status.generation;
  document.getElementById("uptime").textContent = fmt.duration(status.uptime_s);
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  const byName = (list) => Object.fromEntries((list || []).map((x) => [x.deployment, x]));
  view.currency = status.cost ? status.cost.currency : null;
  const rollouts = byName(status.rollouts);
  let created = false;
  const shown = status.deployments.map((d) => {
    created = created || !cards.has(d.name);
    const c = card(d.name);
    c.versions = d.versions.map((v) => v.name);
    patch(c.live, liveSection(d, rollouts[d.name], scaling[d.name]));
    return c.section;
  });
  for (const [name, c] of cards) {
    if (!status.deployments.some((d) => d.name === name)) {
      for (const plot of c.plots.values()) plot.destroy();
      cards.delete(name);
    }
  }
  const main = document.getElementById("deployments");
  const current = Array.from(main.children);
  if (!shown.length) {
    main.replaceChildren(el("p", { class: "muted" }, "No deployments yet."));
  } else if (current.length !== shown.length || current.some((node, i) => node !== shown[i])) {
    main.replaceChildren(...shown);
  }
  if (created) {
    // A new card: draw what is known already instead of waiting for the next history poll.
    if (view.history) drawHistory();
    if (view.lineage) drawLineage();
  }
}

// -- polling --------------------------------------------------------------------------------

// A poll that gets no answer within POLL_TIMEOUT_MS is abandoned (and the next one scheduled),
// so a stalled gateway cannot freeze the page on its last, stale numbers.
const POLL_TIMEOUT_MS = 10000;

// Why a poll failed, in words: the gateway's own error (HTTP status and its "error" message:
// a 401/403 names the key or scope), no answer in time, or no connection at all.
class PollError extends Error {}

async function getJSON(path) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), POLL_TIMEOUT_MS);
  try {
    let response;
    try {
      // From the origin, not the page's address: opened as http://user:key@host/, a path
      // resolved against it carries the key, and fetch refuses such a URL.
      response = await fetch(new URL(path, location.origin),
        { cache: "no-store", signal: abort.signal });
    } catch (err) {
      throw new PollError(abort.signal.aborted
        ? `${path}: no answer in ${POLL_TIMEOUT_MS / 1000} s`
        : `${path}: gateway unreachable (${err.message})`);
    }
    if (!response.ok) {
      let detail = "";
      try {
        const body = await response.json();
        detail = body && typeof body.error === "string" ? body.error : "";
      } catch (err) {
        // Not JSON: the status line says enough.
      }
      throw new PollError(`${path}: HTTP ${response.status}` +
        (response.statusText ? " " + response.statusText : "") + (detail ? ` — ${detail}` : ""));
    }
    return await response.json();
  } catch (err) {
    if (err instanceof PollError) throw err;
    throw new PollError(abort.signal.aborted
      ? `${path}: no answer in ${POLL_TIMEOUT_MS / 1000} s` : `${path}: ${err.message}`);
  } finally {
    clearTimeout(timer);
  }
}

// The last poll's failure, shown above the deployments until a poll succeeds; the numbers
// below are then the last good ones, and the header says how old they are.
let lastGood = null;
function showProblem(message) {
  const problem = document.getElementById("problem");
  problem.hidden = !message;
  problem.textContent = message ? message : "";
  const updated = document.getElementById("updated");
  updated.className = message ? "error" : "muted";
  if (message) {
    updated.textContent = lastGood
      ? `stale: last update ${lastGood.toLocaleTimeString()}` : "no status yet";
  }
}

async function poll() {
  try {
    render(await getJSON("/api/status"));
    lastGood = new Date();
    showProblem(null);
  } catch (err) {
    const ready = document.getElementById("ready");
    const polled = err instanceof PollError;
    ready.textContent = !polled ? "page error" : /HTTP \d/.test(err.message) ? "status error"
      : /no answer/.test(err.message) ? "no answer" : "gateway unreachable";
    ready.className = "badge bad";
    showProblem(polled ? err.message : `drawing /api/status failed: ${err.message}`);
    const empty = document.getElementById("empty");
    if (empty) empty.textContent = "No status from /api/status yet: see the error above.";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

async function pollHistory() {
  let wait = 5000;
  try {
    view.history = await getJSON("/api/history");
    wait = Math.max(1000, view.history.interval_s * 1000);
    drawHistory();
  } catch (err) {
    // The status poll says when the gateway is unreachable.
  } finally {
    setTimeout(pollHistory, wait);
  }
}

async function pollLineage() {
  try {
    view.lineage = await getJSON("/api/lineage");
    drawLineage();
  } catch (err) {
    // As above.
  } finally {
    setTimeout(pollLineage, LINEAGE_MS);
  }
}

rangeButtons();
addEventListener("resize", redrawOnResize);
poll();
pollHistory();
pollLineage();
