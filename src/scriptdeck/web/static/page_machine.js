// Machine page: connection, live temperatures with a chart, position, print job, terminal.

import { get, on, post } from "./api.js";
import { drawTemperatures } from "./canvas.js";
import { clear, errorText, fmtDuration, h, toast } from "./ui.js";

export function machinePage(root, app) {
  const url = h("input", { type: "text", id: "machine-url", value: "virtual://", style: "flex:1;min-width:180px", "aria-label": "machine URL" });
  const baud = h("select", { id: "machine-baud", "aria-label": "baud rate" },
    ["auto", "250000", "115200", "57600", "38400", "19200", "9600"].map((b) => h("option", { value: b, text: b === "auto" ? "baud: auto" : b })));
  const connectBtn = h("button", { class: "btn primary", id: "machine-connect", text: "Connect" });
  const disconnectBtn = h("button", { class: "btn", id: "machine-disconnect", text: "Disconnect" });
  const stopBtn = h("button", { class: "btn danger", id: "machine-estop", text: "Emergency stop", title: "M112: halts the firmware; reconnect afterwards" });
  // Everything below is built once and updated in place by the 1 s poll: an element rebuilt under
  // the pointer loses a click whose mouse-down and mouse-up straddle the rebuild (and any text selection).
  const statePill = h("span", { id: "machine-state" }), ownerDd = h("dd"), firmwareDd = h("dd");
  const errorDt = h("dt", { class: "hidden", text: "Error" }), errorDd = h("dd", { class: "muted hidden" });
  const info = h("dl", { class: "kv" }, h("dt", { text: "State" }), h("dd", {}, statePill), h("dt", { text: "Owner" }), ownerDd,
    h("dt", { text: "Firmware" }), firmwareDd, errorDt, errorDd);
  const connError = h("div", { class: "notice err hidden" });
  const temps = h("div", { class: "temps" });
  const chart = h("canvas", { id: "temp-chart", style: "height:220px" });
  const axisValues = Object.fromEntries(["X", "Y", "Z", "E"].map((a) => [a, h("div", { class: "v", text: "–" })]));
  const axes = h("div", { class: "axes" }, Object.entries(axisValues).map(([a, v]) => h("div", { class: "axis" }, h("div", { class: "k", text: a }), v)));
  const jobAction = (action) => post(`/api/machine/job/${action}`).then(refresh).catch((e) => toast("error", "Print job", errorText(e)));
  const job = {
    empty: h("p", { class: "muted small", text: "No print job. Print the open document from the Document page." }),
    name: h("b", { id: "job-name" }), state: h("span", { id: "job-state" }), stats: h("span", { class: "muted small", id: "job-stats" }),
    bar: h("div", { id: "job-progress" }),
    pause: h("button", { class: "btn small", id: "job-pause", text: "Pause", onclick: () => jobAction("pause") }),
    resume: h("button", { class: "btn small", id: "job-resume", text: "Resume", onclick: () => jobAction("resume") }),
    cancel: h("button", { class: "btn small danger", id: "job-cancel", text: "Cancel", onclick: () => jobAction("cancel") }),
  };
  job.view = h("div", { class: "hidden" }, h("div", { class: "row" }, job.name, job.state, h("span", { class: "spacer" }), job.stats),
    h("div", { class: "progress", style: "margin:.5rem 0" }, job.bar), h("div", { class: "row" }, job.pause, job.resume, job.cancel));
  const jobBox = h("div", {}, job.empty, job.view);
  const term = h("div", { class: "log term", id: "terminal" });
  const TERM_HINT = "G28, M105, M114 …", TERM_OFF = "Not connected: connect the machine above to send commands";
  const line = h("input", { type: "text", id: "terminal-input", placeholder: TERM_HINT, style: "flex:1", spellcheck: "false", autocomplete: "off" });
  const sendBtn = h("button", { class: "btn primary", id: "terminal-send", text: "Send" });
  const termError = h("div", { class: "notice err hidden", id: "terminal-error" });
  let seq = 0, samples = [], machine = null, tempKeys = null, tempEls = {};

  root.append(h("div", { class: "grid two" },
    h("div", { class: "card" }, h("h2", {}, "Connection"), h("div", { class: "row" }, url, baud, connectBtn, disconnectBtn), connError,
      h("div", { style: "margin-top:.9rem" }, info), h("div", { class: "row end", style: "margin-top:.6rem" }, stopBtn)),
    h("div", { class: "card" }, h("h2", {}, "Position"), axes, h("h2", { style: "margin-top:1.1rem" }, "Print job"), jobBox),
    h("div", { class: "card span" }, h("h2", {}, "Temperatures", h("span", { class: "right muted small", text: "last 10 minutes" })), temps, chart),
    h("div", { class: "card span" }, h("h2", {}, "Terminal", h("span", { class: "right muted small", text: "all traffic, sent ▸ and received ◂" })), term,
      termError, h("form", { class: "row", style: "margin-top:.6rem", onsubmit: (e) => { e.preventDefault(); send(); } }, line, sendBtn)),
  ));

  async function act(fn, errBox) {
    errBox.classList.add("hidden");
    try { return await fn(); } catch (e) { errBox.textContent = errorText(e); errBox.classList.remove("hidden"); return null; }
  }
  connectBtn.onclick = () => act(async () => { connectBtn.disabled = true; try {
    render(await post("/api/machine/connect", { url: url.value.trim(), baud: baud.value === "auto" ? null : Number(baud.value) })); } finally { connectBtn.disabled = false; } }, connError);
  disconnectBtn.onclick = () => act(async () => render(await post("/api/machine/disconnect")), connError);
  stopBtn.onclick = () => act(async () => { await post("/api/machine/emergency-stop"); toast("warning", "Emergency stop", "M112 sent; reconnect to continue"); }, connError);

  async function send() {
    const text = line.value.trim();
    if (!text) return;
    termError.classList.add("hidden");
    try { const r = await post(`/api/machine/send?after=${seq}`, { line: text }); appendLines(r); line.value = ""; }
    catch (e) { termError.textContent = errorText(e); termError.classList.remove("hidden"); }
  }
  function appendLines(r) {
    const stick = term.scrollTop + term.clientHeight >= term.scrollHeight - 8;
    for (const l of r.lines) {
      if (l.seq <= seq) continue;
      term.append(h("div", { class: l.direction }, h("span", { class: "t", text: new Date(l.time * 1000).toLocaleTimeString() }),
        (l.direction === "out" ? "▸ " : "◂ ") + l.line));
    }
    seq = Math.max(seq, r.next);
    while (term.childElementCount > 1500) term.firstChild.remove();
    if (stick) term.scrollTop = term.scrollHeight;
  }
  function render(m) {
    machine = m; app.setMachine(m);
    if (document.activeElement !== url && m.url) url.value = m.url.split("?baud=")[0];
    const connected = !["disconnected", "error"].includes(m.state);
    connectBtn.disabled = connected; disconnectBtn.disabled = !connected; stopBtn.disabled = !connected;
    sendBtn.disabled = !connected; line.disabled = !connected;
    line.placeholder = connected ? TERM_HINT : TERM_OFF;
    statePill.className = `pill state-${m.state}`; statePill.textContent = m.state;
    ownerDd.textContent = m.owner || "nobody (terminal free)";
    firmwareDd.textContent = (m.firmware && (m.firmware.FIRMWARE_NAME || m.firmware.name)) || "–";
    errorDt.classList.toggle("hidden", !m.error); errorDd.classList.toggle("hidden", !m.error); errorDd.textContent = m.error || "";
    renderTemps(m.temperatures || {});
    for (const [a, v] of Object.entries(axisValues)) v.textContent = m.position && a in m.position ? m.position[a].toFixed(2) : "–";
    renderJob(m.job);
  }
  function renderTemps(t) {
    const keys = Object.keys(t).join(",");
    if (keys !== tempKeys) {  // rebuilt only when a heater comes or goes
      tempKeys = keys; tempEls = {};
      clear(temps, Object.keys(t).map((k) => {
        const v = h("span", { class: "v" }), tgt = h("span", { class: "tgt" });
        tempEls[k] = { v, tgt };
        return h("div", { class: "temp" }, h("div", { class: "k", text: k === "T" || k === "T0" ? `Hotend ${k}` : k === "B" ? "Bed" : k }), h("div", {}, v, " ", tgt));
      }));
      if (!keys) temps.append(h("span", { class: "muted", text: "No temperatures yet." }));
    }
    for (const [k, { actual, target }] of Object.entries(t)) {
      tempEls[k].v.textContent = actual == null ? "–" : `${actual.toFixed(1)}°`;
      tempEls[k].tgt.textContent = target ? `→ ${target.toFixed(0)}°` : "off";
    }
  }
  function renderJob(j) {
    job.empty.classList.toggle("hidden", !!j); job.view.classList.toggle("hidden", !j);
    if (!j) return;
    const running = j.state === "running", paused = j.state === "paused";
    job.name.textContent = j.name;
    job.state.className = `pill ${j.state}`; job.state.textContent = j.state;
    job.stats.textContent = `${j.acknowledged} / ${j.total} lines · ${fmtDuration(j.elapsed)} elapsed · ${fmtDuration(j.remaining)} left`;
    job.bar.style.width = `${(j.total ? (100 * j.acknowledged) / j.total : 0).toFixed(1)}%`;
    job.pause.disabled = !running; job.resume.disabled = !paused; job.cancel.disabled = !(running || paused);
  }
  async function refresh() {
    try { render(await get("/api/machine")); } catch (e) { /* shown by the next successful poll */ }
  }
  async function tick() {
    await refresh();
    if (app.current === "machine") {
      try { appendLines(await get(`/api/machine/terminal?after=${seq}`)); } catch { /* ignore */ }
      try { samples = (await get("/api/machine/temperatures")).samples; drawTemperatures(chart, samples); } catch { /* ignore */ }
    }
  }
  on("MachineConnected", refresh); on("MachineDisconnected", refresh); on("PrintStarted", refresh);
  setInterval(tick, 1000);
  tick();
  return { show: () => { tick(); drawTemperatures(chart, samples); } };
}
