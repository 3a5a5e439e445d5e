// One stored call on one page: the timeline picture first, the scorecard, the words,
// then every notable event in a table.  Data: GET /api/review/ID with the panel token.
const SVG = "http://www.w3.org/2000/svg";
const W = 1000, X0 = 96, X1 = 985;
const L = {
  zh: { title: "通话回顾", customer: "客户", agent: "坐席", overlap: "抢话", silence: "静音",
    pace: "语速 字/分", anger: "客户情绪", flags: "提示", cards: "话术卡", score: "质检评分",
    rule: "规则", value: "结果", limit: "标准", seed: "依据", words: "通话文字", noWords: "本通话无转写(未加载识别模型)",
    events: "事件", t: "时间", type: "类型", party: "一方", what: "内容", lat: "到达面板", fb: "坐席操作",
    interruption: "打断", "pace.drift": "语速", phrase: "忌语", used: "已采用",
    fbTitle: "话术卡反馈(按提示类型)", fbKind: "提示类型", shown: "出现", ignored: "未操作",
    "silence.end": "静音结束", "call.started": "通话开始", "interruption.end": "打断结束", dismissed: "已忽略", pass: "达标", fail: "未达标", na: "无法评估", trend: "评分趋势",
    notFound: "找不到这通电话(或无权查看)", auth: "请从面板打开(需要登录令牌)", back: "返回" },
  en: { title: "Call review", customer: "Customer", agent: "Agent", overlap: "overlap", silence: "dead air",
    pace: "pace chars/min", anger: "customer anger", flags: "flags", cards: "cards", score: "QA score",
    rule: "Rule", value: "Result", limit: "Standard", seed: "Source", words: "Transcript", noWords: "No transcript on this call (no speech model loaded)",
    events: "Events", t: "Time", type: "Type", party: "Party", what: "Evidence", lat: "Reached panel", fb: "Agent clicked",
    interruption: "interrupted", "pace.drift": "pace", phrase: "phrase", used: "used",
    fbTitle: "Cards by flag kind", fbKind: "Flag kind", shown: "shown", ignored: "ignored",
    "silence.end": "dead air over", "call.started": "call start", "interruption.end": "interruption over", dismissed: "dismissed", pass: "pass", fail: "fail", na: "n/a", trend: "Score trend",
    notFound: "No such call (or not one you may see)", auth: "Open this from the panel (a token is needed)", back: "Back" },
};
const params = new URLSearchParams(location.search);
const lang = (params.get("lang") || localStorage.getItem("assist.lang") || "zh").startsWith("en") ? "en" : "zh";
const T = L[lang];
const token = params.get("token") || sessionStorage.getItem("assist.token") || "";
if (params.get("token")) {
  sessionStorage.setItem("assist.token", token);
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}?${params}`);
}
const callId = params.get("call") || "";
const root = document.getElementById("root");
const statusEl = document.getElementById("status");

function el(tag, attrs = {}, text = null) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}
function sv(tag, attrs = {}, text = null) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text != null) e.textContent = text;
  return e;
}
const sec = (t) => `${Number(t).toFixed(1)} s`;
const mmss = (t) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, "0")}`;

function summary(e) {
  const ev = e.evidence || {};
  switch (e.type) {
    case "interruption": return `onset ${ev.onset} s, overlap ${ev.overlap} s`;
    case "pace.drift": return `${ev.direction} ${ev.cpm}/min, band ${JSON.stringify(ev.band)}`;
    case "anger": return `${ev.previous} → ${ev.level} (${ev.score})`;
    case "phrase": return `「${ev.matched}」 → ${ev.instead}`;
    case "suggestion": return `[${ev.priority}] ${ev.title || ""}: ${ev.text}`;
    case "feedback": return `${ev.suggestion} ${ev.action}`;
    case "silence": return `since ${ev.start} s (${ev.threshold} s), after ${ev.after}`;
    case "silence.end": return `${ev.duration} s, ended by ${ev.resumed_by}`;
    case "response.gap": return `${ev.gap} s ${ev.kind}`;
    case "transcript.final": return ev.text || "";
    default: return Object.entries(ev).filter(([k]) => k !== "words").map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  }
}

