// Document page: open (through a format and its settings dialog), save, preview with a layer
// slider, stats, undo, and print to the machine.

import { ApiError, api, get, post } from "./api.js";
import { Preview } from "./canvas.js";
import { buildForm } from "./forms.js";
import { clear, errorText, fmtDuration, h, modal, toast } from "./ui.js";

export function documentPage(root, app) {
  const file = h("input", { type: "file", id: "doc-file", class: "hidden" });
  const openBtn = h("button", { class: "btn primary", id: "doc-open", text: "Open…", onclick: () => file.click() });
  const saveBtn = h("button", { class: "btn", id: "doc-save", text: "Save as…", onclick: () => saveDialog() });
  const undoBtn = h("button", { class: "btn", id: "doc-undo", text: "Undo", onclick: () => post("/api/document/undo").catch((e) => toast("error", "Undo", errorText(e))) });
  const printBtn = h("button", { class: "btn", id: "doc-print", text: "Print", onclick: () => printDoc() });
  const title = h("span", { class: "muted", id: "doc-name" });
  const canvas = h("canvas", { id: "preview" });
  const legend = h("div", { class: "preview-legend", id: "preview-legend" });
  const slider = h("input", { type: "range", id: "layer-slider", min: "0", max: "0", value: "0", "aria-label": "layer" });
  const layerLabel = h("span", { class: "mono", id: "layer-label", style: "min-width:150px" });
  const below = h("input", { type: "checkbox", id: "layer-below", checked: true });
  const stats = h("dl", { class: "kv", id: "doc-stats" });
  const status = h("div", { class: "notice hidden", id: "doc-status" });
  const preview = new Preview(canvas);
  let formats = { formats: [], accept: "" }, revision = -1;
  let formatsLoading = null; // the list being fetched: a file picked meanwhile waits for it

  root.append(h("div", { class: "toolbar" }, openBtn, saveBtn, undoBtn, printBtn, file, h("span", { class: "spacer" }), title), status,
    h("div", { class: "grid", style: "grid-template-columns: 1fr 280px; align-items:start" },
      h("div", { class: "card" }, h("div", { class: "preview-wrap" }, canvas, legend),
        h("div", { class: "slider" }, h("span", { class: "muted small", text: "Layer" }), slider, layerLabel,
          h("label", { class: "small row", style: "gap:.3rem" }, below, "layers below"))),
      h("div", { class: "card" }, h("h2", {}, "Statistics"), stats)));

  slider.oninput = () => { preview.layer = Number(slider.value); preview.draw(); label(); };
  below.onchange = () => { preview.showBelow = below.checked; preview.draw(); };
  function label() {
    const L = preview.data && preview.data.layers[preview.layer];
    // Layer -1 holds what comes before the first layer (start G-code, a purge line); the count
    // shown is the document's own layer count, as in the statistics.
    const total = preview.data ? preview.data.layers.filter((x) => x.index >= 0).length : 0;
    const name = L ? (L.index < 0 ? "before layer 1" : `${L.index + 1} / ${total}`) : "";
    layerLabel.textContent = L ? `${name} · Z ${Number(L.z).toFixed(2)}` : "–";
    legend.textContent = L ? `top view · ${L.index < 0 ? "before layer 1" : "layer " + (L.index + 1)} · scroll to zoom, drag to pan` : "";
  }
  function note(kind, text) { status.className = `notice ${kind}`; status.textContent = text; if (!text) status.classList.add("hidden"); }

  function loadFormats() {
    formatsLoading = get("/api/document/formats").then((list) => {
      formats = list;
      file.setAttribute("accept", formats.accept);
    }).catch((e) => { formatsLoading = null; throw e; }); // the next pick asks again
    return formatsLoading;
  }
  file.onchange = async () => {
    const f = file.files[0]; file.value = "";
    if (!f) return;
    // Picked before the format list came (right after opening the page): without the list the
    // file would be read as plain G-code, skipping its format and that format's settings.
    try { await (formatsLoading || loadFormats()); } catch (e) { note("err", errorText(e)); return; }
    const ext = f.name.includes(".") ? f.name.split(".").pop().toLowerCase() : "";
    const candidates = formats.formats.filter((x) => x.can_open && x.extensions.includes(ext));
    let fmt = candidates[0];
    if (candidates.length > 1) fmt = await chooseFormat(candidates);
    if (!fmt && candidates.length > 1) return;
    let values = {};
    if (fmt && !fmt.builtin) {
      const view = await get(`/api/services/${fmt.id}/settings?direction=open`);
      if (view.schema.length) { values = await settingsDialog(`Open ${f.name} — ${fmt.label}`, view, fmt.id); if (values === null) return; }
    }
    note("info", `Opening ${f.name}…`);
    try {
      const q = new URLSearchParams({ filename: f.name, ...(fmt ? { format: fmt.id } : {}), ...(Object.keys(values).length ? { settings: JSON.stringify(values) } : {}) });
      const r = await api("POST", `/api/document/open?${q}`, undefined, { raw: f });
      const failed = r.run && r.run.state !== "finished";
      const reason = failed ? r.run.error || r.run.state : "";
      // A failed run's error is also one of its messages: say it once.
      const msgs = (r.messages || []).filter((m) => !(reason && reason.includes(m.message))).map((m) => `${m.level}: ${m.message}`);
      const more = msgs.length ? " — " + msgs.join("; ") : "";
      // The error usually names the file already ("broken.svg: not a readable SVG …").
      if (failed) note("err", `Could not open ${reason.startsWith(`${f.name}: `) ? reason : `${f.name}: ${reason}`}${more}`);
      else note(msgs.length ? "warn" : "ok", `Opened ${f.name}${more}`);
      await refresh(true);
    } catch (e) { note("err", errorText(e)); }
  };
  function chooseFormat(list) {
    return new Promise((resolve) => {
      const opts = h("div", { class: "options" }, list.map((x, i) => h("label", {}, h("input", { type: "radio", name: "fmt", value: String(i), checked: i === 0 }), `${x.label} (${x.slug})`)));
      modal({ title: "Which format?", body: h("div", {}, h("p", { text: "Several formats read this kind of file." }), opts),
        buttons: [{ label: "Cancel", value: null }, { label: "Open", primary: true, action: async () => list[Number(opts.querySelector("input:checked").value)] }],
        onClose: resolve });
    });
  }
  function settingsDialog(heading, view, id) {
    return new Promise((resolve) => {
      const form = buildForm(view.schema, view.values);
      modal({ title: heading, body: form.el, cls: "format-dialog", onClose: (v) => resolve(v === undefined ? null : v),
        buttons: [{ label: "Cancel", value: null }, { label: "OK", primary: true, role: "ok", action: async () => (form.validate().length ? false : form.values()) }] });
    });
  }
  async function saveDialog() {
    const savers = formats.formats.filter((x) => x.can_save);
    const sel = h("select", { id: "save-format" }, savers.map((x) => h("option", { value: x.id, text: `${x.label} (.${x.extensions[0]})` })));
    const name = h("input", { type: "text", id: "save-name", value: (app.document && app.document.name) || "document.gcode" });
    const holder = h("div");
    let form = null;
    const load = async () => {
      const fmt = savers.find((x) => x.id === sel.value);
      form = null; clear(holder);
      if (fmt && !fmt.builtin) {
        const view = await get(`/api/services/${fmt.id}/settings?direction=save`);
        if (view.schema.length) { form = buildForm(view.schema, view.values); holder.append(form.el); }
      }
      const base = name.value.replace(/\.[^.]*$/, "");
      name.value = `${base}.${fmt ? fmt.extensions[0] : "gcode"}`;
    };
    sel.onchange = load; await load();
    const err = h("div", { class: "notice err hidden" });
    modal({ title: "Save document", body: h("div", { class: "form" }, h("div", { class: "field" }, h("label", { text: "Format" }), sel),
      h("div", { class: "field" }, h("label", { text: "File name" }), name), holder, err), buttons: [{ label: "Cancel" }, { label: "Save", primary: true, action: async () => {
        if (form && form.validate().length) return false;
        try {
          const res = await api("POST", "/api/document/save", { format: sel.value, filename: name.value, settings: form ? form.values() : {} }, { blob: true });
          const blob = await res.blob();
          const a = h("a", { href: URL.createObjectURL(blob), download: name.value });
          document.body.append(a); a.click(); a.remove();
          toast("success", "Saved", name.value, 2500);
          return true;
        } catch (e) { if (!(e instanceof ApiError && e.field && form && form.showError(e.field, e.message))) { err.textContent = errorText(e); err.classList.remove("hidden"); } return false; }
      } }] });
  }
  async function printDoc() {
    try { await post("/api/machine/print"); toast("info", "Printing", `${app.document.name} is streaming to the machine`); app.go("machine"); }
    catch (e) { toast("error", "Print", errorText(e), 9000); }
  }
  function renderStats(d) {
    const s = d.stats || {};
    // What gets printed or drawn; a job of travel moves only: where the head goes.
    const b = [s.bounds, s.travel_bounds].find((x) => x && typeof x === "object" && "min_x" in x);
    const mm = (lo, hi) => (hi - lo).toFixed(1);
    const size = b ? [mm(b.min_x, b.max_x), mm(b.min_y, b.max_y), ...(b.max_z > b.min_z ? [mm(b.min_z, b.max_z)] : [])].join(" × ") + " mm" : null;
    const rows = [["File", d.name], ["Lines", d.lines.toLocaleString()], ["Layers", s.layers], ["Moves", s.moves != null ? s.moves.toLocaleString() : null],
      ["Print time", s.estimated_seconds != null ? fmtDuration(s.estimated_seconds) : null],
      ["Filament", s.extrusion_mm ? `${(s.extrusion_mm / 1000).toFixed(2)} m` : null],
      ["Size", size], ["Tool changes", s.tool_changes], ["Revision", d.revision], ["Unsaved changes", d.changed ? "yes" : "no"],
      ["Undo", d.can_undo ? d.undo_label : "nothing to undo"]];
    clear(stats, rows.filter(([, v]) => v !== null && v !== undefined).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]));
    if (s.error) stats.append(h("dt", { text: "Stats" }), h("dd", { class: "muted", text: s.error }));
  }
  async function refresh(force) {
    const d = await get("/api/document");
    app.setDocument(d);
    title.textContent = d.loaded ? `${d.name} · ${d.lines.toLocaleString()} lines` : "no document";
    saveBtn.disabled = !d.loaded; printBtn.disabled = !d.loaded; undoBtn.disabled = !d.can_undo;
    undoBtn.textContent = d.can_undo ? `Undo ${d.undo_label || ""}` : "Undo";
    if (!d.loaded) { clear(stats, h("p", { class: "muted", text: "Open a G-code file, or any file a format plugin reads." })); preview.set({ layers: [] }); label(); return; }
    renderStats(d);
    if (force || d.revision !== revision || !preview.data) {
      revision = d.revision;
      const p = await get("/api/document/preview");
      preview.set(p);
      slider.max = String(Math.max(0, p.layers.length - 1)); slider.value = String(preview.layer);
      label();
    }
  }
  return { show: async () => { await loadFormats(); await refresh(false); }, formats: loadFormats, refresh: () => refresh(true) };
}
