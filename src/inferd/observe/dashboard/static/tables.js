// The live part of a deployment's card, redrawn on every /api/status poll: readiness, traffic
// split, versions and replicas, shadow comparison, rollout progress and autoscaling.
"use strict";

function splitBar(versions, key, label) {
  const primary = versions.filter((v) => v.role === "primary");
  const total = primary.reduce((acc, v) => acc + v[key], 0);
  const bar = el("div", { class: "split", title: label });
  // Each version in its colour in the table and the charts (its place among all versions).
  versions.forEach((v, i) => {
    if (v.role !== "primary") return;
    const share = total > 0 ? v[key] / total : 0;
    if (share <= 0) return;
    bar.append(el("div", { style: `width:${(share * 100).toFixed(2)}%;background:${color(i)}` },
      `${v.name} ${fmt.pct(share)}`));
  });
  if (total <= 0) {
    bar.append(el("div", { class: "empty" }, key === "share"
      ? "no requests in the last 10 s" : "no version has a weight"));
  }
  return el("div", {}, el("div", { class: "legend muted" }, label), bar);
}

function replicaChips(replicas) {
  const box = el("div", { class: "replicas" });
  for (const r of replicas) {
    const title = `${r.id} · port ${r.port} · pid ${r.pid ?? "–"} · restarts ${r.restarts}` +
      ` · up ${fmt.duration(r.uptime_s)} · in flight ${r.outstanding}` +
      (r.reason ? ` · ${r.reason}` : "");
    // Restarts on the chip itself: the one trace of a crash (or a crash loop) once it is back.
    const restarts = r.restarts ? ` · ${r.restarts} restart${r.restarts === 1 ? "" : "s"}` : "";
    box.append(el("span", { class: `replica state-${r.state}`, title },
      `${r.id} ${r.state}${restarts}`));
  }
  if (!replicas.length) box.append(el("span", { class: "muted" }, "none"));
  // Why a replica is not serving, in full: the first thing on-call needs, not only on hover.
  const reasons = replicas.filter((r) => r.reason && r.state !== "ready").map((r) =>
    el("div", { class: "reason error", "data-replica": r.id }, `${r.id}: ${r.reason}`));
  return reasons.length ? el("div", {}, box, ...reasons) : box;
}