function timeline(data) {
  const ev = data.events;
  const dur = Math.max(1, data.scorecard.duration || 0, ...ev.map((e) => e.t));
  const x = (t) => X0 + (Math.min(Math.max(t, 0), dur) / dur) * (X1 - X0);
  const H = 420;
  const svg = sv("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline", role: "img",
    "data-duration": dur, "data-x0": X0, "data-x1": X1, "data-width": W });
  const label = (y, text) => svg.append(sv("text", { x: 4, y }, text));
  // Flags row.
  const flagY = 14;
  label(flagY + 16, T.flags);
  const flagKinds = ["interruption", "pace.drift", "anger", "phrase", "silence"];
  const flags = ev.filter((e) => flagKinds.includes(e.type) && (e.type !== "anger" || e.evidence.level !== "calm"));
  flags.forEach((e, i) => {
    const g = sv("g", { class: `flag ${e.type.replace(".", "-")}`, "data-kind": e.type, "data-t": e.t, "data-seq": e.seq });
    const cx = x(e.t), cy = flagY + 6 + (i % 3) * 10;
    g.append(sv("line", { x1: cx, x2: cx, y1: cy, y2: 360 }), sv("circle", { cx, cy, r: 5 }),
      sv("text", { x: cx + 7, y: cy + 4 }, `${T[e.type] || e.type} ${mmss(e.t)}`));
    g.append(sv("title", {}, `${sec(e.t)} ${e.type}: ${summary(e)}`));
    svg.append(g);
  });
  // Talk lanes with overlaps and dead air.
  const lanes = { customer: 60, agent: 86 };
  const spans = { customer: [], agent: [] };
  for (const e of ev) if (e.type === "talk.end" && spans[e.party]) spans[e.party].push([e.evidence.start, e.evidence.start + e.evidence.duration]);
  for (const [party, y] of Object.entries(lanes)) {
    label(y + 14, T[party]);
    svg.append(sv("rect", { x: X0, y, width: X1 - X0, height: 20, class: "lane-bg" }));
    for (const [s, e] of spans[party]) svg.append(sv("rect", { x: x(s), y, width: Math.max(0.8, x(e) - x(s)), height: 20, class: `talk ${party}`, "data-start": s, "data-end": e }));
  }
  for (const [s1, e1] of spans.customer) for (const [s2, e2] of spans.agent) {
    const s = Math.max(s1, s2), e = Math.min(e1, e2);
    if (e > s) svg.append(sv("rect", { x: x(s), y: 80, width: Math.max(1, x(e) - x(s)), height: 6, class: "overlap", "data-start": s, "data-end": e }));
  }
  // Dead air: each stretch the live detector raised, from its start to whoever broke it.
  for (const e of ev.filter((q) => q.type === "silence")) {
    const end = ev.find((q) => q.type === "silence.end" && q.evidence.start === e.evidence.start);
    const s = e.evidence.start, to = end ? end.t : dur;
    svg.append(sv("rect", { x: x(s), y: 60, width: Math.max(1, x(to) - x(s)), height: 46, class: "silence", "data-start": s, "data-end": to }));
  }
  // Pace curve against its band.
  const py = 124, ph = 90;
  label(py + 12, T.pace);
  const paces = ev.filter((e) => e.type === "pace" && e.party === "agent");
  const band = data.band || paces.find((e) => e.evidence.band)?.evidence.band || [72, 210];
  const pmax = Math.max(300, ...paces.map((e) => e.evidence.cpm));
  const yp = (v) => py + ph - (v / pmax) * ph;
  svg.append(sv("rect", { x: X0, y: yp(band[1]), width: X1 - X0, height: yp(band[0]) - yp(band[1]), class: "band", "data-band": band.join("-") }));
  for (const v of band) svg.append(sv("text", { x: X1 - 28, y: yp(v) - 2 }, String(v)));
  svg.append(sv("polyline", { class: "curve pace", points: paces.map((e) => `${x(e.t)},${yp(e.evidence.cpm)}`).join(" ") }));
  // Anger curve with its levels.
  const ay = 232, ah = 80;
  label(ay + 12, T.anger);
  const ya = (v) => ay + ah - Math.min(1, Math.max(0, v)) * ah;
  const levels = ev.filter((e) => e.type === "anger");
  levels.forEach((e, i) => {
    if (e.evidence.level === "calm") return;
    const end = levels[i + 1] ? levels[i + 1].t : dur;
    svg.append(sv("rect", { x: x(e.t), y: ay, width: Math.max(1, x(end) - x(e.t)), height: ah, class: `level ${e.evidence.level}` }));
  });
  const th = levels.find((e) => e.evidence.thresholds)?.evidence.thresholds;
  if (th) for (const [name, [, enter]] of Object.entries(th)) {
    svg.append(sv("line", { x1: X0, x2: X1, y1: ya(enter), y2: ya(enter), class: "threshold" }));
    svg.append(sv("text", { x: X1 - 40, y: ya(enter) - 2 }, name));
  }
  const scores = ev.filter((e) => e.type === "metrics" && e.party === "customer" && e.evidence.anger != null);
  svg.append(sv("polyline", { class: "curve anger", points: scores.map((e) => `${x(e.t)},${ya(e.evidence.anger)}`).join(" ") }));
  // Cards at their call time, with latency and what the agent clicked.
  const cy = 326;
  label(cy + 14, T.cards);
  const fb = new Map(ev.filter((e) => e.type === "feedback").map((e) => [e.evidence.suggestion, e]));
  ev.filter((e) => e.type === "suggestion").forEach((e, i) => {
    const f = fb.get(e.evidence.id);
    const g = sv("g", { class: `card ${f ? f.evidence.action : ""}`, "data-kind": "suggestion", "data-t": e.t, "data-id": e.evidence.id });
    g.append(sv("rect", { x: x(e.t) - 5, y: cy + (i % 2) * 8, width: 10, height: 14, rx: 2 }));
    const lat = data.latency[e.seq];
    g.append(sv("title", {}, `${sec(e.t)} ${e.evidence.title || ""}: ${e.evidence.text}` +
      (lat != null ? ` · ${T.lat} +${lat} ms` : "") + (f ? ` · ${T[f.evidence.action]} ${sec(f.t)}` : "")));
    svg.append(g);
  });
  // Time axis.
  const g = sv("g", { class: "axis" });
  g.append(sv("line", { x1: X0, x2: X1, y1: 366, y2: 366 }));
  const step = dur > 600 ? 60 : dur > 120 ? 30 : 10;
  for (let t = 0; t <= dur; t += step) {
    g.append(sv("line", { x1: x(t), x2: x(t), y1: 366, y2: 371 }), sv("text", { x: x(t) - 10, y: 384 }, mmss(t)));
  }
  svg.append(g);
  const legend = el("p", { class: "legend" });
  for (const [cls, text] of [["customer", T.customer], ["agent", T.agent], ["overlap", T.overlap], ["silence", T.silence], ["pace", T.pace], ["anger", T.anger]]) legend.append(el("span", { class: cls }, `■ ${text}`));
  const s = el("section", { id: "picture" });
  s.append(svg, legend);
  return s;
}

