// The lineage panel of each card (/api/lineage): the store's tag moves of the models it serves,
// the digests it serves now marked.
"use strict";

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
    patch(c.lineage, parts);
  }
}
