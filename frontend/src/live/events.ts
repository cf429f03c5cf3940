// Live events over `/ws/events/` (design.md §4): subscribe to topics, track each topic's `seq`;
// a gap, a reset or a reconnect calls the topic's `resync` (re-read the state over REST), since
// events sent while the socket was down are not replayed.

export interface LiveEvent {
  topic: string;
  seq: number;
  type: string;
  at: string;
  data: Record<string, any>;
}

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: any) => void) | null;
}

export interface TopicHandler {
  onEvent: (ev: LiveEvent) => void;
  resync: () => void;
}

export type SeqVerdict = "first" | "next" | "gap" | "old";

/** Per-topic seq bookkeeping: `gap` when events were missed, `old` for a repeat (ignored). */
export class SeqTracker {
  private last = new Map<string, number>();
  check(topic: string, seq: number): SeqVerdict {
    const last = this.last.get(topic);
    if (last !== undefined && seq <= last) return "old";
    this.last.set(topic, seq);
    if (last === undefined) return "first";
    return seq === last + 1 ? "next" : "gap";
  }
  reset(): void {
    this.last.clear();
  }
}

const OPEN = 1;

export class LiveEvents {
  private handlers = new Map<string, TopicHandler>();
  private seq = new SeqTracker();
  private socket: SocketLike | null = null;
  private backoff = 500;
  private stopped = false;
  onState: (state: "live" | "reconnecting" | "closed") => void = () => {};

  constructor(
    private url: string,
    private factory: (url: string) => SocketLike = (u) => new WebSocket(u) as unknown as SocketLike,
    private later: (fn: () => void, ms: number) => unknown = (fn, ms) => setTimeout(fn, ms),
  ) {}

  static forPage(): LiveEvents {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return new LiveEvents(`${proto}//${location.host}/ws/events/`);
  }

  subscribe(topic: string, handler: TopicHandler): void {
    this.handlers.set(topic, handler);
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify({ subscribe: topic }));
  }

  connect(): void {
    this.stopped = false;
    const ws = this.factory(this.url);
    this.socket = ws;
    ws.onopen = () => {
      this.backoff = 500;
      this.seq.reset(); // a new connection: whatever was missed is re-read below
      this.onState("live");
      for (const topic of this.handlers.keys()) ws.send(JSON.stringify({ subscribe: topic }));
      for (const h of this.handlers.values()) h.resync();
    };
    ws.onmessage = (msg) => this.receive(typeof msg.data === "string" ? msg.data : String(msg.data));
    ws.onclose = () => {
      if (this.stopped) return this.onState("closed");
      this.onState("reconnecting");
      this.later(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10_000);
    };
  }

  close(): void {
    this.stopped = true;
    this.socket?.close();
  }

  receive(raw: string): void {
    let ev: LiveEvent;
    try {
      ev = JSON.parse(raw);
    } catch {
      return;
    }
    const h = this.handlers.get(ev.topic);
    if (!h || typeof ev.seq !== "number") return; // subscribed / error acknowledgements
    const verdict = this.seq.check(ev.topic, ev.seq);
    if (verdict === "old") return;
    if (verdict === "gap") h.resync();
    h.onEvent(ev);
  }
}
