// Canvas drawings: the temperature chart and the toolpath preview (top view, per layer).

const COLORS = ["#f97316", "#2563eb", "#16a34a", "#9333ea", "#0891b2", "#db2777"];

function fit(canvas, height) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.parentElement.clientWidth || 600;
  const hgt = height || canvas.clientHeight || 240;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(hgt * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(hgt * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [ctx, w, hgt];
}

export function drawTemperatures(canvas, samples, windowSeconds = 600) {
  const [ctx, w, hgt] = fit(canvas, 220);
  ctx.clearRect(0, 0, w, hgt);
  const pad = { l: 38, r: 10, t: 10, b: 22 };
  const now = samples.length ? samples[samples.length - 1].time : Date.now() / 1000;
  // Grow the time axis with the data (1 minute at least, the full window at most).
  const span = samples.length ? Math.min(windowSeconds, Math.max(60, now - samples[0].time)) : windowSeconds;
  windowSeconds = Math.ceil(span / 60) * 60;
  const t0 = now - windowSeconds;
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.values)))].sort();
  let maxV = 50;
  for (const s of samples) for (const v of Object.values(s.values)) maxV = Math.max(maxV, v.actual || 0, v.target || 0);
  maxV = Math.ceil((maxV + 10) / 50) * 50;
  const x = (t) => pad.l + ((t - t0) / windowSeconds) * (w - pad.l - pad.r);
  const y = (v) => hgt - pad.b - (v / maxV) * (hgt - pad.t - pad.b);
  ctx.font = "11px system-ui"; ctx.fillStyle = "#94a3b8"; ctx.strokeStyle = "#eef2f6"; ctx.lineWidth = 1;
  for (let v = 0; v <= maxV; v += maxV / 5) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(w - pad.r, y(v)); ctx.stroke();
    ctx.fillText(`${Math.round(v)}°`, 4, y(v) + 4);
  }
  const tick = windowSeconds <= 60 ? 10 : windowSeconds <= 180 ? 30 : 120;
  for (let t = 0; t <= windowSeconds; t += tick) ctx.fillText(t ? (t % 60 ? `-${t}s` : `-${t / 60}m`) : "now", Math.max(pad.l, x(now - t) - 12), hgt - 6);
  names.forEach((name, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = samples.filter((s) => s.values[name] && s.time >= t0);
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.setLineDash([]); ctx.beginPath();
    pts.forEach((s, j) => { const px = x(s.time), py = y(s.values[name].actual || 0); j ? ctx.lineTo(px, py) : ctx.moveTo(px, py); });
    ctx.stroke();
    ctx.lineWidth = 1; ctx.setLineDash([4, 4]); ctx.beginPath();
    pts.forEach((s, j) => { const px = x(s.time), py = y(s.values[name].target || 0); j ? ctx.lineTo(px, py) : ctx.moveTo(px, py); });
    ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = color; ctx.fillRect(w - pad.r - 70, pad.t + i * 15, 10, 3);
    ctx.fillStyle = "#475569"; ctx.fillText(name, w - pad.r - 55, pad.t + 5 + i * 15);
  });
  if (!samples.length) { ctx.fillStyle = "#94a3b8"; ctx.font = "13px system-ui"; ctx.fillText("no temperature reports yet — connect the machine", pad.l + 10, hgt / 2); }
}

export class Preview {
  constructor(canvas) {
    this.canvas = canvas; this.data = null; this.layer = 0; this.showBelow = true;
    this.zoom = 1; this.pan = [0, 0];
    let drag = null;
    canvas.addEventListener("wheel", (e) => { e.preventDefault(); this.zoom = Math.min(50, Math.max(0.2, this.zoom * (e.deltaY < 0 ? 1.15 : 1 / 1.15))); this.draw(); }, { passive: false });
    canvas.addEventListener("mousedown", (e) => { drag = [e.clientX, e.clientY, ...this.pan]; canvas.style.cursor = "grabbing"; });
    window.addEventListener("mouseup", () => { drag = null; canvas.style.cursor = "grab"; });
    window.addEventListener("mousemove", (e) => { if (drag) { this.pan = [drag[2] + e.clientX - drag[0], drag[3] + e.clientY - drag[1]]; this.draw(); } });
    canvas.addEventListener("dblclick", () => { this.zoom = 1; this.pan = [0, 0]; this.draw(); });
    new ResizeObserver(() => this.draw()).observe(canvas);
  }
  set(data) { this.data = data; this.layer = Math.max(0, (data.layers || []).length - 1); this.draw(); }
  draw() {
    const [ctx, w, hgt] = fit(this.canvas, 520);
    ctx.fillStyle = "#0b1220"; ctx.fillRect(0, 0, w, hgt);
    const d = this.data;
    if (!d || !d.layers || !d.layers.length) {
      ctx.fillStyle = "#64748b"; ctx.font = "14px system-ui"; ctx.fillText("No toolpath — open a file to see its preview", 24, 36); return;
    }
    let [minx, miny, maxx, maxy] = d.bounds && d.bounds.length >= 4 ? [d.bounds[0], d.bounds[1], d.bounds[d.bounds.length / 2], d.bounds[d.bounds.length / 2 + 1]] : [0, 0, 100, 100];
    if (!(maxx > minx)) maxx = minx + 1;
    if (!(maxy > miny)) maxy = miny + 1;
    const s = Math.min((w - 80) / (maxx - minx), (hgt - 80) / (maxy - miny)) * this.zoom;
    const ox = w / 2 - ((minx + maxx) / 2) * s + this.pan[0], oy = hgt / 2 + ((miny + maxy) / 2) * s + this.pan[1];
    // bed grid every 10 mm
    ctx.strokeStyle = "#16213a"; ctx.lineWidth = 1;
    const step = s * 10 > 12 ? 10 : 50;
    for (let gx = Math.floor(minx / step) * step; gx <= maxx; gx += step) { ctx.beginPath(); ctx.moveTo(ox + gx * s, oy - miny * s); ctx.lineTo(ox + gx * s, oy - maxy * s); ctx.stroke(); }
    for (let gy = Math.floor(miny / step) * step; gy <= maxy; gy += step) { ctx.beginPath(); ctx.moveTo(ox + minx * s, oy - gy * s); ctx.lineTo(ox + maxx * s, oy - gy * s); ctx.stroke(); }
    const drawLayer = (layer, color, width) => {
      ctx.strokeStyle = color; ctx.lineWidth = width; ctx.beginPath();
      for (const p of layer.paths || []) {
        if (p.length < 4) continue;
        ctx.moveTo(ox + p[0] * s, oy - p[1] * s);
        for (let i = 2; i < p.length; i += 2) ctx.lineTo(ox + p[i] * s, oy - p[i + 1] * s);
      }
      ctx.stroke();
    };
    const from = this.showBelow ? 0 : this.layer;
    for (let i = from; i < this.layer; i++) drawLayer(d.layers[i], "#334155", 1);
    if (d.layers[this.layer]) {
      const L = d.layers[this.layer];
      if (L.travel) { ctx.setLineDash([3, 3]); drawLayer({ paths: L.travel }, "#475569", 0.8); ctx.setLineDash([]); }
      drawLayer(L, "#f97316", 1.6);
    }
  }
}
