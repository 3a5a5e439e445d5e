// Wires the link to the views: an agent gets the panel for their current call,
// a supervisor gets the floor and can open any call to see the agent's panel.
import { Link } from "./conn.js";
import { apply, newCall } from "./model.js";
import { Panel } from "./panel.js";
import { renderFloor } from "./floor.js";
import { getLang, setLang, t } from "./i18n.js";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("assist.token") || "";
if (params.get("token")) {
  sessionStorage.setItem("assist.token", token);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "")); // token off the address bar
}
setLang(params.get("lang") || localStorage.getItem("assist.lang") || "zh");

const root = document.getElementById("root");
const statusEl = document.getElementById("status");
const whoEl = document.getElementById("who");
const langBtn = document.getElementById("lang");
const calls = new Map();
let role = null;
let me = null;
let viewing = null; // supervisor: the call opened
let status = ["connecting", 0, ""];

// A hook for tests and the bench: when each event's effect reached the page.
const probe = (window.__assist = { shown: [], calls, role: () => role });

const panel = new Panel(document.createElement("div"), {
  onFeedback: (callId, id, action) => link.send({ type: "feedback", call_id: callId, suggestion: id, action }),
});

function currentCall() {
  const live = [...calls.values()].filter((c) => c.active && (!me || c.agent === me));
  return live.at(-1) || null;
}

function lastEnded() {
  return [...calls.values()].filter((c) => !c.active).at(-1) || null;
}

// Why the page cannot sign in, in the page's language, and how to get in.
const REFUSALS = { "token expired": "tokenExpired", "bad token signature": "tokenBad",
  "malformed token": "tokenBad", "malformed token payload": "tokenBad", "missing token": "tokenMissing" };

function refusal(reason) {
  const key = REFUSALS[reason];
  return key ? t(key) : reason;
}

function signinHelp() {
  const box = document.createElement("section");
  box.className = "quiet signin";
  box.dataset.test = "signin";
  const h2 = document.createElement("h2");
  h2.textContent = t(status[2] === "" || status[2] === "missing token" ? "noToken" : "signinFailed");
  const how = document.createElement("p");
  how.textContent = t("tokenHow");
  const cmd = document.createElement("code");
  cmd.textContent = `python -m assist token --agent ${t("tokenAgentId")} --url ${location.origin}/`;
  box.append(h2, how, cmd);
  return box;
}

function layout() {
  document.title = role === "supervisor" ? t("floorTitle") : t("title");
  langBtn.textContent = t("lang");
  whoEl.textContent = role === "supervisor" ? t("supervisorRole") : role ? t("agentRole", { id: me }) : t("title");
  renderStatus();
  root.replaceChildren();
  if (role === null && status[0] === "refused") {
    root.append(signinHelp());
    return;
  }
  document.body.className = role === "supervisor" && !viewing ? "wide" : "narrow";
  if (role === "supervisor" && !viewing) {
    renderFloor(root, calls, openCall);
    return;
  }
  if (role === "supervisor") {
    const back = document.createElement("button");
    back.className = "back";
    back.textContent = t("back");
    back.onclick = () => { link.close(viewing); viewing = null; layout(); };
    root.append(back);
  }
  root.append(panel.root);
  panel.readonly = role === "supervisor";
  panel.waitingFor = role === "agent" ? me : "";
  const c = role === "supervisor" ? calls.get(viewing) : currentCall();
  panel.show(c || null, c ? null : lastEnded());
}

function openCall(id) {
  viewing = id;
  link.open(id);
  layout();
}

function onEvent(ev) {
  let c = calls.get(ev.call_id);
  if (!c) calls.set(ev.call_id, (c = newCall(ev.call_id)));
  apply(c, ev, performance.now());
  if (role === "supervisor" && !viewing) renderFloor(root, calls, openCall);
  else {
    const want = role === "supervisor" ? calls.get(viewing) : currentCall();
    if (want !== panel.call) panel.show(want || null, want ? null : lastEnded());
    else if (want === c) panel.render();
  }
  probe.shown.push({ call_id: ev.call_id, seq: ev.seq, type: ev.type, at: performance.timeOrigin + performance.now() });
  if (probe.shown.length > 5000) probe.shown.splice(0, 1000);
}

function renderStatus() {
  const [s, n, reason] = status;
  statusEl.className = `status ${s}`;
  statusEl.dataset.state = s;
  statusEl.textContent = t(s, { n, reason: refusal(reason || "") });
}

const link = new Link({
  token,
  onEvent,
  onStatus: (s, n, reason) => { status = [s, n, reason]; renderStatus(); },
  onWelcome: (w) => {
    const first = role === null;
    role = w.role; me = w.role === "agent" ? w.agent : null;
    if (first) layout();
  },
  onError: (e) => {
    if (e.code === "auth" || e.code === "version") { status = ["refused", 0, e.message]; if (role === null) layout(); }
    renderStatus();
  },
});
link.onOpened = (callId) => {
  // A full stream of this call follows: rebuild it from its first event.
  calls.set(callId, newCall(callId));
  if (viewing === callId) panel.show(calls.get(callId));
};
probe.link = link;

langBtn.onclick = () => {
  setLang(getLang() === "zh" ? "en" : "zh");
  localStorage.setItem("assist.lang", getLang());
  layout();
};

setInterval(() => {
  if (role === "supervisor" && !viewing) renderFloor(root, calls, openCall);
  else panel.tick();
}, 1000);

if (!token) status = ["refused", 0, "missing token"];
layout();
if (token) link.start();
