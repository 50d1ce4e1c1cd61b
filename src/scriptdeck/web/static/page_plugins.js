// Plugin manager: every plugin (shadowed and broken ones too) with icon, metadata, status,
// errors and warnings, enable/disable and reload. Refreshed by PluginsChanged events.

import { get, post } from "./api.js";
import { clear, errorText, h, icon, toast } from "./ui.js";

export function pluginsPage(root, app) {
  const list = h("div", { class: "card", id: "plugin-list" });
  const filter = h("input", { type: "text", placeholder: "Filter plugins…", id: "plugin-filter", style: "width:260px" });
  const summary = h("span", { class: "muted small", id: "plugin-summary" });
  const reload = h("button", { class: "btn", id: "plugin-reload", text: "↻ Reload", onclick: async () => {
    try { render(await post("/api/plugins/reload")); toast("success", "Plugins", "reloaded from disk", 2000); } catch (e) { toast("error", "Reload", errorText(e)); } } });
  const roots = h("details", { class: "small muted", style: "margin-top:1rem" });
  root.append(h("div", { class: "toolbar" }, filter, summary, h("span", { class: "spacer" }), reload), list, roots);
  let data = null;
  filter.oninput = () => data && render(data);

  function render(d) {
    data = d;
    const q = filter.value.trim().toLowerCase();
    const shown = d.plugins.filter((p) => !q || `${p.id} ${p.name} ${p.author} ${p.description}`.toLowerCase().includes(q));
    const broken = d.plugins.filter((p) => p.status === "error").length;
    summary.textContent = `${d.plugins.length} plugins · ${broken} with errors`;
    clear(list, shown.map((p) => {
      const toggle = h("input", { type: "checkbox", checked: p.enabled, disabled: p.status === "shadowed", "aria-label": `enable ${p.id}` });
      toggle.onchange = async () => {
        try { await post(`/api/plugins/${encodeURIComponent(p.id)}/${toggle.checked ? "enable" : "disable"}`); } catch (e) { toast("error", p.id, errorText(e)); toggle.checked = !toggle.checked; }
      };
      return h("div", { class: "plugin", "data-plugin": p.id, "data-status": p.status },
        icon(p.icon_url, p.name),
        h("div", {},
          h("div", { class: "row", style: "gap:.5rem" }, h("span", { class: "name", text: p.name }), h("span", { class: `pill ${p.status === "ok" ? "ok" : p.status}`, text: p.status }),
            p.kind === "script" ? h("span", { class: "pill", text: "script" }) : null),
          h("div", { class: "meta" }, h("span", { text: p.id }), h("span", { text: `v${p.version}` }), p.author ? h("span", { text: `by ${p.author}` }) : null,
            h("span", { class: "mono", title: p.path, text: p.path })),
          p.description ? h("div", { text: p.description }) : null,
          p.services.length ? h("div", { class: "svcs" }, p.services.map((s) => h("span", { class: "svc", title: s.kind, text: `${s.kind}: ${s.label || s.title || s.id}` }))) : null,
          p.shadowed_by ? h("div", { class: "small muted", style: "margin-top:.3rem", text: `${p.status === "shadowed" ? "Shadowed by" : "Conflicts with"} ${p.shadowed_by}` }) : null,
          (p.errors.length || p.warnings.length) ? h("ul", { class: "msgs" }, p.errors.map((e) => h("li", { class: "e", text: e })), p.warnings.map((w) => h("li", { class: "w", text: w }))) : null),
        h("label", { class: "switch", title: p.enabled ? "enabled" : "disabled" }, toggle, h("span")));
    }));
    if (!shown.length) list.append(h("div", { class: "empty", text: q ? "No plugin matches." : "No plugins found on the search path." }));
    clear(roots, h("summary", { text: "Search path" }), h("ol", {}, d.roots.map((r) => h("li", { class: "mono", text: r }))));
  }
  async function refresh() { try { render(await get("/api/plugins")); } catch (e) { toast("error", "Plugins", errorText(e)); } }
  return { show: refresh, services: refresh };
}
