// microslip practice page: rounds of neutral motion with one slip, keyboard first.
// No framework and no CDN: practice.html, this file and practice.css are the whole page.
"use strict";

const REPLAY_SLOWDOWN = 10;   // feedback replays the slip at 1/10 of real time
const LEAD_MS = 600;          // the still first frame before a round starts moving
const MARGIN_MS = 150;        // replay window around the slip
const COLORS = ["#1565c0", "#2e7d32", "#ef6c00", "#c62828"];

const st = { layout: null, round: null, fb: null, phase: "loading", anim: null, busy: false,
             framesDrawn: 0, rounds: 0 };
const $ = (id) => document.getElementById(id);
const person = () => $("person").value.trim() || "guest";
const deck = () => document.querySelector("input[name=deck]:checked").value;

function setPhase(p) { st.phase = p; document.body.dataset.phase = p; }

function prompt(text) { $("prompt").textContent = text; }

async function api(path, opts) {
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

function buildChoices() {
  const box = $("choices"); box.replaceChildren();
  const choices = (st.round && st.round.choices) || [];
  for (const c of choices) {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.emotion = c.emotion; b.dataset.key = c.key;
    b.textContent = `${c.key} ${c.label}`;
    b.addEventListener("click", () => answer(c.emotion));
    box.appendChild(b);
  }
}

async function next() {
  if (st.busy) return;
  st.busy = true; $("feedback").hidden = true; st.fb = null;
  try {
    const r = await api(`/api/practice/next?deck=${encodeURIComponent(deck())}&person=${encodeURIComponent(person())}`);
    st.round = r; st.rounds++;
    document.body.dataset.roundId = r.id; document.body.dataset.speed = String(r.speed);
    document.body.dataset.level = String(r.level.index);
    $("level").textContent = r.level.name;
    $("deck-note").textContent = r.note ? `(${r.note})` : "";
    buildChoices();
    st.anim = { motion: r.motion, start: performance.now(), speed: r.speed, lead: LEAD_MS,
                bounds: bounds(r.motion), hot: new Set(), replay: false };
    setPhase("play");
    prompt(`Watch (${r.level.name}). Answer with 1-7 or 0 whenever you are sure.`);
  } catch (err) {
    setPhase("error"); prompt(String(err.message || err));
  } finally { st.busy = false; }
}

async function answer(emotion) {
  if (!st.round || st.busy || !(st.phase === "play" || st.phase === "ask")) return;
  st.busy = true;
  try {
    const fb = await api("/api/practice/answer", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: st.round.id, answer: emotion, person: st.round.person }),
    });
    showFeedback(fb);
  } catch (err) {
    prompt(String(err.message || err));
  } finally { st.busy = false; }
  loadProgress();
}

function showFeedback(fb) {
  st.fb = fb; setPhase("feedback");
  document.body.dataset.correct = String(fb.correct);
  document.body.dataset.speed = String(fb.level.speed);
  document.body.dataset.level = String(fb.level.index);
  $("level").textContent = fb.level.name;
  $("fb-verdict").textContent = fb.correct ? "Right:" : `Not ${fb.answer === "none" ? "“no slip”" : fb.answer}:`;
  $("fb-verdict").className = fb.correct ? "right" : "wrong";
  $("fb-emotion").textContent = fb.emotion === "none" ? `no slip (${fb.kind})` : fb.emotion;
  $("fb-label").textContent = fb.label === "model guess"
    ? `the device's own reading (${Math.round(100 * fb.confidence)}%), not ground truth`
    : "ground truth";
  $("fb-expl").textContent = fb.explanation;
  const ul = $("fb-aus"); ul.replaceChildren();
  for (const a of fb.action_units) {
    const li = document.createElement("li");
    li.textContent = `${a.au} ${a.name}${a.side !== "both" ? ` (${a.side})` : ""}: ${a.intensity.toFixed(2)}`;
    ul.appendChild(li);
  }
  $("feedback").hidden = false;
  const up = fb.level.changed === "up" ? ` Speed up: ${fb.level.name}.` : fb.level.changed === "down" ? ` Slower again: ${fb.level.name}.` : "";
  prompt(`${fb.correct ? "Right." : "Not quite."}${up} Enter for the next round.`);
  // Replay the slip slowed down with the moving regions marked.
  st.anim = { motion: st.round.motion, start: performance.now(), speed: 1 / REPLAY_SLOWDOWN, lead: 0,
              bounds: st.anim ? st.anim.bounds : bounds(st.round.motion), hot: new Set(fb.regions),
              replay: true, from: Math.max(0, fb.slip.onset_ms - MARGIN_MS), to: fb.slip.offset_ms + MARGIN_MS };
}

