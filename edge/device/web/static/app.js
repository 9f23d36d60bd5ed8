// microslip live page: slips over server-sent events, slow-motion wireframe replay.
// No framework and no CDN: this file, index.html and style.css are the whole page.
"use strict";

const MAX_ROWS = 100;        // the table never grows past this: the page stays light at 10 slips/s
const SLOWDOWN = 10;         // replay at 1/10 speed
const HOT = 0.02;            // a region "moved" past 2% of the inter-ocular distance
const FACS = {
  1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
  6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser",
  12: "lip corner puller", 14: "dimpler", 15: "lip corner depressor", 16: "lower lip depressor",
  17: "chin raiser", 20: "lip stretcher", 23: "lip tightener", 24: "lip pressor",
  25: "lips part", 26: "jaw drop", 27: "mouth stretch", 43: "eyes closed", 45: "blink",
};

const state = { layout: null, slips: new Map(), order: [], pending: [], selected: null,
                follow: true, anim: null, framesDrawn: 0 };
const $ = (id) => document.getElementById(id);

function auNumber(name) { const m = /^AU(\d+)/.exec(name); return m ? Number(m[1]) : null; }
function auLabel(name) {
  const n = auNumber(name); const side = /_L$/.test(name) ? " (left)" : /_R$/.test(name) ? " (right)" : "";
  return n !== null && FACS[n] ? `${name} ${FACS[n]}${side}` : name;
}
function cell(tr, text, cls) {
  const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td);
}
function fmtTime(iso) { const d = new Date(iso); return isNaN(d) ? iso : d.toLocaleTimeString(); }

function setStatus(s) { const el = $("status"); el.textContent = s; el.dataset.status = s; }

function renderStats(stats) {
  const dl = $("stats"); dl.replaceChildren();
  for (const [k, v] of Object.entries(stats || {})) {
    if (v !== null && typeof v === "object") continue;  // nested stage timings stay in MQTT stats
    const dt = document.createElement("dt"); dt.textContent = k.replace(/_/g, " ");
    const dd = document.createElement("dd");
    dd.textContent = typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : String(v);
    dl.append(dt, dd);
  }
}

function addSlip(ev) {
  if (!ev || state.slips.has(ev.id)) return;  // at-least-once delivery: dedupe by id
  state.slips.set(ev.id, ev); state.order.push(ev.id); state.pending.push(ev);
  while (state.order.length > MAX_ROWS) state.slips.delete(state.order.shift());
  if (ev.device) $("device").textContent = ev.device;
  if (state.follow && ev.motion) select(ev.id, false);
  scheduleRender();
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return; renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; flushRows(); });
}

function flushRows() {
  // One DOM update per animation frame however many slips arrived in between.
  const tbody = $("slips").tBodies[0];
  const frag = document.createDocumentFragment();
  for (const ev of state.pending.slice(-MAX_ROWS).reverse()) frag.appendChild(row(ev));
  state.pending = [];
  tbody.insertBefore(frag, tbody.firstChild);
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
  for (const tr of tbody.rows) tr.classList.toggle("selected", tr.dataset.id === state.selected);
  $("count").textContent = `(${state.slips.size} shown)`;
}

function row(ev) {
  const tr = document.createElement("tr");
  tr.dataset.id = ev.id; tr.dataset.emotion = ev.emotion;
  if (!ev.motion) { tr.classList.add("nomotion"); tr.title = "no motion recorded"; }
  cell(tr, fmtTime(ev.time)); cell(tr, ev.emotion, "emotion"); cell(tr, ev.type);
  cell(tr, `${Math.round(ev.confidence * 100)}%`); cell(tr, `${Math.round(ev.duration_ms)} ms`);
  cell(tr, ev.intensity.toFixed(2));
  const aus = Object.entries(ev.action_units || {}).sort((a, b) => b[1] - a[1]);
  cell(tr, aus.map(([k]) => k).join(" ") || "—");
  cell(tr, String(ev.track_id));
  tr.addEventListener("click", () => { if (ev.motion) { state.follow = false; select(ev.id, true); } });
  return tr;
}

// ---- slow-motion wireframe ----
function regionMotion(motion) {
  const f0 = motion.frames[0], out = {};
  for (const part of state.layout.parts) {
    let m = 0;
    for (const f of motion.frames) for (const p of part.points) {
      m = Math.max(m, Math.hypot(f[2 * p] - f0[2 * p], f[2 * p + 1] - f0[2 * p + 1]));
    }
    out[part.region] = Math.max(out[part.region] || 0, m / motion.scale);
  }
  return out;
}

