// Nodus live events: one websocket to /ws/events/, topic subscriptions, per-topic seq tracking.
// A gap in seq or a reconnect calls the topic's `resync` (re-read state over REST).
(function () {
  "use strict";
  class Live {
    constructor() { this.handlers = new Map(); this.seq = new Map(); this.ws = null; this.backoff = 500; this.onstate = () => {}; }
    connect() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      this.ws = new WebSocket(`${proto}//${location.host}/ws/events/`);
      this.ws.onopen = () => {
        this.backoff = 500; this.onstate("live");
        for (const topic of this.handlers.keys()) this.ws.send(JSON.stringify({ subscribe: topic }));
        for (const h of this.handlers.values()) if (h.resync) h.resync();
      };
      this.ws.onmessage = (msg) => {
        const ev = JSON.parse(msg.data);
        const h = this.handlers.get(ev.topic);
        if (!h || typeof ev.seq !== "number") return;
        const last = this.seq.get(ev.topic);
        if (last !== undefined && ev.seq > last + 1 && h.resync) h.resync();
        this.seq.set(ev.topic, ev.seq);
        h.onevent(ev);
      };
      this.ws.onclose = () => {
        this.onstate("reconnecting…");
        setTimeout(() => this.connect(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 10000);
      };
    }
    subscribe(topic, onevent, resync) {
      this.handlers.set(topic, { onevent, resync });
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ subscribe: topic }));
    }
  }
  window.NodusLive = Live;
})();