// ---- drawing ----
function bounds(m) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const f = m.frames[0];
  for (let i = 0; i < f.length; i += 2) {
    x0 = Math.min(x0, f[i]); x1 = Math.max(x1, f[i]); y0 = Math.min(y0, f[i + 1]); y1 = Math.max(y1, f[i + 1]);
  }
  return { x0, y0, x1, y1 };
}

function frameAt(m, tMs, hint) {
  const t = m.t_ms; let k = Math.min(hint || 0, t.length - 2);
  if (t[k] > tMs) k = 0;
  while (k < t.length - 2 && t[k + 1] < tMs) k++;
  const a = m.frames[k], b = m.frames[k + 1], span = t[k + 1] - t[k];
  const w = span > 0 ? Math.min(1, Math.max(0, (tMs - t[k]) / span)) : 1;
  const out = new Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + (b[i] - a[i]) * w;
  return [out, k];
}

function draw(now) {
  requestAnimationFrame(draw);
  const a = st.anim; if (!a || !st.layout) return;
  const m = a.motion, end = m.t_ms[m.t_ms.length - 1];
  let tMs;
  if (a.replay) {
    const span = a.to - a.from, loop = span / a.speed + 700;
    tMs = a.from + Math.min(span, ((now - a.start) % loop) * a.speed);
  } else {
    tMs = Math.max(0, (now - a.start - a.lead) * a.speed);
    if (tMs >= end && st.phase === "play") { setPhase("ask"); prompt("What did you see? 1-7, or 0 for no slip / blink."); }
    tMs = Math.min(tMs, end);
  }
  const canvas = $("face"), ctx = canvas.getContext("2d");
  const { x0, y0, x1, y1 } = a.bounds, pad = 30;
  const s = Math.min((canvas.width - 2 * pad) / Math.max(1, x1 - x0), (canvas.height - 2 * pad - 20) / Math.max(1, y1 - y0));
  const X = (v) => pad + (v - x0) * s, Y = (v) => pad + (v - y0) * s;
  ctx.fillStyle = "#fafaf8"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  const [cur, k] = frameAt(m, tMs, a.k); a.k = k;
  for (const part of st.layout.parts) {
    const hot = a.hot.has(part.region);
    ctx.strokeStyle = hot ? "#d64541" : "#3c3c3c"; ctx.lineWidth = hot ? 3 : 1.5;
    ctx.beginPath();
    part.points.forEach((p, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, X(cur[2 * p]), Y(cur[2 * p + 1])));
    if (part.closed) ctx.closePath();
    ctx.stroke();
  }
  ctx.fillStyle = "#333"; ctx.font = "13px system-ui, sans-serif";
  const label = a.replay ? `replay 1/${REPLAY_SLOWDOWN} speed  +${Math.round(tMs - a.from)} ms` : "";
  ctx.fillText(label, 8, canvas.height - 8);
  st.framesDrawn++; canvas.dataset.framesDrawn = String(st.framesDrawn);
}

