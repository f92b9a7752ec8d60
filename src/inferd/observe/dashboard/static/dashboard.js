// The gateway dashboard: polls /api/status (tables), /api/history (charts) and /api/lineage
// (model lineage) and redraws. Charts use uPlot, served from the package (static/vendor/, fetched
// by scripts/web-assets); without it the tables still work. No external assets.
// Every value from the gateway is written with textContent, never as HTML.
"use strict";

const POLL_MS = 1500;
const LINEAGE_MS = 10000;
const COLORS = ["--v0", "--v1", "--v2", "--v3", "--v4"];
const RANGES = [["5 min", 300], ["15 min", 900], ["1 h", 3600]];
const CHART_HEIGHT = 150;
const MIN_X_SPAN_S = 60;

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
  // A generation's text compares by exact match (a share of answers differing), its edit
  // distance and, for embeddings, cosine similarity; tensors by differing share or MAD.
  div: (d, name) => (d.kind === "share"
    ? (name === "text" ? "exact match " + fmt.pct(1 - d.mean) : fmt.pct(d.mean) + " differ")
    : d.kind === "edit_distance" ? "mean " + d.mean.toFixed(3)
      : d.kind === "cosine" ? "mean cosine " + d.mean.toFixed(4)
        : "MAD " + d.mean.toPrecision(3)),
  num: (v) => (v === null || v === undefined ? "–" : Math.abs(v) >= 100 ? v.toFixed(0)
    : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2)),
  time: (t) => new Date(t * 1000).toLocaleTimeString(),
  digest: (d) => (d ? d.slice(0, 19) : "–"),
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

// A canvas cannot use CSS variables: the same colours, resolved.
function resolvedColor(i) {
  const name = COLORS[i % COLORS.length];
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  // Past the palette, spread hues so many drift features stay apart.
  return i < COLORS.length ? value : `hsl(${(i * 137) % 360} 60% 45%)`;
}

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
    box.append(el("span", { class: `replica state-${r.state}`, title }, `${r.id} ${r.state}`));
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
function scalingLines(entries) {
  if (!entries || !entries.length) return null;
  return el("div", { class: "autoscaling" }, el("h3", {}, "Autoscaling"),
    ...entries.map((a) => el("div", { "data-scaled": a.version },
      `${a.version}${a.main === false ? " (woken)" : ""}: ${a.ready} ready of ${a.actual}, ` +
      `wants ${a.desired} (${a.reason.replaceAll("_", " ")}${a.panic ? ", panic" : ""}) · ` +
      `${a.metric}${a.scaled_on === "version" ? " of its own traffic" : ""} ` +
      `${a.value.toFixed(2)} now, ${a.stable.toFixed(2)} stable, ` +
      `${a.panic_value.toFixed(2)} panic window · idle ${fmt.duration(a.idle_s)}`)));
}

// A deployment its autoscaler took to zero is not broken: its first request starts a replica
// and waits for it (the gateway's /v2/health/ready counts it ready), so it is not shown red.
function atZero(d, scaling) {
  return !d.ready && (scaling || []).some((a) => a.min_replicas === 0) &&
    d.versions.every((v) => v.role === "shadow" || v.replicas.length === 0 || v.weight === 0);
}

