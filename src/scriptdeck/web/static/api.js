// The dashboard talks to the server only through the JSON API below /api (the same one scripts use).

function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
    this.body = body;
  }
}

export async function api(method, path, body, opts = {}) {
  const headers = { "Accept": "application/json" };
  // Double-submit CSRF token: the cookie can only be read by pages of this origin.
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("scriptdeck_csrf");
  let payload;
  if (opts.raw !== undefined) { payload = opts.raw; headers["Content-Type"] = "application/octet-stream"; }
  else if (body !== undefined) { payload = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
  const res = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (res.status === 401) { location.reload(); throw new ApiError(401, { error: "signed out" }); }
  if (opts.blob && res.ok) return res;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text || res.statusText }; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}
export const get = (p) => api("GET", p);
export const post = (p, b) => api("POST", p, b === undefined ? {} : b);
export const put = (p, b) => api("PUT", p, b);
export const del = (p) => api("DELETE", p);

// One EventSource for the whole page; listeners by event name ("*" for every event).
const listeners = new Map();
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}
// Recent envelopes of runs: a page learns a run's id from POST /api/runs, and a quick run's events
// (even its end) can come over the stream before that response does.
const recentRunEvents = [];
export function eventsOfRun(runId) { return recentRunEvents.filter((e) => e.run_id === runId); }
function dispatch(env) {
  if (env.run_id) { recentRunEvents.push(env); if (recentRunEvents.length > 200) recentRunEvents.shift(); }
  for (const key of [env.event, "*"]) for (const fn of listeners.get(key) || []) {
    try { fn(env); } catch (e) { console.error(e); }
  }
}
export function connectEvents(onState) {
  // Frames are unnamed ("data:" only, the envelope carries its name) so one onmessage sees them all.
  const src = new EventSource("/api/events");
  src.onopen = () => onState(true);
  src.onerror = () => onState(false);
  src.onmessage = (m) => dispatch(JSON.parse(m.data));
  return src;
}
