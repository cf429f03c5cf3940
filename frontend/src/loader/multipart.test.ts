import { describe, expect, it } from "vitest";
import { boundaryOf, indexOf, MultipartParser } from "./multipart";

const enc = new TextEncoder();

describe("multipart parser", () => {
  it("yields parts across arbitrary chunk boundaries", () => {
    const body = enc.encode(
      "--abc\r\nContent-Type: application/octet-stream\r\nContent-Location: /x/frames/1\r\n\r\n\x01\x02\r\n" +
        "--abc\r\nContent-Type: application/octet-stream\r\n\r\n\x03\r\n--abc--\r\n",
    );
    for (const size of [1, 3, 7, body.length]) {
      const p = new MultipartParser("abc");
      const parts = [];
      for (let i = 0; i < body.length; i += size) parts.push(...p.push(body.subarray(i, i + size)));
      expect(parts.map((x) => Array.from(x.body))).toEqual([[1, 2], [3]]);
      expect(parts[0].headers["content-location"]).toBe("/x/frames/1");
      expect(p.done).toBe(true);
    }
  });

  it("reads the boundary from the content type", () => {
    expect(boundaryOf('multipart/related; type="application/octet-stream"; boundary=f00')).toBe("f00");
  });

  it("finds a boundary split over chunks inside a large body with many first-byte candidates", () => {
    const boundary = "b0undary";
    const frame = (k: number) => Uint8Array.from({ length: 70000 }, (_, i) => (i % 7 === 0 ? 13 : (i * k) & 255));
    const frames = [frame(3), frame(5), frame(11)];
    const pieces: Uint8Array[] = [];
    frames.forEach((f, k) => pieces.push(enc.encode(`--${boundary}\r\nContent-Location: f/${k + 1}\r\n\r\n`), f, enc.encode("\r\n")));
    pieces.push(enc.encode(`--${boundary}--\r\n`));
    const body = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (body.set(p, at), at + p.length), 0);
    for (const size of [4093, 65536, 1021, 99, body.length]) {
      const p = new MultipartParser(boundary);
      const parts = [];
      for (let i = 0; i < body.length; i += size) parts.push(...p.push(body.subarray(i, i + size)));
      expect(parts.map((x) => x.headers["content-location"])).toEqual(["f/1", "f/2", "f/3"]);
      parts.forEach((x, k) => expect(x.body.length === frames[k].length && x.body.every((v, i) => v === frames[k][i])).toBe(true));
      expect(p.done).toBe(true);
    }
  });

  it("indexOf matches a naive search", () => {
    const hay = enc.encode("\r\r\n-\r\n--a\r\n--ab\r\n--abc");
    const needle = enc.encode("\r\n--abc");
    expect(indexOf(hay, needle, 0)).toBe(hay.length - needle.length);
    expect(indexOf(hay, needle, hay.length - needle.length + 1)).toBe(-1);
    expect(indexOf(enc.encode("xx"), needle, 0)).toBe(-1);
  });
});
