import { describe, expect, it } from "vitest";
import { windowed } from "./preview";

describe("preview", () => {
  it("applies the window linearly, clamped", () => {
    const g = windowed([-2000, -1350, -600, 150, 900], { lower: -1350, upper: 150 });
    expect([g[0], g[4], g[8], g[12], g[16]]).toEqual([0, 0, 128, 255, 255]);
    expect(g[3]).toBe(255);
  });
  it("uses the frame's range without a window", () => {
    const g = windowed([10, 20], null);
    expect([g[0], g[4]]).toEqual([0, 255]);
  });
});
