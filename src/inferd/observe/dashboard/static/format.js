// The dashboard's building blocks: DOM nodes from values (always as text, never as HTML),
// number and time formats, and each version's colour. Loaded first; the other scripts use them.
"use strict";

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

// Makes parent's children look like `next` (nodes from el()), changing the nodes already there
// in place rather than replacing them: a redraw every poll then keeps what the reader is doing
// (a table scrolled sideways, a selected reason, a hovered chip's tooltip). A <details> keeps
// the open or closed state the reader gave it.
function patch(parent, next) {
  const old = Array.from(parent.childNodes);
  next.forEach((node, i) => {
    const have = old[i];
    if (!have) {
      parent.append(node);
    } else if (have.nodeName !== node.nodeName) {
      have.replaceWith(node);
    } else if (node.nodeType !== Node.ELEMENT_NODE) {
      if (have.data !== node.data) have.data = node.data;
    } else {
      for (const { name } of Array.from(have.attributes)) {
        if (name !== "open" && !node.hasAttribute(name)) have.removeAttribute(name);
      }
      for (const { name, value } of Array.from(node.attributes)) {
        if (name !== "open" && have.getAttribute(name) !== value) have.setAttribute(name, value);
      }
      patch(have, Array.from(node.childNodes));
    }
  });
  for (const extra of old.slice(next.length)) extra.remove();
}

const fmt = {
  rps: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  pct: (v) => (v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1) + "%",
  ms: (v) => (v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(1)),
  // A generation's text compares by exact match (a share of answers differing), its edit
  // distance and, for embeddings, cosine distance; tensors by differing share or MAD.
  div: (d, name) => (d.kind === "share"
    ? (name === "text" ? "exact match " + fmt.pct(1 - d.mean) : fmt.pct(d.mean) + " differ")
    : d.kind === "edit_distance" ? "mean " + d.mean.toFixed(3)
      : d.kind === "cosine_distance" ? "mean cosine distance " + d.mean.toFixed(4)
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

// Version i's colour in the tables (and, resolved, the charts): the palette, then spread hues
// so many versions or drift features stay apart.
function color(i) {
  return i < COLORS.length ? `var(${COLORS[i]})` : `hsl(${(i * 137) % 360} 60% 45%)`;
}

// A canvas cannot use CSS variables: the same colours, resolved.
function resolvedColor(i) {
  if (i >= COLORS.length) return color(i);
  return getComputedStyle(document.documentElement).getPropertyValue(COLORS[i]).trim();
}
