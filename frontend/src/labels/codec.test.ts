import { describe, expect, it } from "vitest";
import { decodeLabelmap, encodeLabelmap, rleDecode, rleEncode, toBase64 } from "./codec";

describe("label codec", () => {
  it("round-trips and counts voxels per segment", async () => {
    const vol = new Uint8Array(4 * 16 * 16);
    vol.fill(1, 100, 140);
    vol.fill(2, 500, 510);
    const { runs, counts } = rleEncode(vol);
    expect(runs.length).toBe(5 * 5);
    expect(counts).toEqual({ 1: 40, 2: 10 });
    expect(rleDecode(runs, vol.length)).toEqual(vol);
    const { bytes } = await encodeLabelmap(vol);
    expect(await decodeLabelmap(bytes, vol.length)).toEqual(vol);
  });

  it("refuses runs that do not cover the volume", () => {
    const { runs } = rleEncode(new Uint8Array(10));
    expect(() => rleDecode(runs, 11)).toThrow(/covers/);
  });

  it("keeps a nodule mask of a 512x512x300 CT small", async () => {
    const [d, h, w] = [300, 512, 512];
    const vol = new Uint8Array(d * h * w);
    for (let z = 140; z < 160; z++)
      for (let y = 240; y < 260; y++) vol.fill(1, z * h * w + y * w + 250, z * h * w + y * w + 270);
    const { bytes } = await encodeLabelmap(vol);
    expect(bytes.length).toBeLessThan(10_000);
    expect(toBase64(new Uint8Array([0, 255, 1]))).toBe("AP8B");
  });

  it("encodes like a plain byte scan (word skipping is exact), at any offset", () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let t = 0; t < 30; t++) {
      const buf = new Uint8Array(1000 + t);
      for (let j = 0; j < 12; j++) buf.fill(1 + Math.floor(rnd() * 3), Math.floor(rnd() * buf.length), Math.floor(rnd() * buf.length));
      const vol = buf.subarray(t % 3);
      const { runs, counts } = rleEncode(vol);
      expect(rleDecode(runs, vol.length)).toEqual(vol);
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      expect(total).toBe(vol.reduce((a, v) => a + (v ? 1 : 0), 0));
      const view = new DataView(runs.buffer);
      for (let r = 1; r < runs.length / 5; r++) expect(view.getUint8(r * 5)).not.toBe(view.getUint8((r - 1) * 5));
    }
  });
});
