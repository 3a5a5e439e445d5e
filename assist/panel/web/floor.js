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

export function chips(c, at) {
  const out = [];
  if (c.anger && c.anger.level !== "calm") out.push([`anger ${c.anger.level}`, t(c.anger.level)]);
  const live = c.interruptions.filter((i) => i.end === null).length;
  if (c.interruptions.length) out.push([`interruption${live ? " live" : ""}`, t("flagInterrupt", { n: c.interruptions.length })]);
  if (c.drift && c.drift.over === null) out.push(["drift", t("flagDrift", { dir: t(c.drift.direction === "slow" ? "slow" : "fast") })]);
  if (c.phrases.length) out.push(["phrase", t("flagPhrase", { n: c.phrases.length })]);
  const open = [...c.suggestions.values()].filter((s) => s.state === "open").length;
  if (open) out.push(["sugg", t("flagSugg", { n: open })]);
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

function table(rows, onOpen, extra = "") {
  const table = cell("table", `floor ${extra}`.trim());
  const hr = cell("tr");
  for (const k of ["colAgent", "colCall", "colDur", "colFlags"]) hr.append(cell("th", null, t(k)));
  hr.append(cell("th"));
  table.append(cell("thead"), cell("tbody"));
  table.tHead.append(hr);
  for (const { c, at, u } of rows) {
    const tr = cell("tr", u >= 100 ? "hot" : u >= 30 ? "warm" : "");
    tr.dataset.call = c.id;
    tr.dataset.urgency = String(u);
    tr.tabIndex = 0;
    tr.addEventListener("click", () => onOpen(c.id));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onOpen(c.id); });
    const flags = cell("td", "flags");
    for (const [cls, text] of chips(c, at)) flags.append(cell("span", `chip ${cls}`, text));
    tr.append(cell("td", "agent", c.agent || "?"), cell("td", "callid", c.id),
      cell("td", "dur", clock(at)), flags);
    const review = cell("td", "review");
    review.append(reviewLink(c.id));
    tr.append(review);
    table.tBodies[0].append(tr);
  }
  return table;
}
