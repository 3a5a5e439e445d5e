// One call as the page knows it, built only from events (pure: no DOM, no clock).
export const RECENT = 15; // seconds of call time an alert stays up after it ends

export function newCall(id) {
  return {
    id, agent: "", language: "", active: true, endedAt: null, endReason: "",
    lastT: 0, lastWall: 0, // call time of the newest event and when it arrived
    transcription: null, lines: [], partial: {},
    talk: { customer: [], agent: [] },
    anger: null, angerScores: [],
    pace: null, drift: null,
    interruptions: [], phrases: [],
    suggestions: new Map(),
  };
}

export function apply(c, ev, wallNow = 0) {
  const e = ev.evidence || {};
  c.lastT = Math.max(c.lastT, ev.t);
  c.lastWall = wallNow;
  switch (ev.type) {
    case "call.started":
      c.agent = e.agent || c.agent; c.language = e.language || ""; c.active = true; break;
    case "call.ended":
      c.active = false; c.endedAt = ev.t; c.endReason = e.reason || "";
      if (typeof e.duration === "number") c.lastT = Math.max(c.lastT, e.duration);
      for (const p of ["customer", "agent"]) { const s = c.talk[p].at(-1); if (s && s.end === null) s.end = ev.t; }
      break;
    case "talk.start": {
      const lane = c.talk[ev.party];
      if (lane) lane.push({ start: e.onset ?? ev.t, end: null });
      break;
    }
    case "talk.end": {
      const s = c.talk[ev.party]?.at(-1);
      if (s && s.end === null) s.end = ev.t;
      break;
    }
    case "transcription": c.transcription = { enabled: !!e.enabled, code: e.code || "", reason: e.reason || "" }; break;
    case "transcript.partial":
      c.partial[ev.party] = { party: ev.party, text: e.text || "", start: e.start ?? ev.t, seq: ev.seq };
      break;
    case "transcript.final":
      delete c.partial[ev.party];
      if (e.text) c.lines.push({ party: ev.party, text: e.text, start: e.start ?? ev.t, seq: ev.seq });
      if (c.lines.length > 200) c.lines.splice(0, c.lines.length - 200);
      break;
    case "metrics":
      if (ev.party === "customer" && typeof e.anger === "number") pushScore(c, ev.t, e.anger);
      break;
    case "anger":
      c.anger = { level: e.level, score: e.score, previous: e.previous, t: ev.t, seq: ev.seq };
      if (typeof e.score === "number") pushScore(c, ev.t, e.score);
      break;
    case "pace":
      c.pace = { cpm: e.cpm, target: e.target ?? 120, band: bandOf(e.band, e.target ?? 120), t: ev.t };
      if (c.drift && c.pace.cpm >= c.pace.band[0] && c.pace.cpm <= c.pace.band[1]) c.drift.over = ev.t;
      break;
    case "pace.drift":
      c.drift = { cpm: e.cpm, target: e.target ?? 120, direction: e.direction, kind: e.kind, t: ev.t, over: null, seq: ev.seq };
      break;
    case "interruption":
      c.interruptions.push({ onset: e.onset ?? ev.t, overlap: e.overlap ?? 0, t: ev.t, end: null, seq: ev.seq });
      break;
    case "interruption.end": {
      const i = [...c.interruptions].reverse().find((x) => x.end === null && (e.onset === undefined || x.onset === e.onset));
      if (i) { i.end = ev.t; i.overlap = e.overlap ?? i.overlap; }
      break;
    }
    case "phrase":
      c.phrases.push({ rule: e.rule, text: e.matched ?? e.text ?? "", instead: e.instead, t: ev.t, seq: ev.seq });
      break;
    case "suggestion":
      // Higher priority is more urgent; a card leaves the screen at `expires` (call time)
      // or when a more urgent one `replaces` it, as the coach decided.
      for (const id of e.replaces || []) {
        const old = c.suggestions.get(id);
        if (old && old.state === "open") old.state = "replaced";
      }
      c.suggestions.set(e.id, { id: e.id, priority: e.priority ?? 0, text: e.text,
        reason: reasonText(e.reason), reasonType: e.reason?.type || "", expires: e.expires ?? null, t: ev.t, state: "open", seq: ev.seq });
      break;
    case "feedback": {
      const s = c.suggestions.get(e.suggestion);
      if (s) s.state = e.action;
      break;
    }
    default: break; // unknown types are ignored by design
  }
  return c;
}

function pushScore(c, t, score) {
  c.angerScores.push({ t, score });
  if (c.angerScores.length > 50) c.angerScores.shift();
}

// Band as [low, high] chars/min from the forms the loop may send.
export function bandOf(band, target) {
  if (Array.isArray(band) && band.length === 2) return band;
  if (typeof band === "number") return band < 1 ? [target * (1 - band), target * (1 + band)] : [target - band, target + band];
  return [target * 0.75, target * 1.25];
}

export function trend(c) {
  const s = c.angerScores.slice(-4);
  if (s.length < 2) return "steady";
  const d = s.at(-1).score - s[0].score;
  return d > 0.08 ? "rising" : d < -0.08 ? "easing" : "steady";
}

// Alerts that should be up at call time `now`, most serious first.
export function alerts(c, now) {
  const out = [];
  for (const i of c.interruptions) {
    if (i.end === null && c.active) out.push({ kind: "interruption", live: true, rank: 0, t: i.t, seq: i.seq, overlap: Math.max(i.overlap, now - i.onset) });
    else if (i.end !== null && now - i.end < RECENT) out.push({ kind: "interruption", live: false, rank: 1, t: i.t, seq: i.seq, overlap: i.overlap });
  }
  if (c.anger && c.anger.level === "angry") out.push({ kind: "anger", rank: 0, t: c.anger.t, seq: c.anger.seq, level: c.anger.level });
  if (c.drift && (c.drift.over === null || now - c.drift.over < 3)) out.push({ ...c.drift, driftKind: c.drift.kind, kind: "drift", rank: 2 });
  for (const p of c.phrases) if (now - p.t < RECENT) out.push({ ...p, kind: "phrase", rank: 1 });
  out.sort((a, b) => a.rank - b.rank || b.t - a.t);
  return out.slice(0, 4);
}

// How much a supervisor should look at this call now: higher first.
export function urgency(c, now) {
  let u = 0;
  if (c.anger?.level === "angry") u += 100; else if (c.anger?.level === "tense") u += 40;
  for (const i of c.interruptions) u += (i.end === null || now - i.end < 60) ? 30 : 5;
  if (c.drift && c.drift.over === null) u += 20;
  for (const p of c.phrases) u += now - p.t < 60 ? 25 : 5;
  return u;
}

export function openSuggestions(c) {
  return [...c.suggestions.values()]
    .filter((s) => s.state === "open" && (s.expires === null || c.lastT <= s.expires))
    .sort((a, b) => b.priority - a.priority || b.t - a.t).slice(0, 3);
}

// The coach sends {type, t, seq, summary}; older forms send plain text.
function reasonText(reason) {
  if (!reason) return "";
  if (typeof reason === "string") return reason;
  return reason.summary || reason.type || "";
}
