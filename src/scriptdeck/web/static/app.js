// The dashboard shell: tabs, the live event stream, notices and the prompts plugins ask.

import { connectEvents, get, on, post } from "./api.js";
import { actionsPage } from "./page_actions.js";
import { documentPage } from "./page_document.js";
import { eventsPage } from "./page_events.js";
import { historyPage } from "./page_history.js";
import { machinePage } from "./page_machine.js";
import { pluginsPage } from "./page_plugins.js";
import { scriptsPage } from "./page_scripts.js";
import { errorText, h, modal, toast } from "./ui.js";

const TITLES = { machine: "Machine", scripts: "Automation scripts", actions: "Plugins menu", document: "Document",
  plugins: "Plugin manager", history: "History", events: "Events" };

const app = {
  current: null, services: [], document: null, runs: new Map(), pages: {},
  go(name) { location.hash = name; },
  activeRunOf(serviceId) { for (const r of this.runs.values()) if (r.service === serviceId && r.state === "running") return r; return null; },
  setMachine(m) {
    const pill = document.getElementById("top-machine");
    pill.className = `pill state-${m.state}`;
    pill.textContent = m.available ? `${m.state}${m.owner ? " · " + m.owner : ""}` : "no machine";
    const job = document.getElementById("top-job");
    if (m.job && ["running", "paused"].includes(m.job.state)) {
      job.classList.remove("hidden"); job.className = `pill ${m.job.state}`;
      job.textContent = `${m.job.state === "paused" ? "⏸" : "⎙"} ${m.job.total ? Math.floor((100 * m.job.acknowledged) / m.job.total) : 0}%`;
    } else job.classList.add("hidden");
  },
  setDocument(d) { this.document = d; this.pages.actions && this.pages.actions.document(); },
};
window.scriptdeck = app; // handy from the console, and for the browser tests

async function loadServices() {
  app.services = (await get("/api/services")).services;
  for (const p of Object.values(app.pages)) if (p.services) p.services();
}
async function loadDocument() {
  app.setDocument(await get("/api/document"));
  if (app.current === "document") app.pages.document.refresh();
}

const ENDED = /(Finished|Failed|Error|Cancelled|Opened|Saved)$/;

function renderTopRun() {
  const top = document.getElementById("top-run");
  const running = [...app.runs.values()].filter((x) => x.state === "running");
  top.className = running.length ? "pill running" : "pill hidden";
  top.textContent = running.length ? `▶ ${running[0].title || running[0].service}${running[0].status ? ": " + running[0].status : ""}` : "";
}

// Asked after the event stream opens, so nothing can fall between this answer and the first event.
async function loadRuns() {
  const known = [...app.runs.values()].filter((r) => r.state === "running").map((r) => r.id);
  let active;
  try { active = (await get("/api/runs?active=true")).runs; } catch { return; }  // the next reconnect asks again
  const ids = new Set(active.map((r) => r.id));
  for (const id of known) if (!ids.has(id)) app.runs.get(id).state = "done";  // ended while we were not listening
  for (const r of active) {
    const mine = app.runs.get(r.id);
    if (mine && mine.state === "done") continue;  // its end came over the stream after the server answered
    app.runs.set(r.id, { ...mine, id: r.id, service: r.service, title: r.title, status: r.status, state: "running" });
  }
  renderTopRun();
  for (const p of Object.values(app.pages)) if (p.runs) p.runs();
}

function show(name) {
  if (!TITLES[name]) name = "machine";
  app.current = name;
  document.querySelectorAll(".page").forEach((p) => p.classList.toggle("active", p.id === `page-${name}`));
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  document.getElementById("page-title").textContent = TITLES[name];
  document.title = `${TITLES[name]} · scriptdeck`;
  const page = app.pages[name];
  if (page && page.show) Promise.resolve(page.show()).catch((e) => toast("error", TITLES[name], errorText(e)));
}

