// The charts of the last hour (/api/history), drawn by uPlot into each card's chart area with
// the rollout steps and tag moves marked; the range buttons in the header pick the span.
"use strict";

const RANGES = [["5 min", 300], ["15 min", 900], ["1 h", 3600]];
const CHART_HEIGHT = 150;
const MIN_X_SPAN_S = 60;

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
  // A version gone from the deployment (a rollout's candidate, once it ends) keeps its lines for
  // the hour: each such version in a colour of its own, after the current versions'.
  const gone = [...new Set(mine.map((s) => s.version))].filter((v) => !c.versions.includes(v));
  const versionColour = (v) => {
    const i = c.versions.indexOf(v);
    return resolvedColor(i < 0 ? c.versions.length + gone.indexOf(v) : i);
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
  patch(c.events, c.marks.map((e) => el("li", { class: "event-" + e.kind, "data-kind": e.kind },
    `${fmt.time(e.time)} · ${e.kind === "alias" ? "tag" : "rollout"}: ${e.text}`)));
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

// A window made narrower or wider: the charts redrawn at their boxes' new width once it settles,
// not at the next history poll (every 5 s by default) while the page scrolls sideways.
let resizing = null;
function redrawOnResize() {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    resizing = null;
    if (view.history) drawHistory();
  }, 150);
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
