import { describe, expect, it } from "vitest";
import { boundaryOf, MultipartParser } from "./multipart";

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
});