function askPrompt(env) {
  const p = env.payload;
  if (document.querySelector(`[data-prompt="${CSS.escape(String(p.request_id))}"]`)) return;
  const choice = p.kind === "choose_option";
  const opts = choice ? h("div", { class: "options" }, (p.options || []).map((o, i) => h("label", {},
    h("input", { type: "radio", name: "opt", value: String(i), checked: i === (p.default ?? 0) }), String(o)))) : null;
  const answer = (value) => async () => {
    try { await post(`/api/prompts/${encodeURIComponent(p.request_id)}`, { answer: value === undefined ? Number(opts.querySelector("input:checked").value) : value }); return true; }
    catch (e) { toast("error", "Answer", errorText(e)); return true; }
  };
  const buttons = choice
    ? [{ label: "Cancel", action: answer(p.default ?? 0) }, { label: "OK", primary: true, role: "answer", action: answer(undefined) }]
    : [{ label: "No", role: "no", action: answer(false) }, { label: "Yes", primary: true, role: "yes", action: answer(true) }];
  const m = modal({ title: p.title || (choice ? "Choose an option" : "Question"), cls: "prompt",
    body: h("div", {}, h("p", { text: p.message }), opts), buttons });
  m.box.dataset.prompt = String(p.request_id);
  m.box.dataset.sticky = "1";
}

function start() {
  const root = (id) => document.getElementById(`page-${id}`);
  app.pages.machine = machinePage(root("machine"), app);
  app.pages.scripts = scriptsPage(root("scripts"), app);
  app.pages.actions = actionsPage(root("actions"), app);
  app.pages.document = documentPage(root("document"), app);
  app.pages.plugins = pluginsPage(root("plugins"), app);
  app.pages.history = historyPage(root("history"), app);
  app.pages.events = eventsPage(root("events"), app);

  const live = document.getElementById("live");
  let wasDown = false;
  connectEvents((up) => {
    live.classList.toggle("off", !up);
    live.querySelector(".txt").textContent = up ? "live" : "reconnecting…";
    // Every (re)open: runs that started, or ended, while no stream was listening are only known to the server.
    if (up) { loadRuns(); loadPrompts(); }
    if (up && wasDown) { loadServices(); loadDocument(); }
    wasDown = !up;
  });
  on("PluginsChanged", () => { loadServices(); document.dispatchEvent(new CustomEvent("plugins-changed")); });
  on("DocumentChanged", () => loadDocument());
  on("RunPrompt", askPrompt);
  on("RunPromptAnswered", (env) => {
    const box = document.querySelector(`[data-prompt="${CSS.escape(String(env.payload.request_id))}"]`);
    if (box) box.closest(".backdrop").remove();
  });
  on("RunMessage", (env) => {
    const p = env.payload;
    toast(p.level === "information" ? "info" : p.level || "info", p.title || (app.runs.get(env.run_id) || {}).title || "Plugin", p.message, 9000);
  });
  on("*", (env) => {
    if (!env.run_id) return;
    const r = app.runs.get(env.run_id) || { id: env.run_id, state: "running" };
    if (/Started$/.test(env.event)) { r.service = env.payload.id; r.title = env.payload.title || env.payload.label; r.state = "running"; }
    if (ENDED.test(env.event)) r.state = "done";
    if (env.event === "AutomationScriptStatusChanged") r.status = env.payload.status;
    app.runs.set(env.run_id, r);
    renderTopRun();
    if (app.current === "history" && ENDED.test(env.event)) app.pages.history.refresh();
  });
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  loadServices().then(() => show(location.hash.slice(1) || "machine"));
  loadDocument();
}

// Questions plugins are waiting on, as the server has them: asked here if new, closed here if they
// were answered (or their run ended) while this tab had no stream.
async function loadPrompts() {
  let pending;
  try { pending = (await get("/api/prompts")).prompts; } catch { return; }
  const ids = new Set(pending.map((p) => String(p.id)));
  document.querySelectorAll("[data-prompt]").forEach((box) => { if (!ids.has(box.dataset.prompt)) box.closest(".backdrop").remove(); });
  pending.forEach((p) => askPrompt({ payload: { ...p, request_id: p.id } }));
}
start();
