// One call as the page knows it, built only from events (pure: no DOM, no clock).
// How long (call-time seconds) a flag stays on screen once its behaviour has ended:
// long enough to read, short enough that the panel shows what is happening now.
export const GRACE = 4; // an interruption's alert and its cards, after it ended
export const RECENT = 10; // a taboo phrase's alert, after it was said
export const MAX_ALERTS = 2; // more than this and the most urgent one is pushed down
export const MAX_CARDS = 2;
const LEVELS = ["calm", "tense", "angry"];

export function newCall(id) {
  return {
    id, agent: "", language: "", active: true, endedAt: null, endReason: "",
    lastT: 0, lastWall: 0, // call time of the newest event and when it arrived
    transcription: null, lines: [], partial: {},
    talk: { customer: [], agent: [] },
    anger: null, angerScores: [], worst: "calm",
    pace: null, drift: null, drifts: new Set(),
    interruptions: [], phrases: [],
    suggestions: new Map(),
    audio: {}, // stream (customer, agent, or "both") -> its audio fault, from audio.health
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
      outdate(c, "anger");
      if (LEVELS.indexOf(e.level) > LEVELS.indexOf(c.worst)) c.worst = e.level;
      if (typeof e.score === "number") pushScore(c, ev.t, e.score);
      break;
    case "pace":
      c.pace = { cpm: e.cpm, target: e.target ?? 120, band: bandOf(e.band, e.target ?? 120), t: ev.t };
      if (c.drift && c.pace.cpm >= c.pace.band[0] && c.pace.cpm <= c.pace.band[1]) c.drift.over = ev.t;
      break;
    case "pace.drift":
      outdate(c, "pace.drift");
      c.drift = { cpm: e.cpm, target: e.target ?? 120, direction: e.direction, kind: e.kind, t: ev.t, over: null, seq: ev.seq };
      c.drifts.add(e.direction === "slow" ? "slow" : "fast");
      break;
    case "interruption":
      c.interruptions.push({ onset: e.onset ?? ev.t, overlap: e.overlap ?? 0, t: ev.t, end: null, seq: ev.seq });
      break;
    case "interruption.end": {
      const i = [...c.interruptions].reverse().find((x) => x.end === null && (e.onset === undefined || x.onset === e.onset));
      if (i) {
        i.end = ev.t; i.overlap = e.overlap ?? i.overlap;
        // A card raised to stop this interruption has done its job once it is over.
        for (const s of c.suggestions.values()) {
          if (s.reasonType === "interruption" && s.reasonSeq === i.seq) s.until = ev.t + GRACE;
        }
      }
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
        reason: reasonText(e.reason), reasonType: e.reason?.type || "", reasonSeq: e.reason?.seq ?? null,
        expires: e.expires ?? null, until: null, t: ev.t, state: "open", seq: ev.seq });
      break;
    case "feedback": {
      const s = c.suggestions.get(e.suggestion);
      if (s) s.state = e.action;
      break;
    }
    case "audio.health": {
      // A fault stays on the row until the stream recovers (or the call ends fine).
      const key = ev.party || "both";
      if (e.problem === "recovered" || e.problem === "ok") delete c.audio[key];
      else c.audio[key] = e.problem;
      break;
    }
    default: break; // unknown types are ignored by design
  }
  return c;
}

// A new state of a flag outdates the cards its old state raised (the coach drops them
// too), even when the new state raises no card of its own.
function outdate(c, type) {
  for (const s of c.suggestions.values()) {
    if (s.reasonType === type && s.state === "open") s.state = "replaced";
  }
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

// The customer's latest anger score, from the same points the trend and sparkline use.
export function score(c) {
  return c.angerScores.at(-1)?.score ?? c.anger?.score ?? 0;
}

// The agent's pace now: a drift alert quotes this, not the figure it was raised with.
export function paceNow(c) {
  return c.pace && c.pace.t >= (c.drift?.t ?? -1) ? c.pace.cpm : c.drift?.cpm ?? null;
}

// Alerts that should be up at call time `now`, most urgent first.  Each leaves when its
// behaviour ends (after a short grace); `more` counts the ones below the visible limit.
export function alerts(c, now, limit = MAX_ALERTS) {
  const out = [];
  for (const i of c.interruptions) {
    if (i.end === null && c.active) out.push({ kind: "interruption", live: true, rank: 0, t: i.t, seq: i.seq, overlap: Math.max(i.overlap, now - i.onset) });
    else if (i.end !== null && now - i.end < GRACE) out.push({ kind: "interruption", live: false, rank: 3, t: i.t, seq: i.seq, overlap: i.overlap });
  }
  if (c.anger && c.anger.level === "angry") out.push({ kind: "anger", rank: 0, t: c.anger.t, seq: c.anger.seq, level: c.anger.level });
  if (c.drift && (c.drift.over === null || now - c.drift.over < GRACE)) {
    out.push({ ...c.drift, cpm: paceNow(c), driftKind: c.drift.kind, kind: "drift", rank: c.drift.over === null ? 2 : 3 });
  }
  for (const p of c.phrases) if (now - p.t < RECENT) out.push({ ...p, kind: "phrase", rank: 1 });
  out.sort((a, b) => a.rank - b.rank || b.t - a.t);
  const shown = out.slice(0, limit);
  shown.more = out.length - shown.length;
  return shown;
}

// How much a supervisor should look at this call now: higher first.
export function urgency(c, now) {
  let u = 0;
  if (c.anger?.level === "angry") u += 100; else if (c.anger?.level === "tense") u += 40;
  for (const i of c.interruptions) u += (i.end === null || now - i.end < 60) ? 30 : 5;
  if (c.drift && c.drift.over === null) u += 20;
  for (const p of c.phrases) u += now - p.t < 60 ? 25 : 5;
  if (Object.keys(c.audio).length) u += 10; // no analysis can be trusted on it
  return u;
}

// Cards on screen at call time `now` (default: the newest event's), most urgent first.
export function openSuggestions(c, now = c.lastT, limit = MAX_CARDS) {
  return [...c.suggestions.values()]
    .filter((s) => s.state === "open" && (s.expires === null || now <= s.expires) && (s.until === null || now <= s.until))
    .sort((a, b) => b.priority - a.priority || b.t - a.t).slice(0, limit);
}

// The coach sends {type, t, seq, summary}; older forms send plain text.
function reasonText(reason) {
  if (!reason) return "";
  if (typeof reason === "string") return reason;
  return reason.summary || reason.type || "";
}
