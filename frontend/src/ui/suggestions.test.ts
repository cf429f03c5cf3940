import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Suggestion } from "../state/store";
import { SECOND_STAGE_TITLE, suggestionRow } from "./suggestions";

// Vitest runs in node: a document just big enough for ui/dom.ts's h() (createElement, setAttribute,
// textContent, append, addEventListener).
class FakeElement {
  attrs = new Map<string, string>();
  children: (FakeElement | string)[] = [];
  textContent = "";
  disabled = false;
  constructor(readonly tagName: string) {}
  setAttribute(k: string, v: string): void { this.attrs.set(k, v); }
  getAttribute(k: string): string | null { return this.attrs.get(k) ?? null; }
  append(...c: (FakeElement | string)[]): void { this.children.push(...c); }
  addEventListener(): void {}
  /** Descendants with this class, depth first. */
  all(cls: string): FakeElement[] {
    const out: FakeElement[] = [];
    for (const c of this.children) {
      if (typeof c === "string") continue;
      if ((c.getAttribute("class") ?? "").split(" ").includes(cls)) out.push(c);
      out.push(...c.all(cls));
    }
    return out;
  }
}

const sug = (detector: string, status = "suggested", detector_label = "blob stage"): Suggestion => ({
  id: 7, revision: 1, segment: 3, label_class: "nodule", probability: 0.8123, detector, detector_label, diameter_mm: 6.25,
  volume_mm3: 90, centroid_voxel: [4, 10, 10], status, model_version: 1,
});

const row = (s: Suggestion) => suggestionRow(s, { selected: false, readonly: false, select: () => {}, decide: () => {} }) as unknown as FakeElement;

describe("suggestion row", () => {
  beforeEach(() => { vi.stubGlobal("document", { createElement: (tag: string) => new FakeElement(tag) }); });
  afterEach(() => { vi.unstubAllGlobals(); });

  it("marks a second-stage suggestion with a badge beside its probability", () => {
    const r = row(sug("second_stage"));
    expect(r.all("what")[0].textContent).toBe("#3 p 0.81 · ⌀ 6.3 mm");
    const badges = r.all("detector-badge");
    expect(badges).toHaveLength(1);
    expect(badges[0].textContent).toBe("blob stage");
    expect(badges[0].getAttribute("title")).toBe(SECOND_STAGE_TITLE);
    expect(SECOND_STAGE_TITLE).toBe("Proposed by the second-stage blob classifier, not the segmentation network");
    // right after the probability, before the status
    const classes = r.children.map((c) => (typeof c === "string" ? c : c.getAttribute("class")));
    expect(classes.slice(0, 4)).toEqual(["swatch ai", "what", "detector-badge", "status status-suggested"]);
  });

  it("shows nothing extra for the network's suggestions or where the model did not say", () => {
    for (const detector of ["network", "", "bogus"]) {
      const r = row(sug(detector));
      expect(r.all("detector-badge")).toEqual([]);
      expect(r.children).toHaveLength(6); // swatch, what, status, A, R, E
    }
  });

  it("names the badge as the server does", () => {
    expect(row(sug("second_stage", "suggested", "Blob-Stufe")).all("detector-badge")[0].textContent).toBe("Blob-Stufe");
    expect(row(sug("second_stage", "suggested", "")).all("detector-badge")[0].textContent).toBe("second_stage");
  });

  it("keeps the badge on decided suggestions", () => {
    const r = row(sug("second_stage", "accepted"));
    expect(r.all("detector-badge")).toHaveLength(1);
    expect(r.all("status")[0].textContent).toBe("accepted");
  });
});
