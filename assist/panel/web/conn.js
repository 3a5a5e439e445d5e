// The event link: hello with the token, resume from the last seq per call,
// reconnect with backoff.  Knows nothing about rendering.
export const PROTOCOL_VERSION = 1;

export class Link {
  constructor({ token, onEvent, onStatus, onWelcome, onError, wsUrl }) {
    this.token = token;
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.onWelcome = onWelcome || (() => {});
    this.onError = onError || (() => {});
    this.wsUrl = wsUrl || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.lastSeq = new Map(); // call_id -> last seq applied
    this.opened = new Set(); // calls a supervisor has opened
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.refs = 0;
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      msg.ref = ++this.refs;
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  open(callId) {
    this.opened.add(callId);
    return this.send({ type: "subscribe", call_id: callId, after: 0 });
  }

  close(callId) {
    this.opened.delete(callId);
    this.send({ type: "unsubscribe", call_id: callId });
  }

  _connect() {
    this.onStatus(this.attempt === 0 ? "connecting" : "reconnecting", this.attempt);
    const ws = new WebSocket(this.wsUrl);
    this.ws = ws;
    let welcomed = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({
        type: "hello", v: PROTOCOL_VERSION, token: this.token,
        resume: Object.fromEntries(this.lastSeq), open: [...this.opened],
      }));
    };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === "event") {
        const ev = msg.event;
        const last = this.lastSeq.get(ev.call_id) || 0;
        if (ev.seq <= last) return; // already applied: never twice
        this.lastSeq.set(ev.call_id, ev.seq);
        this.onEvent(ev);
      } else if (msg.type === "opened") {
        // Full stream of a call follows from `after`: floor events seen so far are superseded.
        this.lastSeq.set(msg.call_id, msg.after);
        if (this.onOpened) this.onOpened(msg.call_id, msg.after);
      } else if (msg.type === "welcome") {
        welcomed = true;
        this.attempt = 0;
        this.onWelcome(msg);
        this.onStatus("live", 0);
      } else if (msg.type === "error") {
        this.onError(msg);
        if (msg.code === "auth" || msg.code === "version") this.stopped = true;
      }
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) { this.onStatus(welcomed ? "closed" : "refused", 0, e.reason); return; }
      this.attempt += 1;
      // 0.5 s, 1 s, 2 s ... capped at 15 s, with jitter so a floor does not reconnect in step
      const base = Math.min(15000, 500 * 2 ** (this.attempt - 1));
      const delay = base * (0.75 + Math.random() * 0.5);
      this.onStatus("reconnecting", this.attempt, e.reason);
      setTimeout(() => { if (!this.stopped) this._connect(); }, delay);
    };
  }
}
