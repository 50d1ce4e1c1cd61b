// History: past runs with outcome; a run's settings, status history and log; re-run.

import { get, post } from "./api.js";
import { clear, errorText, fmtJSON, fmtTime, h, toast } from "./ui.js";

export function historyPage(root, app) {
  const table = h("div", { class: "card", id: "history-table" });
  const detail = h("div", { class: "card", id: "history-detail" });
  root.append(h("div", { class: "grid", style: "grid-template-columns: 1.3fr 1fr; align-items:start" }, table, detail));
  let selected = null;

  async function refresh() {
    let runs = [];
    try { runs = (await get("/api/history?limit=200")).runs; } catch (e) { clear(table, h("div", { class: "notice err", text: errorText(e) })); return; }
    clear(table, h("h2", {}, "Past runs", h("span", { class: "right muted small", text: `${runs.length} shown` })), runs.length ? h("table", { class: "tbl" },
      h("thead", {}, h("tr", {}, ["Started", "Service", "Kind", "Outcome"].map((t) => h("th", { text: t })))),
      h("tbody", {}, runs.map((r) => h("tr", { class: `click ${selected === r.id ? "sel" : ""}`, "data-run": r.id, onclick: () => show(r.id) },
        h("td", { class: "small", text: fmtTime(r.started) }), h("td", {}, h("b", { text: r.title || r.service }), h("div", { class: "small muted", text: r.service })),
        h("td", { class: "small", text: r.kind }), h("td", {}, h("span", { class: `pill ${r.state}`, text: r.state })))))) : h("div", { class: "empty", text: "No runs yet." }));
    if (!selected) clear(detail, h("div", { class: "empty", text: "Select a run to see its settings, status history and log." }));
  }
  async function show(id) {
    selected = id;
    table.querySelectorAll("tr.sel").forEach((tr) => tr.classList.remove("sel"));
    const tr = table.querySelector(`tr[data-run="${CSS.escape(id)}"]`); if (tr) tr.classList.add("sel");
    let r;
    try { r = await get(`/api/history/${encodeURIComponent(id)}`); } catch (e) { clear(detail, h("div", { class: "notice err", text: errorText(e) })); return; }
    clear(detail, h("h2", {}, r.title || r.service, h("span", { class: `pill ${r.state}`, text: r.state }),
        h("span", { class: "right" }, r.kind !== "format" ? h("button", { class: "btn small primary", id: "history-rerun", text: "Re-run", onclick: async () => {
          try { await post(`/api/history/${encodeURIComponent(id)}/rerun`); toast("info", "Re-run", `${r.title || r.service} started`); setTimeout(refresh, 400); } catch (e) { toast("error", "Re-run", errorText(e), 9000); } } }) : null)),
      h("dl", { class: "kv" }, h("dt", { text: "Run" }), h("dd", { class: "mono", text: r.id }), h("dt", { text: "Started" }), h("dd", { text: fmtTime(r.started) }),
        h("dt", { text: "Ended" }), h("dd", { text: fmtTime(r.ended) || "–" }),
        r.error ? h("dt", { text: "Error" }) : null, r.error ? h("dd", { style: "color:var(--err)", text: r.error }) : null,
        r.result != null ? h("dt", { text: "Result" }) : null, r.result != null ? h("dd", { class: "mono", text: fmtJSON(r.result) }) : null),
      h("h2", { style: "margin-top:1rem" }, "Settings"), Object.keys(r.settings || {}).length ? h("dl", { class: "kv" }, Object.entries(r.settings).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { class: "mono", text: fmtJSON(v) })])) : h("p", { class: "muted small", text: "none" }),
      h("h2", { style: "margin-top:1rem" }, "Status history"), (r.status_history || []).length ? h("ol", { class: "small" }, r.status_history.map((s) => h("li", {}, h("span", { class: "muted", text: `${fmtTime(s.time)} ` }), String(s.status)))) : h("p", { class: "muted small", text: "none" }),
      h("h2", { style: "margin-top:1rem" }, "Log"), h("div", { class: "log" }, (r.log || []).map((l) => h("div", { class: l.level }, `${l.level} ${l.message}`))));
  }
  return { show: refresh, refresh };
}
