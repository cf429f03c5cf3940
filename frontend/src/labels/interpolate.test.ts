import { describe, expect, it } from "vitest";
import { interpolateSegment } from "./interpolate";

describe("slice interpolation", () => {
  it("fills the slices between two painted discs with an in-between disc", () => {
    const dims = { slices: 5, rows: 20, columns: 20 };
    const labels = new Uint8Array(5 * 400);
    const disc = (z: number, r: number) => {
      for (let y = 0; y < 20; y++)
        for (let x = 0; x < 20; x++) if ((x - 10) ** 2 + (y - 10) ** 2 <= r * r) labels[z * 400 + y * 20 + x] = 2;
    };
    disc(0, 3);
    disc(4, 7);
    const changed = interpolateSegment(labels, dims, 2);
    expect(changed).toEqual([1, 2, 3]);
    const area = (z: number) => labels.subarray(z * 400, (z + 1) * 400).filter((v) => v === 2).length;
    expect(area(1)).toBeGreaterThan(area(0));
    expect(area(2)).toBeGreaterThan(area(1));
    expect(area(3)).toBeLessThan(area(4));
    expect(labels[2 * 400 + 10 * 20 + 10]).toBe(2);
  });

  it("never overwrites another segment", () => {
    const labels = new Uint8Array(3 * 4).fill(0);
    labels.fill(1, 0, 4);
    labels.fill(1, 8, 12);
    labels[5] = 3;
    interpolateSegment(labels, { slices: 3, rows: 2, columns: 2 }, 1);
    expect(Array.from(labels.subarray(4, 8))).toEqual([1, 3, 1, 1]);
  });
});
