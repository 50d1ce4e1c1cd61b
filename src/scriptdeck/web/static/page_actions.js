// The Plugins menu: every action service; choosing one opens its settings dialog (pre-filled
// with the last-used values), then runs it on the open document with progress.

import { ApiError, eventsOfRun, get, on, post } from "./api.js";
import { buildForm } from "./forms.js";
import { clear, errorText, h, icon, modal, toast } from "./ui.js";

export function actionsPage(root, app) {
  const menu = h("div", { class: "menu", id: "action-menu" });
  const docInfo = h("div", { class: "card", id: "action-doc" });
  const runs = h("div", { class: "card", id: "action-runs" });
  root.append(h("div", { class: "grid two" }, h("div", {}, menu), h("div", { class: "grid" }, docInfo, runs)));
  const mine = [];

  function render() {
    const actions = app.services.filter((s) => s.kind === "action");
    clear(menu, actions.map((s) => h("button", { title: s.tooltip || s.label, "data-service": s.id, onclick: () => openDialog(s) },
      icon(s.icon_url), h("span", {}, h("div", { class: "lbl", text: s.label }), h("div", { class: "tip", text: s.tooltip || s.id })))));
    if (!actions.length) menu.append(h("div", { class: "empty", text: "No action plugins installed." }));
  }
  function renderDoc() {
    const d = app.document;
    clear(docInfo, h("h2", {}, "Open document"), d && d.loaded
      ? h("div", {}, h("b", { text: d.name }), h("span", { class: "muted", text: ` · ${d.lines.toLocaleString()} lines · revision ${d.revision}` }),
        d.can_undo ? h("div", { class: "row", style: "margin-top:.5rem" }, h("button", { class: "btn small", text: `Undo ${d.undo_label || ""}`, onclick: () => post("/api/document/undo").catch((e) => toast("error", "Undo", errorText(e))) })) : null)
      : h("p", { class: "muted", text: "No document open. Actions work on the open document: open a file on the Document page." }));
  }
  function renderRuns() {
    clear(runs, h("h2", {}, "Recent actions"), mine.length ? h("table", { class: "tbl" }, h("tbody", {}, mine.slice(-8).reverse().map((r) =>
      h("tr", {}, h("td", { text: r.title || r.service }), h("td", {}, h("span", { class: `pill ${r.state}`, text: r.state })),
        h("td", { class: "small muted" }, progressCell(r)))))) : h("p", { class: "muted small", text: "Actions you run appear here." }));
  }

  // A running action with reported progress shows a bar (import_export.progress / progress_max_changed).
  function progressCell(r) {
    if (r.error) return r.error;
    if (r.state !== "running") return "";
    if (r.progress == null) return h("div", { class: "progress indeterminate", role: "progressbar" }, h("div"));
    const pct = Math.max(0, Math.min(100, Math.round(r.progress * 100)));
    return h("div", { class: "progress", role: "progressbar", "aria-valuenow": String(pct), title: `${pct}%` },
      h("div", { style: `width:${pct}%` }));
  }

  async function openDialog(s) {
    const view = await get(`/api/services/${s.id}/settings`);
    const form = buildForm(view.schema, view.values);
    const err = h("div", { class: "notice err hidden" });
    const progress = h("div", { class: "progress hidden" }, h("div"));
    const body = h("div", {}, s.tooltip ? h("p", { class: "muted small", text: s.tooltip }) : null, form.el, err, progress);
    let dlg;
    dlg = modal({ title: s.label, iconUrl: s.icon_url, body, cls: "action-dialog", buttons: [
      { label: "Cancel" },
      { label: "Run", primary: true, role: "run", action: async () => {
        err.classList.add("hidden");
        if (form.validate().length) return false;
        try {
          const run = await post("/api/runs", { service: s.id, settings: form.values() });
          mine.push(run); renderRuns();
          toast("info", s.label, "running…", 2500);
          const missed = eventsOfRun(run.id);  // a quick run may have ended before this answer came
          if (missed.length) onRunEvent(missed[missed.length - 1]);
          return true;
        } catch (e) {
          if (!(e instanceof ApiError && e.field && form.showError(e.field, e.message))) { err.textContent = errorText(e); err.classList.remove("hidden"); }
          return false;
        }
      } },
    ] });
    return dlg;
  }
  let fetchSeq = 0;
  async function onRunEvent(env) {
    const r = env.run_id && mine.find((m) => m.id === env.run_id);
    if (!r) return;
    const seq = ++fetchSeq;
    let fresh;
    try { fresh = await get(`/api/runs/${r.id}`); } catch { return; }
    if (seq < (r.seq || 0)) return;  // an answer asked for later is already on show
    Object.assign(r, fresh, { seq });
    renderRuns();
    if (r.state === "finished" && /Finished$/.test(env.event)) toast("success", r.title, r.changed === false ? "finished (document unchanged)" : "finished");
    if (["error", "failed"].includes(r.state) && /(Error|Failed)$/.test(env.event)) toast("error", r.title, r.error || r.state, 9000);
  }
  on("*", onRunEvent);
  return { services: render, document: renderDoc, show() { render(); renderDoc(); renderRuns(); } };
}
