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
  const info = h("dl", { class: "kv" });
  const connError = h("div", { class: "notice err hidden" });
  const temps = h("div", { class: "temps" });
  const chart = h("canvas", { id: "temp-chart", style: "height:220px" });
  const axes = h("div", { class: "axes" });
  const jobBox = h("div");
  const term = h("div", { class: "log term", id: "terminal" });
  const line = h("input", { type: "text", id: "terminal-input", placeholder: "G28, M105, M114 …", style: "flex:1", spellcheck: "false", autocomplete: "off" });
  const sendBtn = h("button", { class: "btn primary", id: "terminal-send", text: "Send" });
  const termError = h("div", { class: "notice err hidden", id: "terminal-error" });
  let seq = 0, samples = [], machine = null;

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
    sendBtn.disabled = !connected;
    clear(info, h("dt", { text: "State" }), h("dd", {}, h("span", { class: `pill state-${m.state}`, id: "machine-state", text: m.state })),
      h("dt", { text: "Owner" }), h("dd", { text: m.owner || "nobody (terminal free)" }),
      h("dt", { text: "Firmware" }), h("dd", { text: (m.firmware && (m.firmware.FIRMWARE_NAME || m.firmware.name)) || "–" }),
      m.error ? h("dt", { text: "Error" }) : null, m.error ? h("dd", { class: "muted", text: m.error }) : null);
    clear(temps, Object.entries(m.temperatures || {}).map(([k, v]) => h("div", { class: "temp" }, h("div", { class: "k", text: k === "T" || k === "T0" ? `Hotend ${k}` : k === "B" ? "Bed" : k }),
      h("div", {}, h("span", { class: "v", text: v.actual == null ? "–" : `${v.actual.toFixed(1)}°` }), " ", h("span", { class: "tgt", text: v.target ? `→ ${v.target.toFixed(0)}°` : "off" })))));
    if (!Object.keys(m.temperatures || {}).length) temps.append(h("span", { class: "muted", text: "No temperatures yet." }));
    clear(axes, ["X", "Y", "Z", "E"].map((a) => h("div", { class: "axis" }, h("div", { class: "k", text: a }), h("div", { class: "v", text: m.position && a in m.position ? m.position[a].toFixed(2) : "–" }))));
    renderJob(m.job);
  }
  function renderJob(job) {
    if (!job) { clear(jobBox, h("p", { class: "muted small", text: "No print job. Print the open document from the Document page." })); return; }
    const pct = job.total ? (100 * job.acknowledged) / job.total : 0;
    const running = job.state === "running", paused = job.state === "paused";
    clear(jobBox, h("div", { class: "row" }, h("b", { text: job.name }), h("span", { class: `pill ${job.state}`, text: job.state }), h("span", { class: "spacer" }),
      h("span", { class: "muted small", text: `${job.acknowledged} / ${job.total} lines · ${fmtDuration(job.elapsed)} elapsed · ${fmtDuration(job.remaining)} left` })),
      h("div", { class: "progress", style: "margin:.5rem 0" }, h("div", { style: `width:${pct.toFixed(1)}%` })),
      h("div", { class: "row" },
        h("button", { class: "btn small", disabled: !running, text: "Pause", onclick: () => post("/api/machine/job/pause").then(refresh) }),
        h("button", { class: "btn small", disabled: !paused, text: "Resume", onclick: () => post("/api/machine/job/resume").then(refresh) }),
        h("button", { class: "btn small danger", disabled: !(running || paused), text: "Cancel", onclick: () => post("/api/machine/job/cancel").then(refresh) })));
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