function readiness(d, scaling) {
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
  return [
    el("div", { class: "card-head" },
      el("h2", {}, d.name),
      readiness(d, scaling),
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
    scalingLines(scaling),
  ].filter((part) => part !== null);
}

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
    c.live.replaceChildren(...liveSection(d, rollouts[d.name], scaling[d.name]));
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

// -- charts ---------------------------------------------------------------------------------

// Which charts a deployment gets, in order; a chart shows when it has a series.
// value: a hovered value in the legend; axis: a tick label (short).
const pctTick = (v) => (v * 100).toFixed(v > 0 && v < 0.01 ? 1 : 0) + "%";
const numTick = (v) => (Math.abs(v) >= 1000 ? (v / 1000).toFixed(1) + "k" : fmt.num(v));
const CHARTS = [
  { metric: "rps", title: "requests/s", value: fmt.num, axis: numTick },
  { metric: "error_rate", title: "error rate", value: fmt.pct, axis: pctTick },
  { metric: "p99_ms", title: "p99 latency (ms)", value: fmt.num, axis: numTick },
  { metric: "replicas", title: "ready replicas", value: (v) => v.toFixed(0),
    axis: (v) => v.toFixed(0), stepped: true, integer: true },
  { metric: "batch_size", title: "batch size (mean rows)", value: fmt.num, axis: numTick },
  { metric: "divergence_share", title: "shadow: labels or answers differing", value: fmt.pct,
    axis: pctTick },
  { metric: "divergence_mad", title: "shadow: mean score difference", value: fmt.num,
    axis: numTick },
  { metric: "drift_psi", title: "input drift PSI", value: fmt.num, axis: numTick,
    byFeature: true },
  { metric: "cost_per_1k", title: "cost per 1k predictions", value: fmt.num, axis: numTick },
  { metric: "idle_share", title: "idle share of replica time", value: fmt.pct, axis: pctTick },
];

// The charts of one deployment: [{key, title, value, stepped, lines: [{label, colour, values}]}].
function chartsOf(c, name, doc) {
  const mine = doc.series.filter((s) => s.deployment === name);
  const versionColour = (v) => {
    const i = c.versions.indexOf(v);
    return resolvedColor(i < 0 ? c.versions.length : i);
  };
  const out = [];
  for (const spec of CHARTS) {
    const series = mine.filter((s) => s.metric === spec.metric);
    if (!series.length) continue;
    if (spec.byFeature) {
      // One chart per version, one line per input feature.
      for (const version of [...new Set(series.map((s) => s.version))]) {
        const lines = series.filter((s) => s.version === version)
          .map((s, i) => ({ label: s.label, colour: resolvedColor(i), values: s.values }));
        out.push({ ...spec, key: `${spec.metric}:${version}`,
          title: `${spec.title} · ${version}`, lines });
      }
    } else {
      const lines = series.map((s) => ({ label: s.version, colour: versionColour(s.version),
        values: s.values }));
      const title = spec.metric === "cost_per_1k" && view.currency
        ? `${spec.title} (${view.currency})` : spec.title;
      out.push({ ...spec, key: spec.metric, title, lines });
    }
  }
  return out;
}

// Dashed vertical lines at each event, numbered as in the list under the charts.
function eventMarks(c) {
  return {
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        const { left, top, width, height } = u.bbox;
        ctx.save();
        ctx.font = `${Math.round(10 * devicePixelRatio)}px system-ui, sans-serif`;
        c.marks.forEach((e, i) => {
          const x = Math.round(u.valToPos(e.time, "x", true));
          if (x < left || x > left + width) return;
          ctx.strokeStyle = e.kind === "alias" ? "#7b4fd0" : "#c07a00";
          ctx.fillStyle = ctx.strokeStyle;
          ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          ctx.fillText(String(i + 1), x + 3 * devicePixelRatio, top + 11 * devicePixelRatio);
        });
        ctx.restore();
      }],
    },
  };
}

// After each draw, the chart's box says how many x values uPlot drew (data-drawn): a test can
// tell a drawn chart from an empty canvas.
function drawnMark() {
  return {
    hooks: {
      draw: [(u) => {
        const box = u.root.closest(".chart");
        if (box) box.dataset.drawn = String(u.data[0].length);
      }],
    },
  };
}

function plotOptions(c, chart, width) {
  return {
    width,
    height: CHART_HEIGHT,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: {
      // From the data, at least a minute wide up to the newest sample: uPlot alone spreads
      // a single sample over a day after it, and its axis then counts years.
      x: { time: true, range: (u, min, max) => {
        const xs = u.data[0];
        if (!xs.length) return [min, max];
        const newest = xs[xs.length - 1];
        return [Math.min(xs[0], newest - MIN_X_SPAN_S), newest];
      } },
      y: { range: (u, min, max) => [Math.min(0, min),
        chart.integer ? Math.max(1, max + 1) : max > 0 ? max * 1.1 : 1] },
    },
    axes: [{}, {
      size: 56,
      values: (u, ticks) => ticks.map((t) => chart.axis(t)),
      ...(chart.integer ? { incrs: [1, 2, 5, 10, 20, 50, 100] } : {}),
    }],
    series: [{}, ...chart.lines.map((line) => ({
      label: line.label,
      stroke: line.colour,
      width: 1.5,
      points: { show: false },
      value: (u, v) => (v === null || v === undefined ? "–" : chart.value(v)),
      ...(chart.stepped ? { paths: uPlot.paths.stepped({ align: 1 }) } : {}),
    }))],
    plugins: [eventMarks(c), drawnMark()],
  };
}