function select(id, userChose) {
  const ev = state.slips.get(id);
  if (!ev || !ev.motion || !state.layout) return;
  state.selected = id;
  // Same rule as edge.events.motion.motion_regions: past HOT and at least half of the largest move;
  // regions without AUs (the outline) are never highlighted.
  const rm = Object.entries(regionMotion(ev.motion)).filter(([r]) => (state.layout.region_aus[r] || []).length);
  const top = Math.max(0, ...rm.map(([, v]) => v));
  const hot = new Set(rm.filter(([, v]) => v > HOT && v >= 0.5 * top).map(([r]) => r));
  const hotAus = new Set([...hot].flatMap((r) => state.layout.region_aus[r] || []).map(auNumber));
  const list = $("replay-aus"); list.replaceChildren();
  // The eight strongest actions: enough to learn from, short enough to read at a glance.
  for (const [name, v] of Object.entries(ev.action_units || {}).sort((a, b) => b[1] - a[1]).slice(0, 8)) {
    const li = document.createElement("li"); li.textContent = `${auLabel(name)}: ${v.toFixed(2)}`;
    if (hotAus.has(auNumber(name))) li.className = "hot"; list.appendChild(li);
  }
  $("replay-caption").textContent =
    `${ev.emotion} ${ev.type}, ${Math.round(ev.duration_ms)} ms, moved: ${[...hot].join(", ") || "little"}`;
  state.anim = { ev, hot, start: performance.now(), bounds: bounds(ev.motion) };
  if (userChose) flushRows();
}

function bounds(motion) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const f of motion.frames) for (let i = 0; i < f.length; i += 2) {
    x0 = Math.min(x0, f[i]); x1 = Math.max(x1, f[i]); y0 = Math.min(y0, f[i + 1]); y1 = Math.max(y1, f[i + 1]);
  }
  return { x0, y0, x1, y1 };
}

function frameAt(motion, tMs) {
  // Linear interpolation between the recorded frames so that 1/10 speed looks smooth.
  const t = motion.t_ms; let k = 0;
  while (k < t.length - 2 && t[k + 1] < tMs) k++;
  const a = motion.frames[k], b = motion.frames[k + 1], span = t[k + 1] - t[k];
  const w = span > 0 ? Math.min(1, Math.max(0, (tMs - t[k]) / span)) : 1;
  return a.map((v, i) => v + (b[i] - v) * w);
}

function draw(now) {
  requestAnimationFrame(draw);
  const a = state.anim; if (!a) return;
  const canvas = $("wireframe"), ctx = canvas.getContext("2d"), m = a.ev.motion;
  const total = m.t_ms[m.t_ms.length - 1];
  const loop = total * SLOWDOWN + 800;  // hold the last frame briefly before looping
  const tMs = Math.min(total, ((now - a.start) % loop) / SLOWDOWN);
  const { x0, y0, x1, y1 } = a.bounds, pad = 40;
  const s = Math.min((canvas.width - 2 * pad) / Math.max(1, x1 - x0), (canvas.height - 2 * pad - 30) / Math.max(1, y1 - y0));
  const X = (v) => pad + (v - x0) * s, Y = (v) => pad + (v - y0) * s;
  ctx.fillStyle = "#fafaf8"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  const cur = frameAt(m, tMs), first = m.frames[0];
  for (const [pts, ghost] of [[first, true], [cur, false]]) {
    for (const part of state.layout.parts) {
      const hot = !ghost && a.hot.has(part.region);
      ctx.strokeStyle = ghost ? "#d0d0d0" : hot ? "#d64541" : "#3c3c3c";
      ctx.lineWidth = hot ? 3 : 1.5;
      ctx.beginPath();
      part.points.forEach((p, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, X(pts[2 * p]), Y(pts[2 * p + 1])));
      if (part.closed) ctx.closePath();
      ctx.stroke();
    }
  }
  ctx.fillStyle = "#333"; ctx.font = "13px system-ui, sans-serif";
  ctx.fillText(`${a.ev.emotion}  +${Math.round(tMs)} ms of ${Math.round(total)} ms  (1/${SLOWDOWN} speed)`, 8, canvas.height - 10);
  state.framesDrawn++; canvas.dataset.framesDrawn = String(state.framesDrawn);
}

// ---- wiring ----
function connect() {
  const es = new EventSource("/api/stream");
  es.addEventListener("hello", (e) => {
    const snap = JSON.parse(e.data);
    setStatus(snap.status); renderStats(snap.stats);
    for (const ev of snap.slips) addSlip(ev);
  });
  es.addEventListener("slip", (e) => addSlip(JSON.parse(e.data)));
  es.addEventListener("stats", (e) => renderStats(JSON.parse(e.data)));
  es.addEventListener("status", (e) => setStatus(JSON.parse(e.data)));
  es.onerror = () => setStatus("disconnected");  // EventSource reconnects by itself
}

fetch("/api/layout").then((r) => r.json()).then((lay) => {
  state.layout = lay;
  connect();
  requestAnimationFrame(draw);
}).catch((err) => { setStatus("error"); console.error(err); });
