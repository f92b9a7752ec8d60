// The gateway dashboard: polls /api/status and redraws. No dependencies, no external assets.
// Every value from the status document is written with textContent, never as HTML.
"use strict";

const POLL_MS = 1500;
const COLORS = ["--v0", "--v1", "--v2", "--v3", "--v4"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "style") node.setAttribute("style", value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = {
  rps: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  pct: (v) => (v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1) + "%",
  ms: (v) => (v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(1)),
  div: (d) => (d.kind === "share" ? fmt.pct(d.mean) + " differ" : "MAD " + d.mean.toPrecision(3)),
  duration: (s) => {
    if (s === null || s === undefined) return "–";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  },
};

function color(i) {
  return `var(${COLORS[i % COLORS.length]})`;
}

function splitBar(versions, key, label) {
  const primary = versions.filter((v) => v.role === "primary");
  const total = primary.reduce((acc, v) => acc + v[key], 0);
  const bar = el("div", { class: "split", title: label });
  primary.forEach((v, i) => {
    const share = total > 0 ? v[key] / total : 0;
    if (share <= 0) return;
    bar.append(el("div", { style: `width:${(share * 100).toFixed(2)}%;background:${color(i)}` },
      `${v.name} ${fmt.pct(share)}`));
  });
  return el("div", {}, el("div", { class: "legend muted" }, label), bar);
}

function replicaChips(replicas) {
  const box = el("div", { class: "replicas" });
  for (const r of replicas) {
    const title = `${r.id} · port ${r.port} · pid ${r.pid ?? "–"} · restarts ${r.restarts}` +
      ` · up ${fmt.duration(r.uptime_s)} · in flight ${r.outstanding}` +
      (r.reason ? ` · ${r.reason}` : "");
    box.append(el("span", { class: `replica state-${r.state}`, title }, `${r.id} ${r.state}`));
  }
  if (!replicas.length) box.append(el("span", { class: "muted" }, "none"));
  return box;
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
    el("td", { class: "num" }, v.role === "shadow" ? "–" : fmt.pct(v.share)),
    el("td", { class: "num" }, fmt.rps(v.rps)),
    el("td", { class: "num" + (v.error_rate > 0 ? " error" : "") }, fmt.pct(v.error_rate)),
    el("td", { class: "num" }, fmt.ms(v.p50_ms)),
    el("td", { class: "num" }, fmt.ms(v.p99_ms)),
    el("td", {}, replicaChips(v.replicas))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

function shadowTable(d) {
  if (!d.shadow_comparisons.length) return null;
  const head = el("tr", {}, ...["primary → shadow", "compared", "failed", "timeouts",
    "dropped", "divergence per output"].map((h, i) =>
    el("th", { class: i >= 1 && i <= 4 ? "num" : "" }, h)));
  const rows = d.shadow_comparisons.map((s) => el("tr", {},
    el("td", {}, `${s.primary} → ${s.shadow}`),
    el("td", { class: "num" }, s.compared),
    el("td", { class: "num" + (s.failed ? " error" : "") }, s.failed),
    el("td", { class: "num" + (s.timeout ? " error" : "") }, s.timeout),
    el("td", { class: "num" }, s.dropped),
    el("td", {}, Object.entries(s.divergence).map(([name, dv]) =>
      `${name}: ${fmt.div(dv)}`).join(" · ") || "–")));
  return el("div", {}, el("h3", {}, "Shadow comparison"),
    el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function stepBar(r) {
  // One cell per stage; done ones filled, the current one outlined.
  const labels = r.strategy === "canary" ? r.steps.map((w) => w + "%")
    : [r.strategy === "blue-green" ? "mirror, then switch" : "held for a person"];
  const done = r.phase === "promoted" ? labels.length : r.stage - 1;
  return el("div", { class: "steps" }, ...labels.map((label, i) => el("span", {
    class: "step" + (i < done ? " done" : "") + (i === r.stage - 1 && r.phase !== "promoted"
      ? " current" : ""),
  }, label)));
}

function obsCell(side) {
  if (!side) return "–";
  return `${side.requests} req · ${fmt.pct(side.error_rate)} errors · p99 ` +
    (side.p99_s === null ? "–" : fmt.ms(side.p99_s * 1000) + " ms");
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
    const div = o && o.divergence.label_share !== null ? fmt.pct(o.divergence.label_share)
      : "–";
    const why = e.verdict ? e.verdict.reasons.join("; ") : (e.reason || "");
    return el("tr", { "data-event": e.event },
      el("td", {}, new Date(e.time * 1000).toLocaleTimeString()),
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

function scalingLine(a) {
  if (!a) return null;
  return el("div", { class: "autoscaling" }, el("h3", {}, "Autoscaling"),
    el("span", {}, `${a.version}: ${a.ready} ready of ${a.actual}, wants ${a.desired} ` +
      `(${a.reason.replaceAll("_", " ")}${a.panic ? ", panic" : ""}) · ${a.metric} ` +
      `${a.value.toFixed(2)} now, ${a.stable.toFixed(2)} stable, ` +
      `${a.panic_value.toFixed(2)} panic window · idle ${fmt.duration(a.idle_s)}`));
}

function deploymentCard(d, rollout, scaling) {
  const routing = [];
  if (d.sticky_header) routing.push(`sticky on header ${d.sticky_header}`);
  for (const m of d.header_routes) routing.push(`${m.header}: ${m.value} → ${m.version}`);
  if (d.shadow) routing.push(`shadow ${d.shadow}`);
  return el("section", { class: "card", "data-deployment": d.name },
    el("div", { class: "card-head" },
      el("h2", {}, d.name),
      el("span", { class: "badge " + (d.ready ? "ok" : "bad") }, d.ready ? "ready" : "not ready"),
      el("span", { class: "stat" }, el("b", {}, fmt.rps(d.rps)), " req/s"),
      el("span", { class: "stat" + (d.error_rate > 0 ? " error" : "") },
        el("b", {}, fmt.pct(d.error_rate)), " errors"),
      routing.length ? el("span", { class: "muted" }, routing.join(" · ")) : null),
    el("h3", {}, "Traffic split"),
    splitBar(d.versions, "weight", "configured weights"),
    splitBar(d.versions, "share", "observed, last 10 s"),
    el("h3", {}, "Versions"),
    versionTable(d),
    shadowTable(d),
    rolloutSection(rollout),
    scalingLine(scaling));
}

function render(status) {
  const ready = document.getElementById("ready");
  ready.textContent = status.ready ? "ready" : "not ready";
  ready.className = "badge " + (status.ready ? "ok" : "bad");
  document.getElementById("generation").textContent = status.generation;
  document.getElementById("uptime").textContent = fmt.duration(status.uptime_s);
  document.getElementById("updated").textContent =
    "updated " + new Date().toLocaleTimeString();
  const main = document.getElementById("deployments");
  const byName = (list) => Object.fromEntries((list || []).map((x) => [x.deployment, x]));
  const rollouts = byName(status.rollouts);
  const scaling = byName(status.autoscaling);
  const cards = status.deployments.map((d) => deploymentCard(d, rollouts[d.name],
    scaling[d.name]));
  if (!cards.length) cards.push(el("p", { class: "muted" }, "No deployments yet."));
  main.replaceChildren(...cards);
}

async function poll() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
  } catch (err) {
    const ready = document.getElementById("ready");
    ready.textContent = "gateway unreachable";
    ready.className = "badge bad";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
