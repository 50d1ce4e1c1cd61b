// Forms generated from a settings schema (the JSON of settings/fields.py), validated in the
// browser with the same rules and messages as the server; the server re-checks every value.

import { h } from "./ui.js";

const COLOR = /^#[0-9a-fA-F]{6}$/;
const describe = (v) => JSON.stringify(v);

export function checkValue(f, raw) {
  // Returns [value, error]; mirrors SettingField.coerce/validate.
  const n = f.name;
  switch (f.type) {
    case "bool": return [Boolean(raw), null];
    case "int": {
      const t = String(raw).trim();
      if (!/^[-+]?\d+$/.test(t)) return [null, `${n}: expected an integer, got ${describe(String(raw))}`];
      return range(f, parseInt(t, 10));
    }
    case "float": {
      const t = String(raw).trim();
      const v = Number(t);
      if (t === "" || isNaN(v)) return [null, `${n}: expected a number, got ${describe(String(raw))}`];
      if (!isFinite(v)) return [null, `${n}: expected a finite number, got ${describe(String(raw))}`];
      return range(f, v);
    }
    case "color": return COLOR.test(raw) ? [raw.toLowerCase(), null] : [null, `${n}: expected a color "#rrggbb", got ${describe(raw)}`];
    case "choice": {
      const c = (f.choices || [])[Number(raw)];
      return c ? [c.value, null] : [null, `${n}: ${describe(raw)} is not one of the choices`];
    }
    default: return [String(raw), null];
  }
}
function range(f, v) {
  if (f.min !== null && f.min !== undefined && v < f.min) return [null, `${f.name}: ${v} is below the minimum ${f.min}`];
  if (f.max !== null && f.max !== undefined && v > f.max) return [null, `${f.name}: ${v} is above the maximum ${f.max}`];
  return [v, null];
}

export function buildForm(schema, values = {}) {
  const form = h("form", { class: "form", novalidate: true, onsubmit: (e) => e.preventDefault() });
  const inputs = new Map();
  for (const f of schema || []) {
    if (f.type === "info") { form.append(h("div", { class: "field info", text: f.description || f.label })); continue; }
    const id = `f-${Math.random().toString(36).slice(2, 9)}`;
    const v = f.name in values ? values[f.name] : f.default;
    const err = h("div", { class: "err hidden" });
    let input;
    if (f.type === "bool") {
      input = h("input", { type: "checkbox", id, name: f.name });
      input.checked = Boolean(v);
      form.append(h("div", { class: "field check" }, h("label", { for: id }, input, f.label || f.name),
        f.description ? h("div", { class: "desc", text: f.description }) : null, err));
    } else {
      if (f.type === "choice") {
        input = h("select", { id, name: f.name });
        (f.choices || []).forEach((c, i) => {
          const o = h("option", { value: String(i), text: c.label });
          if (c.value === v) o.selected = true;
          input.append(o);
        });
      } else if (f.type === "int" || f.type === "float") {
        input = h("input", { type: "number", id, name: f.name, step: f.type === "int" ? "1" : "any",
          min: f.min ?? null, max: f.max ?? null, inputmode: f.type === "int" ? "numeric" : "decimal" });
        input.value = v === null || v === undefined ? "" : String(v);
      } else if (f.type === "color") {
        input = h("input", { type: "color", id, name: f.name });
        input.value = v || "#000000";
      } else {
        input = h("input", { type: "text", id, name: f.name, spellcheck: "false" });
        input.value = v ?? "";
      }
      const rangeText = (f.type === "int" || f.type === "float") && (f.min != null || f.max != null)
        ? h("span", { class: "range", text: `(${f.min ?? "−∞"} … ${f.max ?? "∞"})` }) : null;
      form.append(h("div", { class: "field", "data-field": f.name }, h("label", { for: id }, f.label || f.name, rangeText), input,
        f.description ? h("div", { class: "desc", text: f.description }) : null, err));
    }
    inputs.set(f.name, { f, input, err });
    input.addEventListener("input", () => validateOne(f.name));
    input.addEventListener("change", () => validateOne(f.name));
  }
  if (!inputs.size && !(schema || []).length) form.append(h("p", { class: "muted small", text: "This has no settings." }));

  function raw(entry) { return entry.f.type === "bool" ? entry.input.checked : entry.input.value; }
  function show(name, message) {
    const entry = inputs.get(name);
    if (!entry) return false;
    entry.err.textContent = message || "";
    entry.err.classList.toggle("hidden", !message);
    entry.input.classList.toggle("invalid", Boolean(message));
    return true;
  }
  function validateOne(name) {
    const entry = inputs.get(name);
    // A number input holds "" for text it cannot read (e.g. "abc"): say so, not 'got ""'.
    const unreadable = entry.input.validity && entry.input.validity.badInput;
    const [, error] = unreadable
      ? [null, `${name}: expected ${entry.f.type === "int" ? "an integer" : "a number"}; what was typed is not one`]
      : checkValue(entry.f, raw(entry));
    show(name, error);
    return error;
  }
  function reveal(name) {
    // The field may be scrolled out of view on a long form: bring it to the user.
    const entry = inputs.get(name);
    if (!entry) return;
    entry.input.scrollIntoView({ block: "center", behavior: "smooth" });
    entry.input.focus({ preventScroll: true });
  }
  return {
    el: form,
    validate() {
      const errors = [];
      let first = null;
      for (const name of inputs.keys()) {
        const e = validateOne(name);
        if (e) { errors.push(e); first = first || name; }
      }
      if (first) reveal(first);
      return errors;
    },
    values() {
      const out = {};
      for (const [name, entry] of inputs) { const [v, e] = checkValue(entry.f, raw(entry)); if (!e) out[name] = v; }
      return out;
    },
    showError(field, message) { const shown = show(field, message); if (shown) reveal(field); return shown; },
    get size() { return inputs.size; },
  };
}
