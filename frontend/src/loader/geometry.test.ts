import { describe, expect, it } from "vitest";
import { rescaleFrame, seriesGeometry } from "./geometry";

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
});
