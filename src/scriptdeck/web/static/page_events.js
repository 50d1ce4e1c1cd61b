// Events: a live feed of every event on the bus (the same stream as /api/events).

import { get, on } from "./api.js";
import { clear, h } from "./ui.js";

export function eventsPage(root) {
  const feed = h("div", { class: "feed", id: "event-feed" });
  const filter = h("input", { type: "text", id: "event-filter", placeholder: "Filter by name or payload…", style: "width:300px" });
  const pause = h("input", { type: "checkbox", id: "event-pause" });
  const count = h("span", { class: "muted small" });
  root.append(h("div", { class: "toolbar" }, filter, h("label", { class: "row small", style: "gap:.3rem" }, pause, "pause"), h("span", { class: "spacer" }), count,
    h("a", { class: "btn small", href: "/api/events", target: "_blank", text: "raw stream" })), h("div", { class: "card" }, feed));
  const items = [];
  const row = (e) => h("div", { class: "ev", "data-event": e.event }, h("span", { class: "muted", text: new Date(e.time).toLocaleTimeString() }),
    h("span", { class: "n", text: e.event }), h("span", { class: "p", text: JSON.stringify(e.payload) + (e.run_id ? `  run ${e.run_id.slice(0, 8)}` : "") }));
  const match = (e) => { const q = filter.value.trim().toLowerCase(); return !q || `${e.event} ${JSON.stringify(e.payload)}`.toLowerCase().includes(q); };
  function render() { clear(feed, items.filter(match).slice(-400).reverse().map(row)); count.textContent = `${items.length} events`; }
  filter.oninput = render;
  on("*", (e) => {
    items.push(e); if (items.length > 2000) items.shift();
    count.textContent = `${items.length} events`;
    if (!pause.checked && match(e)) { feed.prepend(row(e)); while (feed.childElementCount > 400) feed.lastChild.remove(); }
  });
  let loaded = false;
  return { show: async () => { if (!loaded) { loaded = true; const r = await get("/api/events/recent?limit=300"); const seen = new Set(items.map((e) => e.time + e.event)); items.unshift(...r.events.filter((e) => !seen.has(e.time + e.event))); render(); } } };
}
