// Basic live page: call, talk timeline and flags as they arrive.
import { Link } from "./conn.js";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("assist.token") || "";
if (params.get("token")) {
  sessionStorage.setItem("assist.token", token);
  history.replaceState(null, "", location.pathname); // keep the token out of the address bar
}
const calls = new Map();
const root = document.getElementById("root");

function call(id) {
  if (!calls.has(id)) calls.set(id, { id, agent: "", talk: { customer: [], agent: [] }, flags: [], t: 0, ended: false });
  return calls.get(id);
}

function apply(ev) {
  const c = call(ev.call_id);
  c.t = Math.max(c.t, ev.t);
  const e = ev.evidence || {};
  if (ev.type === "call.started") c.agent = e.agent || "";
  else if (ev.type === "call.ended") c.ended = true;
  else if (ev.type === "talk.start") c.talk[ev.party].push({ start: ev.t, end: null });
  else if (ev.type === "talk.end") { const s = c.talk[ev.party].at(-1); if (s) s.end = ev.t; }
  else if (["interruption", "pace.drift", "anger", "phrase", "suggestion"].includes(ev.type)) {
    c.flags.unshift(`${ev.t.toFixed(1)}s ${ev.type} ${JSON.stringify(e)}`);
  }
  render();
}

function render() {
  root.innerHTML = "";
  for (const c of calls.values()) {
    const sec = document.createElement("section");
    sec.dataset.call = c.id;
    const h = document.createElement("h3");
    h.textContent = `${c.id} · ${c.agent} · ${c.t.toFixed(0)}s${c.ended ? " (ended)" : ""}`;
    sec.append(h);
    const span = Math.max(c.t, 1);
    for (const party of ["customer", "agent"]) {
      const lane = document.createElement("div");
      lane.className = `lane ${party}`;
      for (const s of c.talk[party]) {
        const d = document.createElement("div");
        d.className = "spurt";
        d.style.left = `${(100 * s.start) / span}%`;
        d.style.width = `${(100 * ((s.end ?? c.t) - s.start)) / span}%`;
        lane.append(d);
      }
      sec.append(lane);
    }
    for (const f of c.flags.slice(0, 20)) {
      const d = document.createElement("div");
      d.className = "flag";
      d.textContent = f;
      sec.append(d);
    }
    root.append(sec);
  }
}

const status = document.getElementById("status");
new Link({
  token,
  onEvent: apply,
  onStatus: (s) => { status.textContent = s; status.className = `status ${s}`; },
  onWelcome: (w) => { document.getElementById("who").textContent = `${w.role} ${w.agent || ""}`; },
}).start();