function scorecard(card) {
  const s = el("section", { id: "scorecard" });
  s.append(el("h2", {}, T.score), el("p", { class: "score", "data-score": card.score ?? "" }, card.score == null ? T.na : `${card.score} / 100`));
  const table = el("table");
  const hr = el("tr");
  for (const k of ["rule", "value", "limit", "seed"]) hr.append(el("th", {}, T[k]));
  table.append(hr);
  for (const line of card.lines) {
    const res = line.passed == null ? "na" : line.passed ? "pass" : "fail";
    const tr = el("tr", { class: res, "data-rule": line.rule });
    const limit = Object.entries(line.limit).filter(([, v]) => typeof v !== "object" || Array.isArray(v)).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join("–") : v}`).join(", ");
    tr.append(el("td", {}, `${line.title}${line.weight ? ` (${line.weight})` : ""}`),
      el("td", { class: "res" }, `${T[res]}${line.value != null ? ` · ${line.value}` : ""} — ${line.detail}`),
      el("td", {}, limit), el("td", {}, line.seed));
    table.append(tr);
  }
  s.append(table);
  const fb = Object.entries(card.feedback || {});
  if (fb.length) {
    const ft = el("table", { class: "feedback" });
    const fh = el("tr");
    for (const k of ["fbKind", "shown", "used", "dismissed", "ignored"]) fh.append(el("th", {}, T[k]));
    ft.append(fh);
    for (const [kind, c] of fb) {
      const tr = el("tr", { "data-kind": kind });
      tr.append(el("td", {}, T[kind] || kind));
      for (const k of ["shown", "used", "dismissed", "ignored"]) tr.append(el("td", { class: "num" }, String(c[k])));
      ft.append(tr);
    }
    s.append(el("h2", {}, T.fbTitle), ft);
  }
  return s;
}

function marked(text, terms) {
  // Highlights each term (taboo hits, anger cues) in the text, safely as DOM nodes.
  const frag = document.createDocumentFragment();
  let rest = text;
  while (rest) {
    let best = null;
    for (const [term, cls] of terms) {
      const i = term ? rest.indexOf(term) : -1;
      if (i >= 0 && (!best || i < best[0])) best = [i, term, cls];
    }
    if (!best) { frag.append(rest); break; }
    frag.append(rest.slice(0, best[0]), el("mark", { class: best[2] }, best[1]));
    rest = rest.slice(best[0] + best[1].length);
  }
  return frag;
}

function words(data) {
  const s = el("section", { id: "words", class: "transcript" });
  s.append(el("h2", {}, T.words));
  const finals = data.events.filter((e) => e.type === "transcript.final");
  if (!finals.length) { s.append(el("p", { class: "quiet" }, T.noWords)); return s; }
  const phrases = data.events.filter((e) => e.type === "phrase");
  for (const e of finals) {
    const terms = phrases.filter((p) => p.evidence.utterance_start === e.evidence.start && p.party === e.party).map((p) => [p.evidence.matched, "taboo"]);
    for (const c of data.cues[e.seq] || []) terms.push([c.term, "cue"]);
    const p = el("p", { "data-t": e.t });
    p.append(el("span", { class: "party" }, `${mmss(e.evidence.start ?? e.t)} ${T[e.party] || e.party}`), marked(e.evidence.text || "", terms));
    s.append(p);
  }
  return s;
}

function events(data) {
  const s = el("section", { id: "events" });
  s.append(el("h2", {}, T.events));
  const table = el("table", { class: "events" });
  const hr = el("tr");
  for (const k of ["t", "type", "party", "what", "lat", "fb"]) hr.append(el("th", {}, T[k]));
  table.append(hr);
  const fb = new Map(data.events.filter((e) => e.type === "feedback").map((e) => [e.evidence.suggestion, e]));
  const keep = ["call.started", "call.ended", "interruption", "interruption.end", "pace.drift", "anger", "phrase", "silence", "response.gap", "suggestion", "feedback", "transcript.final", "transcription"];
  for (const e of data.events.filter((q) => keep.includes(q.type))) {
    const f = e.type === "suggestion" ? fb.get(e.evidence.id) : null;
    const lat = data.latency[e.seq];
    const tr = el("tr", { "data-type": e.type, "data-t": e.t });
    tr.append(el("td", { class: "num" }, e.t.toFixed(2)), el("td", {}, e.type), el("td", {}, e.party ? T[e.party] || e.party : ""),
      el("td", {}, summary(e)), el("td", { class: "num" }, lat != null ? `+${lat} ms` : "–"),
      el("td", {}, f ? `${T[f.evidence.action]} @ ${sec(f.t)}` : ""));
    table.append(tr);
  }
  s.append(table);
  return s;
}

function trend(data, agent) {
  const s = el("section", { id: "trend", class: "trend" });
  s.append(el("h2", {}, `${T.trend}: ${agent}`));
  const pts = data.calls.filter((c) => c.score != null);
  const svg = sv("svg", { viewBox: "0 0 600 90" });
  const x = (i) => 20 + (pts.length > 1 ? (i / (pts.length - 1)) * 560 : 280);
  const y = (v) => 80 - (v / 100) * 70;
  svg.append(sv("polyline", { points: pts.map((c, i) => `${x(i)},${y(c.score)}`).join(" ") }));
  pts.forEach((c, i) => {
    const dot = sv("circle", { cx: x(i), cy: y(c.score), r: 4, class: `dot${c.call_id === callId ? " this" : ""}`, "data-call": c.call_id });
    dot.append(sv("title", {}, `${c.started_utc} ${c.call_id}: ${c.score}`));
    svg.append(dot);
  });
  s.append(svg);
  return s;
}

async function get(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  const body = await r.json().catch(() => ({}));
  return [r.status, body];
}

async function main() {
  document.title = T.title;
  document.getElementById("title").textContent = `${T.title} · ${callId}`;
  document.getElementById("back").textContent = `← ${T.back}`;
  statusEl.dataset.state = "loading";
  const [status, data] = await get(`/api/review/${encodeURIComponent(callId)}`);
  if (status !== 200) {
    statusEl.dataset.state = "error";
    statusEl.textContent = String(status);
    root.replaceChildren(el("p", { class: "error", "data-status": status }, status === 401 ? `${T.auth} (${data.message || ""})` : status === 404 ? T.notFound : data.message || String(status)));
    return;
  }
  const parts = [timeline(data), scorecard(data.scorecard), words(data), events(data)];
  root.replaceChildren(...parts);
  statusEl.dataset.state = "ready";
  statusEl.textContent = `${data.call.agent || ""} · ${data.call.started_utc || ""}`;
  if (data.call.agent) {
    const [ts, td] = await get(`/api/trend/${encodeURIComponent(data.call.agent)}`);
    if (ts === 200) root.insertBefore(trend(td, data.call.agent), parts[2]);
  }
}
main();
