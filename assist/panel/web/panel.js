// The agent panel for one call: what the agent (or a supervisor looking over
// their shoulder) sees.  Sections are re-rendered from the call model.
import { alerts, openSuggestions, paceNow, score, trend } from "./model.js";
import { clock, t } from "./i18n.js";

const WINDOW = 60; // seconds of call shown on the timeline

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style") { // CSSOM, not the attribute: the page's CSP forbids inline styles
      for (const decl of v.split(";")) {
        const at = decl.indexOf(":");
        if (at > 0) el.style.setProperty(decl.slice(0, at).trim(), decl.slice(at + 1).trim());
      }
    }
    else el.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) el.append(kid);
  return el;
}

// The coach's own summary is English; a known trigger reads better in the panel's language.
function whyText(s) {
  const key = `why_${s.reasonType}`;
  return s.reasonType && t(key) !== key ? t(key) : (s.reason || "");
}

export class Panel {
  constructor(root, { readonly = false, onFeedback = () => {} } = {}) {
    this.root = root;
    this.waitingFor = ""; // the agent id whose calls this panel shows
    this.readonly = readonly;
    this.onFeedback = onFeedback;
    this.call = null;
    this.suggKey = "";
  }

  show(call, lastCall = null) {
    this.call = call;
    this.suggKey = "";
    this.root.replaceChildren();
    if (!call) {
      const quiet = h("section", { class: "quiet", "data-test": "quiet" },
        h("div", { class: "quiet-mark", text: "☎" }),
        h("h2", { text: t("waiting") }),
        this.waitingFor ? h("p", { "data-test": "waiting-for", text: t("waitingFor", { id: this.waitingFor }) }) : null,
        h("p", { text: t("waitingHint") }));
      if (lastCall) quiet.append(h("p", { class: "muted", text: t("lastCall", { id: lastCall.id, dur: clock(lastCall.lastT) }) }));
      this.root.append(quiet);
      return;
    }
    this.el = {
      head: h("section", { class: "head" }),
      alerts: h("section", { class: "alerts", "aria-live": "assertive", "data-test": "alerts" }),
      sugg: h("section", { class: "suggestions", "data-test": "suggestions" }),
      gauges: h("section", { class: "gauges" }),
      timeline: h("section", { class: "timeline", "data-test": "timeline" }),
      transcript: h("section", { class: "transcript", "data-test": "transcript" }),
    };
    this.root.append(...Object.values(this.el));
    this.render();
  }

  now() {
    const c = this.call;
    if (!c.active) return c.lastT;
    return c.lastT + Math.max(0, (performance.now() - c.lastWall) / 1000);
  }

  render() {
    if (!this.call) return;
    const now = this.now();
    this.renderHead(now);
    this.renderAlerts(now);
    this.renderSuggestions(now);
    this.renderGauges();
    this.renderTimeline(now);
    this.renderTranscript();
  }

  tick() {
    if (!this.call) return;
    const now = this.now();
    this.renderHead(now);
    this.renderAlerts(now);
    this.renderSuggestions(now); // cards leave on call time, between events too
    this.renderTimeline(now);
  }

  renderHead(now) {
    const c = this.call;
    this.el.head.replaceChildren(
      h("div", { class: "who" },
        h("span", { class: `dot ${c.active ? "on" : "off"}` }),
        h("span", { class: "callid", text: c.id }),
        this.readonly ? h("span", { class: "muted", text: ` · ${t("agentRole", { id: c.agent })}` }) : null),
      h("div", { class: "timer", "data-test": "timer", text: c.active ? clock(now) : t("ended") }));
  }

  renderAlerts(now) {
    const shown = alerts(this.call, now);
    const items = shown.map((a) => {
      let title, hint;
      if (a.kind === "interruption") {
        const s = a.overlap.toFixed(1);
        title = a.live ? t("interrupting", { s }) : t("interrupted", { s });
        hint = t("interruptHint");
      } else if (a.kind === "anger") {
        title = t("angerAlert", { level: t(a.level) }); hint = t("angerHint");
      } else if (a.kind === "drift") {
        const cpm = Math.round(a.cpm); // the pace now, as the meter shows it
        title = t(a.direction === "slow" ? "drift_slow" : "drift_fast", { cpm });
        hint = t(a.direction === "slow" ? "driftHintSlow" : "driftHint", { target: a.target });
      } else {
        title = t("phrase", { text: a.text }); hint = t("phraseHint", { instead: a.instead });
      }
      const ending = a.kind === "interruption" ? !a.live : a.kind === "drift" && a.over !== null;
      return h("div", { class: `alert ${a.kind}${a.live ? " live" : ""}${ending ? " ending" : ""}`, "data-kind": a.kind, "data-seq": a.seq },
        h("div", { class: "alert-title", text: title }), h("div", { class: "alert-hint", text: hint }));
    });
    if (shown.more > 0) items.push(h("div", { class: "more", "data-test": "more-alerts", text: t("moreAlerts", { n: shown.more }) }));
    this.el.alerts.replaceChildren(...items);
  }

  renderSuggestions(now = this.now()) {
    const open = openSuggestions(this.call, now);
    const key = open.map((s) => s.id).join("|");
    if (key === this.suggKey) return; // keep the buttons under the agent's pointer
    this.suggKey = key;
    const cards = open.map((s) => {
      const buttons = this.readonly ? null : h("div", { class: "buttons" },
        h("button", { class: "use", text: t("used"), onclick: () => this.feedback(s, "used") }),
        h("button", { class: "dismiss", text: t("dismiss"), onclick: () => this.feedback(s, "dismissed") }));
      const urgency = s.priority >= 80 ? 1 : s.priority >= 50 ? 2 : 3;
      return h("div", { class: `card p${urgency}`, "data-id": s.id, "data-seq": s.seq },
        h("div", { class: "card-label", text: t("suggestions") }),
        h("div", { class: "say", text: s.text }),
        h("div", { class: "why", title: s.reason || "", text: t("why") + whyText(s) }),
        buttons);
    });
    this.el.sugg.replaceChildren(...cards);
  }