function versionTable(d) {
  const head = el("tr", {}, ...["version", "role", "reference", "weight", "observed",
    "req/s", "errors", "p50 ms", "p99 ms", "replicas"].map((h, i) =>
    el("th", { class: i >= 3 && i <= 8 ? "num" : "" }, h)));
  const rows = d.versions.map((v, i) => el("tr", { "data-version": v.name },
    el("td", {}, el("span", { class: "swatch", style: `background:${color(i)}` }), v.name),
    el("td", {}, v.role),
    el("td", {}, v.reference),
    el("td", { class: "num" }, v.role === "shadow" ? "mirror" : v.weight + "%"),
    el("td", { class: "num" }, v.role === "shadow" || !(d.rps > 0) ? "–" : fmt.pct(v.share)),
    el("td", { class: "num" }, fmt.rps(v.rps)),
    el("td", { class: "num" + (v.error_rate > 0 ? " error" : "") },
      v.requests ? fmt.pct(v.error_rate) : "–"),
    el("td", { class: "num" }, fmt.ms(v.p50_ms)),
    el("td", { class: "num" }, fmt.ms(v.p99_ms)),
    el("td", {}, replicaChips(v.replicas))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

function shadowTable(d) {
  if (!d.shadow_comparisons.length) return null;
  // Each outcome under its own name, as inferd_gateway_shadow_requests_total counts it:
  // client errors are the client's (the primary refused them too), refusals the shadow's.
  const head = el("tr", {}, ...["primary → shadow", "compared", "uncompared", "client errors",
    "refused", "failed", "timeouts", "dropped", "divergence per output"].map((h, i) =>
    el("th", { class: i >= 1 && i <= 7 ? "num" : "" }, h)));
  const rows = d.shadow_comparisons.map((s) => el("tr", {},
    el("td", {}, `${s.primary} → ${s.shadow}`),
    el("td", { class: "num" }, s.compared),
    el("td", { class: "num" }, s.uncompared),
    el("td", { class: "num" }, s.client_error),
    el("td", { class: "num" + (s.refused ? " error" : "") }, s.refused),
    el("td", { class: "num" + (s.failed ? " error" : "") }, s.failed),
    el("td", { class: "num" + (s.timeout ? " error" : "") }, s.timeout),
    el("td", { class: "num" }, s.dropped),
    el("td", {}, Object.entries(s.divergence).map(([name, dv]) =>
      `${name}: ${fmt.div(dv, name)}`).join(" · ") || "–")));
  return el("div", {}, el("h3", {}, "Shadow comparison"),
    el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

// Phases that end a rollout short of promotion, at the stage they stopped.
const STOPPED = ["rolled_back", "aborted", "failed"];

function stepBar(r) {
  // One cell per stage; done ones filled, the current one outlined (in red where it stopped).
  const labels = r.strategy === "canary" ? r.steps.map((w) => w + "%")
    : [r.strategy === "blue-green" ? "mirror, then switch" : "held for a person"];
  const done = r.phase === "promoted" ? labels.length : r.stage - 1;
  const at = r.phase === "running" || r.phase === "paused" ? " current"
    : STOPPED.includes(r.phase) ? " stopped" : "";
  return el("div", { class: "steps" }, ...labels.map((label, i) => el("span", {
    class: "step" + (i < done ? " done" : "") + (i === r.stage - 1 ? at : ""),
  }, label)));
}

function obsCell(side) {
  if (!side) return "–";
  return `${side.requests} req · ${fmt.pct(side.error_rate)} errors · p99 ` +
    (side.p99_s === null ? "–" : fmt.ms(side.p99_s * 1000) + " ms");
}

// What the analysis compared on mirrored traffic (blue-green): the differing share of labels or
// answers and, for embeddings, the cosine distance (max_divergence checks the first there is),
// the mean score difference (max_score_difference) and the texts' edit distance.
function rolloutDivergence(div) {
  const parts = [];
  if (div.label_share !== null) parts.push(fmt.pct(div.label_share) + " differ");
  if (div.cosine_distance !== null) {
    parts.push("cosine distance " + div.cosine_distance.toFixed(4));
  }
  if (div.score_mad !== null) parts.push("MAD " + div.score_mad.toPrecision(3));
  if (div.edit_distance !== null) parts.push("edit distance " + div.edit_distance.toFixed(3));
  return parts.join(" · ") || "–";
}

function rolloutSection(r) {
  if (!r) return null;
  const head = el("div", { class: "card-head" },
    el("span", {}, `${r.strategy}: ${r.stable} → ${r.candidate}`),
    el("span", { class: "badge phase-" + r.phase }, r.phase.replace("_", " ")),
    el("span", { class: "stat" }, el("b", {}, r.candidate_weight + "%"), " to the candidate"),
    el("span", { class: "muted" }, `step ${r.stage}/${r.stages} · failed checks ` +
      `${r.failures}/${r.failure_limit} · ${r.cause}`));
  const headRow = el("tr", {}, ...["time", "event", "step", "candidate", "stable",
    "divergence", "why"].map((h) => el("th", {}, h)));
  const rows = r.decisions.slice().reverse().map((e) => {
    const o = e.observations;
    const div = o && o.divergence.compared ? rolloutDivergence(o.divergence) : "–";
    const why = e.verdict ? e.verdict.reasons.join("; ") : (e.reason || "");
    return el("tr", { "data-event": e.event },
      el("td", {}, fmt.time(e.time)),
      el("td", { class: e.event === "rollback" || e.event === "abort" ? "error" : "" }, e.event),
      el("td", {}, `${e.stage} (${e.candidate_weight}%)`),
      el("td", {}, o ? obsCell(o.candidate) : "–"),
      el("td", {}, o ? obsCell(o.stable) : "–"),
      el("td", {}, div),
      el("td", {}, why));
  });
  return el("div", { class: "rollout" }, el("h3", {}, "Rollout " + r.id), head, stepBar(r),
    el("table", {}, el("thead", {}, headRow), el("tbody", {}, ...rows)));
}

// One line per scaled version: the main one, and each one a request woke from zero (which
// scales on its own traffic, and so does the main version meanwhile).
// A version whose replica starts fail (while the backoff before the next runs) says why under its
// line, as inferd ps does: each request routed to it gets a 503 meanwhile. The requests held for
// a cold start are the deployment's, so on the main version's line.
function scalingLines(entries) {
  if (!entries || !entries.length) return null;
  return el("div", { class: "autoscaling" }, el("h3", {}, "Autoscaling"),
    ...entries.flatMap((a) => [el("div", { "data-scaled": a.version },
      `${a.version}${a.main === false ? " (woken)" : ""}: ${a.ready} ready of ${a.actual}, ` +
      `wants ${a.desired} (${a.reason.replaceAll("_", " ")}${a.panic ? ", panic" : ""}) · ` +
      `${a.metric}${a.scaled_on === "version" ? " of its own traffic" : ""} ` +
      `${a.value.toFixed(2)} now, ${a.stable.toFixed(2)} stable, ` +
      `${a.panic_value.toFixed(2)} panic window · idle ${fmt.duration(a.idle_s)}` +
      (a.main !== false && a.held ? ` · ${a.held} requests held` : "")),
    a.start_failure ? el("div", { class: "reason error", "data-start-failure": a.version },
      `${a.version}: start failed (${a.start_failure.failures} in a row, ` +
      (a.start_failure.retry_in_s > 0
        ? `next try in ${a.start_failure.retry_in_s.toFixed(1)} s`
        : "the next request tries again") +
      `): ${a.start_failure.message}`) : null]));
}

// A deployment its autoscaler took to zero is not broken: its first request starts a replica
// and waits for it (the gateway's /v2/health/ready counts it ready), so it is not shown red.
function atZero(d, scaling) {
  return !d.ready && (scaling || []).some((a) => a.min_replicas === 0) &&
    d.versions.every((v) => v.role === "shadow" || v.replicas.length === 0 || v.weight === 0);
}

function readiness(d, scaling) {
  const failing = (scaling || []).find((a) => a.start_failure);
  if (!d.ready && failing) {
    return el("span", { class: "badge bad", title: failing.start_failure.message },
      "cannot start");
  }
  if (atZero(d, scaling)) {
    return el("span", { class: "badge", title: "no replica runs; the first request starts one" },
      "scaled to zero");
  }
  return el("span", { class: "badge " + (d.ready ? "ok" : "bad") }, d.ready ? "ready" : "not ready");
}

function liveSection(d, rollout, scaling) {
  const routing = [];
  if (d.sticky_header) routing.push(`sticky on header ${d.sticky_header}`);
  for (const m of d.header_routes) routing.push(`${m.header}: ${m.value} → ${m.version}`);
  if (d.shadow) routing.push(`shadow ${d.shadow}`);
  // Requests the gateway refused before picking a version (none had a ready replica, or the
  // request named none it has): the deployment's rate and errors count them, no version's row.
  const routed = d.versions.filter((v) => v.role === "primary").reduce((n, v) => n + v.rps, 0);
  const unrouted = d.rps - routed > 1e-9 * Math.max(1, d.rps) ? d.rps - routed : 0;
  return [
    el("div", { class: "card-head" },
      el("h2", {}, d.name),
      readiness(d, scaling),
      el("span", { class: "stat" }, el("b", {}, fmt.rps(d.rps)), " req/s"),
      // No request in the window: no error rate (the chart has a gap), not a 0% that looks real.
      el("span", { class: "stat" + (d.error_rate > 0 ? " error" : "") },
        el("b", {}, d.rps > 0 ? fmt.pct(d.error_rate) : "–"), " errors"),
      routing.length ? el("span", { class: "muted" }, routing.join(" · ")) : null,
      unrouted ? el("span", { class: "error", "data-unrouted": "" }, fmt.rps(unrouted) +
        " req/s refused before reaching a version" +
        " (no replica ready, or a request it cannot route)") : null),
    el("h3", {}, "Traffic split"),
    splitBar(d.versions, "weight", "configured weights"),
    splitBar(d.versions, "share", "observed, last 10 s"),
    el("h3", {}, "Versions"),
    versionTable(d),
    shadowTable(d),
    rolloutSection(rollout),
    scalingLines(scaling),
  ].filter((part) => part !== null);
}
