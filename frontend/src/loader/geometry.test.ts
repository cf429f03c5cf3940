import { describe, expect, it } from "vitest";
import { bulkRanges, fitsInt16, rescaleFrame, seriesGeometry } from "./geometry";

const inst = (uid: string, z: number, n: number) => ({
  "00080018": { vr: "UI", Value: [uid] },
  "00080060": { vr: "CS", Value: ["CT"] },
  "00200013": { vr: "IS", Value: [n] },
  "00200032": { vr: "DS", Value: [-10, -20, z] },
  "00200037": { vr: "DS", Value: [1, 0, 0, 0, 1, 0] },
  "00280010": { vr: "US", Value: [64] },
  "00280011": { vr: "US", Value: [32] },
  "00280030": { vr: "DS", Value: [0.7, 0.8] },
  "00280100": { vr: "US", Value: [16] },
  "00280103": { vr: "US", Value: [1] },
  "00281052": { vr: "DS", Value: ["-1024"] },
  "00281053": { vr: "DS", Value: ["1"] },
});

describe("series geometry", () => {
  it("orders slices along the normal and derives spacing", () => {
    const g = seriesGeometry([inst("b", 5, 2), inst("c", 7.5, 3), inst("a", 2.5, 1)]);
    expect(g.slices.map((s) => s.sopInstanceUID)).toEqual(["a", "b", "c"]);
    expect(g.spacing).toEqual([0.8, 0.7, 2.5]);
    expect(g.origin).toEqual([-10, -20, 2.5]);
    expect(g.rows).toBe(64);
    expect(g.frames).toEqual([["a", 1], ["b", 1], ["c", 1]]);
  });

  it("rescales stored values to HU", () => {
    const stored = new Int16Array([0, 1024, 2000]);
    const out = new Float32Array(3);
    rescaleFrame(new Uint8Array(stored.buffer), { bitsAllocated: 16, pixelRepresentation: 1, slope: 1, intercept: -1024, samplesPerPixel: 1, photometric: "MONOCHROME2" }, out);
    expect(Array.from(out)).toEqual([-1024, 0, 976]);
  });

  it("rescales every pixel format the same on the fast grey path and the general path", () => {
    const base = { samplesPerPixel: 1, photometric: "MONOCHROME2" };
    const i16 = new Uint8Array(new Int16Array([-5, 0, 7]).buffer);
    const u16 = new Uint8Array(new Uint16Array([0, 40000, 65535]).buffer);
    const cases: [Uint8Array, object, Float32Array | Int16Array, number[]][] = [
      [i16, { bitsAllocated: 16, pixelRepresentation: 1, slope: 1, intercept: 10 }, new Int16Array(3), [5, 10, 17]],
      [i16, { bitsAllocated: 16, pixelRepresentation: 1, slope: 2, intercept: -1 }, new Int16Array(3), [-11, -1, 13]],
      [u16, { bitsAllocated: 16, pixelRepresentation: 0, slope: 1, intercept: 0 }, new Float32Array(3), [0, 40000, 65535]],
      [new Uint8Array([0, 128, 255]), { bitsAllocated: 8, pixelRepresentation: 0, slope: 0.5, intercept: 1 }, new Float32Array(3), [1, 65, 128.5]],
      [i16, { bitsAllocated: 16, pixelRepresentation: 1, slope: 1, intercept: 0, photometric: "MONOCHROME1" }, new Int16Array(3), [5, 0, -7]],
    ];
    for (const [bytes, g, out, want] of cases) {
      rescaleFrame(bytes, { ...base, ...g } as Parameters<typeof rescaleFrame>[1], out);
      expect(Array.from(out)).toEqual(want);
    }
  });
});

describe("bulkRanges", () => {
  it("splits a large series into contiguous ranges that cover every frame once", () => {
    const r = bulkRanges(300, 3);
    expect(r).toEqual([[0, 99], [100, 199], [200, 299]]);
    const r2 = bulkRanges(100, 3);
    expect(r2.length).toBe(3);
    expect(r2[0][0]).toBe(0);
    expect(r2[2][1]).toBe(99);
    for (let j = 1; j < r2.length; j++) expect(r2[j][0]).toBe(r2[j - 1][1] + 1);
  });
  it("keeps one request for a small series or a single image", () => {
    expect(bulkRanges(20, 3)).toEqual([[0, 19]]);
    expect(bulkRanges(1, 3)).toEqual([[0, 0]]);
  });
});

describe("fitsInt16", () => {
  const grey = { bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 0, slope: 1, intercept: 0, samplesPerPixel: 1, photometric: "MONOCHROME2" };
  it("keeps CT and 12-bit images in int16", () => {
    expect(fitsInt16(grey)).toBe(true);
    expect(fitsInt16({ ...grey, pixelRepresentation: 1, bitsStored: 16, intercept: -1024 })).toBe(true);
    expect(fitsInt16({ ...grey, pixelRepresentation: 1, bitsStored: 16 })).toBe(true);
    expect(fitsInt16({ ...grey, bitsStored: 12, intercept: -1024 })).toBe(true);
  });
  it("sends unsigned 16-bit, fractional rescales and colour to float", () => {
    expect(fitsInt16({ ...grey, bitsStored: 16 })).toBe(false);
    expect(fitsInt16({ ...grey, slope: 0.5 })).toBe(false);
    expect(fitsInt16({ ...grey, bitsStored: 15, slope: 2 })).toBe(false);
    expect(fitsInt16({ ...grey, bitsAllocated: 8, bitsStored: 8, samplesPerPixel: 3 })).toBe(false);
  });
});
