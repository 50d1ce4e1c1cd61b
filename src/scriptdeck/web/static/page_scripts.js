// Automation scripts: a button per script, its settings form, Run/Cancel, live status, log and result.

import { ApiError, eventsOfRun, get, on, post, put } from "./api.js";
import { buildForm } from "./forms.js";
import { clear, errorText, fmtJSON, h, icon, toast } from "./ui.js";

export function scriptsPage(root, app) {
  const tiles = h("div", { class: "tiles", id: "script-tiles" });
  const panel = h("div", { class: "card", id: "script-panel" });
  root.append(h("div", { class: "grid side" }, h("div", {}, h("h2", { class: "muted small", style: "margin:0 0 .6rem;font-weight:600", text: "AUTOMATION SCRIPTS" }), tiles), panel));
  let selected = null, form = null, runId = null, run = null, fetchSeq = 0, shownSeq = 0;

  function renderTiles() {
    const scripts = app.services.filter((s) => s.kind === "automation");
    clear(tiles, scripts.map((s) => h("button", { class: `tile ${selected && selected.id === s.id ? "selected" : ""}`, "data-service": s.id,
      onclick: () => select(s.id) }, icon(s.icon_url), h("span", {}, s.title || s.label, h("span", { class: "sub", text: s.id })))));
    if (!scripts.length) tiles.append(h("div", { class: "empty", text: "No automation scripts installed. Drop a script file into the scripts folder." }));
  }

  async function select(id, keepRun = false) {
    selected = app.services.find((s) => s.id === id);
    renderTiles();
    if (!selected) { clear(panel, h("div", { class: "empty", text: "Choose a script on the left." })); return; }
    const view = await get(`/api/services/${selected.id}/settings`);
    form = buildForm(view.schema, view.values);
    if (!keepRun) {  // keepRun: leave runId/run alone, events may have moved them on meanwhile
      const active = app.activeRunOf(selected.id);
      runId = active ? active.id : null; run = active;
    }
    const save = h("button", { class: "btn", id: "script-save", text: "Save settings", onclick: saveSettings });
    const runBtn = h("button", { class: "btn primary", id: "script-run", text: "▶ Run" , onclick: start });
    const cancel = h("button", { class: "btn danger", id: "script-cancel", text: "Cancel", onclick: stop });
    clear(panel,
      h("h2", {}, icon(selected.icon_url), h("span", { id: "script-title", text: selected.title || selected.label })),
      view.warnings.length ? h("div", { class: "notice warn", text: view.warnings.join("\n") }) : null,
      form.el,
      h("div", { class: "row", style: "margin:1rem 0" }, runBtn, cancel, h("span", { class: "spacer" }), save),
      h("div", { class: "notice err hidden", id: "script-error" }),
      h("div", { class: "statusline", id: "script-status" }),
      h("h2", { style: "margin-top:1rem" }, "Log"), h("div", { class: "log", id: "script-log" }),
      h("div", { id: "script-result", style: "margin-top:.8rem" }));
    renderRun();
    if (runId && !keepRun) refresh();  // what app.runs knows has no log: ask for the whole run
  }

  // Take on a run of the selected script that this page did not start (another tab, or before a reload).
  function adopt(id) {
    if (!selected || id === runId || (run && run.state === "running")) return false;
    runId = id; refresh();
    return true;
  }

  function showError(e) {
    const box = panel.querySelector("#script-error");
    if (e instanceof ApiError && e.field && form.showError(e.field, e.message)) { box.classList.add("hidden"); return; }
    box.textContent = errorText(e); box.classList.remove("hidden");
  }
  async function saveSettings() {
    if (form.validate().length) return;
    try { await put(`/api/services/${selected.id}/settings`, { values: form.values() }); toast("success", "Saved", `${selected.title || selected.label}: settings stored`, 2500); }
    catch (e) { showError(e); }
  }
  async function start() {
    panel.querySelector("#script-error").classList.add("hidden");
    if (form.validate().length) return;
    try {
      const seq = ++fetchSeq;
      const started = await post("/api/runs", { service: selected.id, settings: form.values() });
      runId = started.id; show(started, seq);
      if (eventsOfRun(runId).length) refresh();  // events that came before this answer
    } catch (e) { showError(e); }
  }
  async function stop() {
    if (!runId) return;
    const seq = ++fetchSeq;
    try { show(await post(`/api/runs/${runId}/cancel`), seq); } catch (e) { showError(e); }
  }
  function renderRun() {
    if (!selected || !panel.querySelector("#script-status")) return;  // select() renders it once its form is built
    const status = panel.querySelector("#script-status"), log = panel.querySelector("#script-log"), result = panel.querySelector("#script-result");
    const running = run && run.state === "running";
    panel.querySelector("#script-run").disabled = running;
    panel.querySelector("#script-cancel").disabled = !running;
    if (!run) { clear(status, h("span", { class: "muted", text: "idle" })); clear(log); clear(result); return; }
    clear(status, running ? h("span", { class: "spinner" }) : null, h("span", { class: `pill ${run.state}`, text: run.state }),
      h("span", { id: "script-status-text", text: run.status || (running ? "running…" : "") }));
    clear(log, (run.log || []).map((r) => h("div", { class: r.level }, h("span", { class: "t", text: r.time ? new Date(r.time).toLocaleTimeString() : "" }), `${r.level} ${r.message}`)));
    log.scrollTop = log.scrollHeight;
    if (running) clear(result);
    else if (run.state === "finished") clear(result, h("div", { class: "notice ok" }, h("b", { text: "Finished. " }), run.result && Object.keys(run.result).length ? `Returned ${fmtJSON(run.result)}` : ""));
    else clear(result, h("div", { class: `notice ${run.state === "cancelled" ? "warn" : "err"}` }, h("b", { text: `${run.state[0].toUpperCase()}${run.state.slice(1)}. ` }), run.error || ""));
  }
  // Answers can overtake each other: only one asked for later than the run on show replaces it.
  function show(r, seq) { if (r.id === runId && seq > shownSeq) { shownSeq = seq; run = r; renderRun(); } }
  async function refresh() {
    const seq = ++fetchSeq;
    try { show(await get(`/api/runs/${runId}`), seq); } catch { /* next event retries */ }
  }
  on("*", (env) => {
    if (!env.run_id) return;
    if (env.event === "AutomationScriptStarted" && selected && env.payload && env.payload.id === selected.id && adopt(env.run_id)) return;
    if (env.run_id === runId) refresh();
  });
  // Values a script returned (or another tab saved) refresh the form; the last run stays on show.
  on("SettingsSaved", (env) => { if (selected && env.payload && env.payload.id === selected.id && !(run && run.state === "running")) select(selected.id, true); });
  return {
    runs() {  // app.runs was (re)loaded from the server: the stream may have missed this run's events
      const active = selected && app.activeRunOf(selected.id);
      if (!(active && adopt(active.id)) && runId) refresh();
    },
    services() { renderTiles(); if (selected && !app.services.find((s) => s.id === selected.id)) { selected = null; clear(panel, h("div", { class: "empty", text: "Choose a script on the left." })); } },
    show() { renderTiles(); if (!selected) clear(panel, h("div", { class: "empty", text: "Choose a script on the left to see its settings, run it and follow its status." })); },
  };
}
