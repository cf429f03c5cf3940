import { describe, expect, it } from "vitest";
import { lassoEdit, polygonPixels, type Point2 } from "./lasso";

function grid(width: number, height: number, poly: Point2[]): string[] {
  const px = new Set(polygonPixels(width, height, poly));
  const rows: string[] = [];
  for (let y = 0; y < height; y++) {
    let r = "";
    for (let x = 0; x < width; x++) r += px.has(y * width + x) ? "#" : ".";
    rows.push(r);
  }
  return rows;
}

describe("polygonPixels", () => {
  it("fills a convex polygon (square) by pixel centres", () => {
    expect(grid(6, 5, [[1, 1], [4, 1], [4, 3], [1, 3]])).toEqual([
      "......",
      ".###..",
      ".###..",
      "......",
      "......",
    ]);
    // area of an axis-aligned square in pixels equals its area
    expect(polygonPixels(20, 20, [[2, 2], [12, 2], [12, 12], [2, 12]])).toHaveLength(100);
    // the direction of drawing does not matter
    expect(polygonPixels(20, 20, [[2, 12], [12, 12], [12, 2], [2, 2]])).toHaveLength(100);
  });

  it("fills a triangle", () => {
    expect(grid(7, 5, [[0, 0], [6, 0], [0, 6]])).toEqual([
      "######.",
      "#####..",
      "####...",
      "###....",
      "##.....",
    ]);
  });

  it("leaves the notch of a concave polygon empty", () => {
    // a U shape: outer 0..7 × 0..6, notch 2..5 × 0..4 open at the top
    const u: Point2[] = [[0, 0], [2, 0], [2, 4], [5, 4], [5, 0], [7, 0], [7, 6], [0, 6]];
    expect(grid(8, 7, u)).toEqual([
      "##...##.",
      "##...##.",
      "##...##.",
      "##...##.",
      "#######.",
      "#######.",
      "........",
    ]);
  });

  it("handles self-touching and self-crossing outlines (even-odd)", () => {
    // two squares touching at one vertex, drawn as one outline (a figure eight)
    const eight: Point2[] = [[0, 0], [3, 0], [3, 3], [6, 3], [6, 6], [3, 6], [3, 3], [0, 3]];
    expect(grid(7, 7, eight)).toEqual([
      "###....",
      "###....",
      "###....",
      "...###.",
      "...###.",
      "...###.",
      ".......",
    ]);
    // a bow tie: crossing edges; both lobes are filled, nothing outside
    const bow = new Set(polygonPixels(10, 10, [[0, 0], [8, 8], [8, 0], [0, 8]]));
    expect(bow.has(4 * 10 + 1)).toBe(true);
    expect(bow.has(4 * 10 + 7)).toBe(true);
    expect(bow.has(1 * 10 + 4)).toBe(false);
    expect(bow.has(7 * 10 + 4)).toBe(false);
  });

  it("clips a polygon partly outside the slice", () => {
    expect(grid(4, 3, [[-5, -5], [2, -5], [2, 2], [-5, 2]])).toEqual(["##..", "##..", "...."]);
    expect(polygonPixels(4, 3, [[10, 10], [20, 10], [20, 20]])).toEqual([]);
    expect(polygonPixels(4, 3, [[-10, -10], [20, -10], [20, 20], [-10, 20]])).toHaveLength(12);
  });

  it("fills nothing for empty or degenerate polygons", () => {
    expect(polygonPixels(8, 8, [])).toEqual([]);
    expect(polygonPixels(8, 8, [[1, 1]])).toEqual([]);
    expect(polygonPixels(8, 8, [[1, 1], [5, 5]])).toEqual([]);
    expect(polygonPixels(8, 8, [[1, 1], [3, 3], [5, 5], [1, 1]])).toEqual([]); // collinear
    expect(polygonPixels(8, 8, [[2, 2], [2, 2], [2, 2]])).toEqual([]);
    expect(polygonPixels(8, 8, [[NaN, 1], [3, NaN], [5, 5]])).toEqual([]);
    expect(polygonPixels(0, 8, [[0, 0], [5, 0], [5, 5]])).toEqual([]);
  });
});

describe("lassoEdit", () => {
  const dims: [number, number, number] = [4, 3, 2]; // i, j, k
  const at = (d: Uint8Array) => (n: number) => d[n];
  const square: Point2[] = [[-1, -1], [10, -1], [10, 10], [-1, 10]];

  it("fills one axial slice (axis k), leaving the others", () => {
    const d = new Uint8Array(24);
    const e = lassoEdit(dims, 2, 1, square, 3, false, at(d));
    expect(e.indices).toEqual(Array.from({ length: 12 }, (_, n) => 12 + n));
    expect(e.after).toBe(3);
  });

  it("maps coronal (j) and sagittal (i) slices to the right voxels", () => {
    const d = new Uint8Array(24);
    // axis j = 2: the polygon is in (i, k)
    expect(lassoEdit(dims, 1, 2, square, 1, false, at(d)).indices).toEqual([8, 9, 10, 11, 20, 21, 22, 23]);
    // axis i = 3: the polygon is in (j, k)
    expect(lassoEdit(dims, 0, 3, square, 1, false, at(d)).indices).toEqual([3, 7, 11, 15, 19, 23]);
  });

  it("keeps locked segments and skips voxels already set; erase clears only the segment", () => {
    const d = new Uint8Array(24);
    d[0] = 2; // locked
    d[1] = 1; // already the segment
    d[2] = 4; // another, unlocked segment: overwritten
    const fill = lassoEdit(dims, 2, 0, square, 1, false, at(d), new Set([2]));
    expect(fill.indices).not.toContain(0);
    expect(fill.indices).not.toContain(1);
    expect(fill.indices).toContain(2);
    expect(fill.before[fill.indices.indexOf(2)]).toBe(4);
    const erase = lassoEdit(dims, 2, 0, square, 1, true, at(d));
    expect(erase).toEqual({ indices: [1], before: [1], after: 0 });
  });

  it("does nothing for a slice out of range, segment 0 or a degenerate polygon", () => {
    const d = new Uint8Array(24);
    expect(lassoEdit(dims, 2, 2, square, 1, false, at(d)).indices).toEqual([]);
    expect(lassoEdit(dims, 2, -1, square, 1, false, at(d)).indices).toEqual([]);
    expect(lassoEdit(dims, 2, 0, square, 0, false, at(d)).indices).toEqual([]);
    expect(lassoEdit(dims, 2, 0, [[0, 0], [2, 2]], 1, false, at(d)).indices).toEqual([]);
  });
});
