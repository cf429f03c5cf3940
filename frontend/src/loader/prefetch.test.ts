import { describe, expect, it } from "vitest";
import { bulkUrls, firstFrameIndices, prefetchSeries } from "./prefetch";

const src = { dicomweb: "/dw", studyInstanceUID: "st", seriesInstanceUID: "se" };

function instance(sop: string, z: number): Record<string, { vr: string; Value: unknown[] }> {
  return {
    "00080018": { vr: "UI", Value: [sop] },
    "00200032": { vr: "DS", Value: [0, 0, z] },
    "00200037": { vr: "DS", Value: [1, 0, 0, 0, 1, 0] },
    "00280010": { vr: "US", Value: [2] },
    "00280011": { vr: "US", Value: [2] },
  };
}

function multipart(body: number[]): Response {
  const enc = new TextEncoder();
  const head = enc.encode("--B\r\nContent-Type: application/octet-stream\r\n\r\n");
  const tail = enc.encode("\r\n--B--\r\n");
  const all = new Uint8Array(head.length + body.length + tail.length);
  all.set(head);
  all.set(body, head.length);
  all.set(tail, head.length + body.length);
  return new Response(all, { headers: { "Content-Type": 'multipart/related; type="application/octet-stream"; boundary=B' } });
}

describe("prefetch", () => {
  it("asks for the middle frame(s)", () => {
    expect(firstFrameIndices(1)).toEqual([0]);
    expect(firstFrameIndices(5)).toEqual([2]);
    expect(firstFrameIndices(300)).toEqual([150, 149]);
    expect(firstFrameIndices(0)).toEqual([]);
  });

  it("splits a large series into range requests, a small one into one request", () => {
    expect(bulkUrls("/b", 300).map((x) => x.url)).toEqual(["/b/pixeldata?frames=1-100", "/b/pixeldata?frames=101-200", "/b/pixeldata?frames=201-300"]);
    expect(bulkUrls("/b", 300).map((x) => x.range)).toEqual([[0, 99], [100, 199], [200, 299]]);
    expect(bulkUrls("/b", 20)).toEqual([{ range: [0, 19], url: "/b/pixeldata" }]);
  });

  it("sends metadata, then the frames on screen, then the bulk requests", async () => {
    const calls: string[] = [];
    const meta = [instance("c", 2), instance("a", 0), instance("d", 3), instance("b", 1)];
    const fetchFn = async (url: string) => {
      calls.push(url);
      if (url.endsWith("/metadata")) return new Response(JSON.stringify(meta));
      const m = /instances\/(\w)\/frames\/1$/.exec(url);
      if (m) return multipart([m[1].charCodeAt(0), 0]);
      return new Response("", { status: 200 });
    };
    const p = prefetchSeries(src, fetchFn);
    const seen: number[] = [];
    p.onFrame((i) => seen.push(i));
    const g = await p.geometry;
    expect(g.frames.map((f) => f[0])).toEqual(["a", "b", "c", "d"]);
    const frames = await p.firstFrames;
    expect([...frames.keys()].sort()).toEqual([1, 2]);
    expect(Array.from(frames.get(2)!)).toEqual(["c".charCodeAt(0), 0]);
    expect(seen.sort()).toEqual([1, 2]);
    const late: number[] = [];
    p.onFrame((i) => late.push(i)); // a listener added later gets the frames already in
    expect(late.sort()).toEqual([1, 2]);
    const bulk = await p.startBulk();
    expect(bulk.map((b) => b.range)).toEqual([[0, 3]]);
    expect(calls[0]).toBe("/dw/studies/st/series/se/metadata");
    expect(calls.slice(1, 3).sort()).toEqual(["/dw/studies/st/series/se/instances/b/frames/1", "/dw/studies/st/series/se/instances/c/frames/1"]);
    expect(calls[3]).toBe("/dw/studies/st/series/se/pixeldata");
  });

  it("a failed frame is left to the bulk load; failed metadata rejects", async () => {
    const meta = [instance("a", 0)];
    const p = prefetchSeries(src, async (url) => (url.endsWith("/metadata") ? new Response(JSON.stringify(meta)) : new Response("no", { status: 500 })));
    expect((await p.firstFrames).size).toBe(0);
    expect((await p.startBulk()).length).toBe(1);
    const bad = prefetchSeries(src, async () => new Response("{}", { status: 404 }));
    await expect(bad.geometry).rejects.toThrow("HTTP 404");
    await expect(bad.startBulk()).rejects.toThrow("HTTP 404");
  });
});
