// The supervisor's floor: every live call, most urgent first.
import { urgency } from "./model.js";
import { clock, t } from "./i18n.js";

function cell(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text != null) el.textContent = text;
  return el;
}

function now(c) {
  return c.active ? c.lastT + Math.max(0, (performance.now() - c.lastWall) / 1000) : c.lastT;
}

const LEVELS = ["calm", "tense", "angry"];

// A row's flags.  A live call shows its state now (and how bad it got, if worse);
// an ended call shows the worst it reached and every kind of flag it raised.
export function chips(c, at) {
  const out = [];
  // Audio faults first: without audio the other flags cannot be trusted.
  for (const [party, problem] of Object.entries(c.audio || {})) {
    out.push([`audio ${problem}`, t(`audio_${problem}`, { party: party === "both" ? "" : t(party) })]);
  }
  const now = c.anger?.level || "calm";
  if (!c.active) {
    if (c.worst !== "calm") out.push([`anger ${c.worst}`, t(c.worst)]);
  } else {
    if (now !== "calm") out.push([`anger ${now}`, t(now)]);
    if (LEVELS.indexOf(c.worst) > LEVELS.indexOf(now)) out.push(["peak", t("flagPeak", { level: t(c.worst) })]);
  }
  const live = c.active ? c.interruptions.filter((i) => i.end === null).length : 0;
  if (c.interruptions.length) out.push([`interruption${live ? " live" : ""}`, t("flagInterrupt", { n: c.interruptions.length })]);
  const driftNow = c.active && c.drift && c.drift.over === null ? c.drift.direction : null;
  for (const dir of c.drifts) {
    out.push([`drift${dir === driftNow ? " live" : ""}`, t("flagDrift", { dir: t(dir === "slow" ? "slow" : "fast") })]);
  }
  if (c.phrases.length) out.push(["phrase", t("flagPhrase", { n: c.phrases.length })]);
  const n = c.active ? [...c.suggestions.values()].filter((s) => s.state === "open").length : c.suggestions.size;
  if (n) out.push(["sugg", t("flagSugg", { n })]);
  return out;
}

// The stored call's review page: a link of its own so a click on it is not a row click.
export function reviewLink(id) {
  const a = cell("a", "review", `${t("review")} ▸`);
  a.href = `/review.html?call=${encodeURIComponent(id)}`;
  a.dataset.review = id;
  a.addEventListener("click", (e) => e.stopPropagation());
  a.addEventListener("keydown", (e) => e.stopPropagation());
  return a;
}

export function renderFloor(root, calls, onOpen) {
  const live = [...calls.values()].filter((c) => c.active)
    .map((c) => ({ c, at: now(c) }))
    .map((x) => ({ ...x, u: urgency(x.c, x.at) }))
    .sort((a, b) => b.u - a.u || b.at - a.at);
  const head = cell("h2", "floor-count", t("floorCount", { n: live.length }));
  // Calls that just ended stay below for a look back; the newest first.
  const ended = [...calls.values()].filter((c) => !c.active)
    .sort((a, b) => b.lastWall - a.lastWall).slice(0, RECENT)
    .map((c) => ({ c, at: c.lastT, u: urgency(c, c.lastT) }));
  const parts = [head, live.length ? table(live, onOpen) : cell("p", "quiet", t("noCalls"))];
  if (ended.length) {
    parts.push(cell("h3", "floor-recent", t("recentCount", { n: ended.length })),
      table(ended, onOpen, "ended"));
  }
  root.replaceChildren(...parts);
}

const RECENT = 10;

const COLUMNS = [["agent", "colAgent"], ["callid", "colCall"], ["dur", "colDur"], ["flags", "colFlags"], ["open", null], ["review", null]];

function table(rows, onOpen, extra = "") {
  const table = cell("table", `floor ${extra}`.trim());
  const cols = cell("colgroup");
  for (const [cls] of COLUMNS) cols.append(cell("col", cls));
  const hr = cell("tr");
  for (const [cls, k] of COLUMNS) hr.append(cell("th", cls, k ? t(k) : ""));
  table.append(cols, cell("thead"), cell("tbody"));
  table.tHead.append(hr);
  for (const { c, at, u } of rows) {
    const tr = cell("tr", u >= 100 ? "hot" : u >= 30 ? "warm" : "");
    tr.dataset.call = c.id;
    tr.dataset.urgency = String(u);
    tr.tabIndex = 0;
    tr.title = t("openCallTitle", { id: c.id });
    tr.setAttribute("role", "link");
    tr.addEventListener("click", () => onOpen(c.id));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onOpen(c.id); });
    const flags = cell("td", "flags");
    for (const [cls, text] of chips(c, at)) flags.append(cell("span", `chip ${cls}`, text));
    tr.append(cell("td", "agent", c.agent || "?"), cell("td", "callid", c.id),
      cell("td", "dur", clock(at)), flags, cell("td", "open", t("openCall")));
    const review = cell("td", "review");
    review.append(reviewLink(c.id));
    tr.append(review);
    table.tBodies[0].append(tr);
  }
  return table;
}