  feedback(s, action) {
    s.state = action; // the card goes at once; the server's feedback event agrees later
    this.onFeedback(this.call.id, s.id, action);
    this.renderSuggestions(this.now());
  }

  renderGauges() {
    const c = this.call;
    const level = c.anger?.level || "calm";
    const value = Math.max(0, Math.min(1, score(c)));
    const tr = trend(c);
    // A rising score is news only once it has moved the level; while calm it stays quiet.
    const alarm = tr === "rising" && level !== "calm";
    const spark = sparkline(c.angerScores);
    const mood = h("div", { class: `gauge mood ${level}`, "data-test": "mood", "data-level": level },
      h("div", { class: "gauge-label", text: t("mood") }),
      h("div", { class: "levels" }, ...["calm", "tense", "angry"].map((l) =>
        h("span", { class: `lvl ${l}${l === level ? " on" : ""}`, text: t(l) }))),
      h("div", { class: "bar" }, h("div", { class: "fill", style: `width:${(value * 100).toFixed(0)}%` })),
      h("div", { class: `trend${alarm ? " alarm" : ""}`, "data-trend": tr, text: t(tr) }), spark);
    const p = c.pace;
    let pace;
    if (!p) {
      pace = h("div", { class: "gauge pace", "data-test": "pace" },
        h("div", { class: "gauge-label", text: t("pace") }), h("div", { class: "big muted", text: "—" }));
    } else {
      const max = p.target * 2;
      const pos = (v) => `${Math.max(0, Math.min(100, (100 * v) / max)).toFixed(1)}%`;
      const now = paceNow(c);
      const cpm = Math.round(now);
      const state = now > p.band[1] ? "fast" : now < p.band[0] ? "slow" : "ok";
      pace = h("div", { class: `gauge pace ${state}`, "data-test": "pace", "data-cpm": cpm },
        h("div", { class: "gauge-label", text: t("pace") }),
        h("div", { class: "big" }, h("b", { text: String(cpm) }), ` ${t("cpm")} · ${t(state)}`),
        h("div", { class: "scale" },
          h("div", { class: "band", style: `left:${pos(p.band[0])};width:calc(${pos(p.band[1])} - ${pos(p.band[0])})` }),
          h("div", { class: "tick", style: `left:${pos(p.target)}` }),
          h("div", { class: "needle", style: `left:${pos(now)}` })),
        h("div", { class: "muted small", text: t("target", { n: p.target }) }));
    }
    this.el.gauges.replaceChildren(mood, pace);
  }

  renderTimeline(now) {
    const c = this.call;
    const end = Math.max(now, WINDOW);
    const from = end - WINDOW;
    const x = (v) => `${((100 * (Math.max(v, from) - from)) / WINDOW).toFixed(2)}%`;
    const w = (a, b) => `${((100 * (Math.max(b, from) - Math.max(a, from))) / WINDOW).toFixed(2)}%`;
    const lanes = ["customer", "agent"].map((party) => {
      const lane = h("div", { class: `lane ${party}`, "data-party": party });
      for (const s of c.talk[party]) {
        const e = s.end ?? now;
        if (e < from) continue;
        lane.append(h("div", { class: "spurt", style: `left:${x(s.start)};width:${w(s.start, e)}` }));
      }
      if (party === "agent") {
        for (const i of c.interruptions) {
          const e = i.end ?? now;
          if (e < from) continue;
          lane.append(h("div", { class: "over", style: `left:${x(i.onset)};width:${w(i.onset, e)}` }));
        }
      }
      return h("div", { class: "lane-row" }, h("span", { class: "lane-name", text: t(party) }), lane);
    });
    this.el.timeline.replaceChildren(h("div", { class: "section-label", text: t("timeline") }), ...lanes);
  }

  renderTranscript() {
    const c = this.call;
    const box = this.el.transcript;
    const label = h("div", { class: "section-label", text: t("transcript") });
    if (c.transcription && !c.transcription.enabled) {
      // Agents get a short reason in their language; the admin's full one is the tooltip.
      const { code, reason } = c.transcription;
      const short = code && t(`off_${code}`) !== `off_${code}` ? t(`off_${code}`) : reason;
      box.replaceChildren(label, h("div", { class: "off", "data-test": "transcript-off",
        title: reason, text: t("transcriptOff", { reason: short || t("noReason") }) }));
      return;
    }
    const rows = [...c.lines.slice(-30), ...Object.values(c.partial)]
      .map((l) => h("div", { class: `line ${l.party}${l === c.partial[l.party] ? " partial" : ""}`,
        "data-party": l.party, "data-seq": l.seq },
      h("span", { class: "who", text: t(l.party) }), h("span", { class: "text", text: l.text })));
    const list = h("div", { class: "lines" }, ...rows);
    box.replaceChildren(label, list);
    list.scrollTop = list.scrollHeight;
  }
}

function sparkline(points) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 100 20");
  svg.setAttribute("class", "spark");
  svg.setAttribute("preserveAspectRatio", "none");
  if (points.length > 1) {
    const line = document.createElementNS(ns, "polyline");
    const n = points.length - 1;
    line.setAttribute("points", points.map((p, i) =>
      `${((100 * i) / n).toFixed(1)},${(20 - 20 * Math.max(0, Math.min(1, p.score))).toFixed(1)}`).join(" "));
    svg.append(line);
  }
  return svg;
}
