import { describe, expect, it } from "vitest";
import type { Suggestion } from "../state/store";
import { nextPending, orderSuggestions, step } from "./logic";

const s = (id: number, probability: number, z: number, status = "suggested"): Suggestion => ({
  id, revision: 1, segment: id, label_class: "nodule", probability, detector: "network", detector_label: "network", diameter_mm: 5, volume_mm3: 60,
  centroid_voxel: [z, 10, 10], status, model_version: 1,
});

describe("triage", () => {
  it("orders by probability, then slice", () => {
    expect(orderSuggestions([s(1, 0.5, 3), s(2, 0.9, 8), s(3, 0.5, 1)]).map((x) => x.id)).toEqual([2, 3, 1]);
  });
  it("steps forward and back with wrap-around", () => {
    expect(step([1, 2, 3], null, 1)).toBe(1);
    expect(step([1, 2, 3], null, -1)).toBe(3);
    expect(step([1, 2, 3], 3, 1)).toBe(1);
    expect(step([1, 2, 3], 1, -1)).toBe(3);
    expect(step([], 1, 1)).toBeNull();
  });
  it("advances to the next pending suggestion", () => {
    const list = [s(1, 0.9, 1, "accepted"), s(2, 0.8, 2), s(3, 0.7, 3, "rejected"), s(4, 0.6, 4)];
    expect(nextPending(list, 2)?.id).toBe(4);
    expect(nextPending(list, 4)?.id).toBe(2);
    expect(nextPending([s(1, 0.9, 1)], 1)).toBeNull();
  });
});