function drawCharts(c, name, doc) {
  const times = doc.times;
  const newest = times.length ? times[times.length - 1] : 0;
  let from = times.findIndex((t) => t > newest - view.range);
  if (from < 0) from = 0;
  const x = times.slice(from);
  c.marks = doc.events.filter((e) => e.deployment === name && (!x.length || e.time >= x[0]));
  const charts = chartsOf(c, name, doc);
  const keep = new Set(charts.map((ch) => ch.key));
  for (const [key, plot] of c.plots) {
    if (!keep.has(key)) {
      plot.destroy();
      c.plots.delete(key);
    }
  }
  const boxes = charts.map((chart) => {
    const data = [x, ...chart.lines.map((line) => line.values.slice(from))];
    const points = data.slice(1).reduce((n, vs) => n + vs.filter((v) => v !== null).length, 0);
    const labels = chart.lines.map((line) => line.label).join(",");
    let box = c.charts.querySelector(`[data-chart="${CSS.escape(chart.key)}"]`);
    if (!box) {
      box = el("div", { class: "chart", "data-chart": chart.key },
        el("h4", {}, chart.title), el("div", { class: "plot" }));
    }
    box.querySelector("h4").textContent = chart.title;
    box.setAttribute("data-series", labels);
    box.setAttribute("data-points", String(points));
    return { box, chart, data, labels };
  });
  c.charts.replaceChildren(...boxes.map((b) => b.box));
  for (const { box, chart, data, labels } of boxes) {
    const width = Math.max(200, box.clientWidth - 2);
    let plot = c.plots.get(chart.key);
    if (plot && (plot.labels !== labels || Math.abs(plot.width - width) > 8)) {
      plot.destroy();
      plot = undefined;
    }
    if (!plot) {
      plot = new uPlot(plotOptions(c, chart, width), data, box.querySelector(".plot"));
      plot.labels = labels;
      c.plots.set(chart.key, plot);
    } else {
      plot.setData(data);
    }
  }
  c.events.replaceChildren(...c.marks.map((e) => el("li", { class: "event-" + e.kind,
    "data-kind": e.kind }, `${fmt.time(e.time)} · ${e.kind === "alias" ? "tag" : "rollout"}: ` +
    e.text)));
}

function drawHistory() {
  const doc = view.history;
  const note = document.getElementById("charts-note");
  if (typeof uPlot === "undefined") {
    note.hidden = false;
    return;
  }
  note.hidden = true;
  const covered = doc.times.length ? doc.times[doc.times.length - 1] - doc.times[0] : 0;
  document.getElementById("history-span").textContent =
    `${fmt.duration(Math.min(covered + doc.interval_s, view.range))} at ${doc.interval_s} s`;
  for (const [name, c] of cards) drawCharts(c, name, doc);
}

function rangeButtons() {
  const box = document.getElementById("ranges");
  box.replaceChildren(...RANGES.map(([label, seconds]) => {
    const button = el("button", { type: "button", class: seconds === view.range ? "on" : "" },
      label);
    button.addEventListener("click", () => {
      view.range = seconds;
      for (const c of cards.values()) {
        for (const plot of c.plots.values()) plot.destroy();
        c.plots.clear();
      }
      rangeButtons();
      if (view.history) drawHistory();
    });
    return button;
  }));
}

// -- lineage --------------------------------------------------------------------------------

function drawLineage() {
  const doc = view.lineage;
  for (const d of doc.deployments) {
    const c = cards.get(d.name);
    if (!c) continue;
    const serving = new Map();
    for (const v of d.versions) {
      if (v.digest) serving.set(v.digest, [...(serving.get(v.digest) || []), v.version]);
    }
    const parts = [el("h3", {}, "Model lineage")];
    if (!doc.store) {
      parts.push(el("p", { class: "muted" }, "No store behind this gateway (inferd up has one)."));
    }
    for (const m of d.models) {
      const head = el("tr", {}, ...["time", "tag", "action", "from", "to", "by"]
        .map((h) => el("th", {}, h)));
      const rows = m.events.map((e) => {
        const versions = serving.get(e.new);
        return el("tr", { class: versions ? "serving" : "", "data-tag": e.tag },
          el("td", {}, new Date(e.time).toLocaleString()),
          el("td", {}, `${m.name}:${e.tag}`),
          el("td", {}, e.action),
          el("td", { title: e.old || "" }, fmt.digest(e.old)),
          el("td", { title: e.new || "" }, fmt.digest(e.new),
            versions ? el("span", { class: "badge ok" }, "serving " + versions.join(", ")) : null),
          el("td", {}, e.by));
      });
      parts.push(el("details", { open: "" },
        el("summary", {}, `${m.name}: ${m.events.length + m.more} tag moves`),
        el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)),
        m.more ? el("p", { class: "muted" }, `and ${m.more} older: inferd history ${m.name}`)
          : null));
    }
    c.lineage.replaceChildren(...parts);
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
      response = await fetch(path, { cache: "no-store", signal: abort.signal });
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
poll();
pollHistory();
pollLineage();