// ---- progress ----
async function loadProgress() {
  const p = person();
  $("csv").href = `/api/practice/progress.csv?person=${encodeURIComponent(p)}`;
  $("csv").download = `practice-${p}.csv`;
  let data;
  try { data = await api(`/api/practice/progress?person=${encodeURIComponent(p)}`); } catch (err) { return; }
  const b = data.decks.builtin, d = data.decks.device;
  if (st.phase !== "play" && st.phase !== "ask") $("level").textContent = data.decks[deck()].level.name;
  $("prog-total").textContent = `(${b.total.answers} built-in answers, ${pct(b.total.accuracy)} right)`;
  $("prog-total").dataset.answers = String(b.total.answers + d.total.answers);
  const tbody = $("by-emotion").tBodies[0]; tbody.replaceChildren();
  for (const [emo, v] of Object.entries(b.by_emotion)) {
    const tr = document.createElement("tr");
    for (const text of [emo === "none" ? "no slip" : emo, String(v.answers), pct(v.accuracy)]) {
      const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  $("prog-device").textContent = d.total.answers
    ? `This device's slips (scored against the model's guesses, apart): ${d.total.answers} answers, ${pct(d.total.accuracy)} agreed.`
    : `This device's slips: ${data.library.slips} kept${data.library.slips ? "" : " (needs [events] include_motion)"}.`;
  chart(data.levels, b.days, b.by_emotion);
}

function pct(x) { return x === null || x === undefined ? "—" : `${Math.round(100 * x)}%`; }

function chart(levels, days, byEmotion) {
  // Left: accuracy per day, one line per speed level. Right: accuracy per emotion, all days.
  const c = $("chart"), ctx = c.getContext("2d"), H = c.height, L = 40, B = 24, R = 250;
  const W = c.width - R;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, H);
  ctx.strokeStyle = "#ddd"; ctx.fillStyle = "#666"; ctx.font = "11px system-ui, sans-serif";
  for (const y of [0, 0.5, 1]) {
    const py = H - B - y * (H - B - 26);
    ctx.beginPath(); ctx.moveTo(L, py); ctx.lineTo(W - 10, py); ctx.stroke();
    ctx.fillText(`${Math.round(100 * y)}%`, 4, py + 4);
  }
  const shown = days.slice(-14), n = shown.length;
  const px = (i) => L + (n > 1 ? (i * (W - L - 20)) / (n - 1) : (W - L) / 2);
  shown.forEach((d, i) => { if (i % Math.ceil(n / 7) === 0) ctx.fillText(d.day.slice(5), px(i) - 14, H - 6); });
  levels.forEach((lv, li) => {
    ctx.strokeStyle = ctx.fillStyle = COLORS[li % COLORS.length]; ctx.lineWidth = 2; ctx.beginPath();
    let drawn = false;
    shown.forEach((d, i) => {
      const v = d.by_speed[lv]; if (!v) return;
      const py = H - B - v.accuracy * (H - B - 26);
      (drawn ? ctx.lineTo : ctx.moveTo).call(ctx, px(i), py); drawn = true;
      ctx.fillRect(px(i) - 2, py - 2, 5, 5);
    });
    ctx.stroke();
    ctx.fillText(lv, L + 10 + li * 90, 12);
  });
  c.dataset.days = String(n);
  const emos = Object.entries(byEmotion), x0 = W + 80, bw = R - 100, bh = Math.min(20, (H - 20) / Math.max(1, emos.length));
  emos.forEach(([emo, v], i) => {
    const y = 14 + i * bh;
    ctx.fillStyle = "#666"; ctx.fillText(emo === "none" ? "no slip" : emo, W + 10, y + bh * 0.7);
    ctx.fillStyle = "#eee"; ctx.fillRect(x0, y + 2, bw, bh - 5);
    ctx.fillStyle = v.accuracy >= 0.6 ? "#2e7d32" : "#d64541"; ctx.fillRect(x0, y + 2, bw * (v.accuracy || 0), bh - 5);
    ctx.fillStyle = "#333"; ctx.fillText(`${v.answers}`, x0 + bw + 4, y + bh * 0.7);
  });
  c.dataset.emotions = String(emos.length);
}

async function loadPeople() {
  try {
    const { people } = await api("/api/practice/people");
    const dl = $("people"); dl.replaceChildren();
    for (const p of people) { const o = document.createElement("option"); o.value = p.person; dl.appendChild(o); }
  } catch (err) { /* the list is a convenience */ }
}

// ---- wiring ----
document.addEventListener("keydown", (e) => {
  if (e.target === $("person") || e.ctrlKey || e.metaKey || e.altKey) return;
  if (/^[0-7]$/.test(e.key)) {
    const c = (st.round && st.round.choices || []).find((x) => x.key === e.key);
    if (c) { e.preventDefault(); answer(c.emotion); }
  } else if (e.key === "Enter" || e.key === " ") {
    if (st.phase !== "play" && st.phase !== "ask") { e.preventDefault(); next(); }
  }
});
$("start").addEventListener("click", () => { if (st.phase !== "play" && st.phase !== "ask") next(); });
$("person").addEventListener("change", () => { localStorage.setItem("microslip.person", person()); loadProgress(); });
for (const r of document.querySelectorAll("input[name=deck]")) r.addEventListener("change", () => loadProgress());
const saved = new URLSearchParams(location.search).get("person") || localStorage.getItem("microslip.person");
if (saved) $("person").value = saved;

fetch("/api/layout").then((r) => r.json()).then((lay) => {
  st.layout = lay; setPhase("ready");
  loadPeople(); loadProgress();
  requestAnimationFrame(draw);
}).catch((err) => { setPhase("error"); prompt(String(err)); });
