// Small DOM helpers, toasts and modal dialogs shared by every page.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c.nodeType ? c : String(c));
  return el;
}

export function icon(url, alt = "") {
  // Icon URLs always answer with an image (the server falls back to a bundled SVG), but guard anyway.
  const img = h("img", { src: url, alt, loading: "lazy" });
  img.onerror = () => { img.onerror = null; img.src = "/api/icons/theme/generic"; };
  return img;
}

export function toast(level, title, message, ms = 6000) {
  const el = h("div", { class: `toast ${level}`, role: "status" }, title ? h("b", { text: title }) : null, h("span", { text: message }));
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), ms);
  return el;
}

export function errorText(e) { return e && e.message ? e.message : String(e); }

export function modal({ title, iconUrl, body, buttons, onClose, cls }) {
  const root = document.getElementById("modal-root");
  const back = h("div", { class: "backdrop" });
  const box = h("div", { class: `modal ${cls || ""}`, role: "dialog", "aria-modal": "true", "aria-label": title });
  const footer = h("footer");
  const close = (value) => { back.remove(); if (onClose) onClose(value); };
  for (const b of buttons || []) {
    const btn = h("button", { class: `btn ${b.primary ? "primary" : ""} ${b.danger ? "danger" : ""}`, type: "button", text: b.label,
      "data-role": b.role || null });
    btn.addEventListener("click", async () => {
      if (!b.action) return close(b.value);
      btn.disabled = true;
      try { const r = await b.action(); if (r !== false) close(r); } finally { btn.disabled = false; }
    });
    footer.append(btn);
  }
  box.append(h("header", {}, iconUrl ? icon(iconUrl) : null, h("h3", { text: title })), h("div", { class: "body" }, body), footer);
  back.append(box);
  back.addEventListener("keydown", (e) => { if (e.key === "Escape" && !box.dataset.sticky) close(undefined); });
  root.append(back);
  const first = box.querySelector("input, select, button.primary");
  if (first) setTimeout(() => first.focus(), 20);
  return { close, box };
}

export function fmtDuration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  s = Math.round(s);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return hh ? `${hh}h ${String(mm).padStart(2, "0")}m` : mm ? `${mm}m ${String(ss).padStart(2, "0")}s` : `${ss}s`;
}
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
export function fmtJSON(v) { return typeof v === "string" ? v : JSON.stringify(v); }
export function clear(el, ...children) { el.replaceChildren(...children.flat().filter(Boolean)); return el; }
