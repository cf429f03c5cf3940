import { describe, expect, it } from "vitest";
import { LiveEvents, SeqTracker, type SocketLike } from "./events";

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: string[] = [];
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  send(d: string) { this.sent.push(d); }
  close() { this.readyState = 3; this.onclose?.({}); }
  open() { this.readyState = 1; this.onopen?.({}); }
  emit(topic: string, seq: number, type = "job.progress") {
    this.onmessage?.({ data: JSON.stringify({ topic, seq, type, at: "", data: { seq } }) });
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const timers: (() => void)[] = [];
  const live = new LiveEvents("ws://x/ws/events/", () => { const s = new FakeSocket(); sockets.push(s); return s; },
    (fn) => timers.push(fn));
  const seen: number[] = [];
  let resyncs = 0;
  live.subscribe("series.1", { onEvent: (e) => seen.push(e.seq), resync: () => resyncs++ });
  live.connect();
  return { live, sockets, timers, seen, resyncs: () => resyncs };
}

describe("SeqTracker", () => {
  it("tells next, gap and repeats apart per topic", () => {
    const t = new SeqTracker();
    expect(t.check("a", 5)).toBe("first");
    expect(t.check("a", 6)).toBe("next");
    expect(t.check("b", 1)).toBe("first");
    expect(t.check("a", 9)).toBe("gap");
    expect(t.check("a", 9)).toBe("old");
    expect(t.check("a", 3)).toBe("old");
  });
});

describe("LiveEvents", () => {
  it("subscribes on open and resyncs once", () => {
    const { sockets, resyncs } = setup();
    sockets[0].open();
    expect(sockets[0].sent).toEqual([JSON.stringify({ subscribe: "series.1" })]);
    expect(resyncs()).toBe(1);
  });
  it("delivers in order, resyncs on a gap, drops repeats", () => {
    const { sockets, seen, resyncs } = setup();
    sockets[0].open();
    sockets[0].emit("series.1", 1);
    sockets[0].emit("series.1", 2);
    sockets[0].emit("series.1", 2);
    expect(resyncs()).toBe(1);
    sockets[0].emit("series.1", 5);
    expect(resyncs()).toBe(2);
    expect(seen).toEqual([1, 2, 5]);
    sockets[0].onmessage?.({ data: JSON.stringify({ type: "subscribed", topic: "series.1" }) });
    sockets[0].emit("other.topic", 1);
    expect(seen).toEqual([1, 2, 5]);
  });
  it("reconnects with back-off and resyncs after the reconnect", () => {
    const { sockets, timers, seen, resyncs } = setup();
    sockets[0].open();
    sockets[0].emit("series.1", 7);
    sockets[0].onclose?.({});
    expect(timers.length).toBe(1);
    timers[0]();
    sockets[1].open();
    expect(resyncs()).toBe(2);
    sockets[1].emit("series.1", 3); // the server restarted its counter: not dropped after a reconnect
    expect(seen).toEqual([7, 3]);
  });
});
