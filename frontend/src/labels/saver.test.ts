import { describe, expect, it } from "vitest";
import { LabelSaver } from "./saver";
import { Store, type State } from "../state/store";

const initial = (): State => ({
  findings: [{ segment: 1, label_class: "nodule", attributes: {}, visible: true }],
  activeSegment: 1, headRevision: 7, saveStatus: "dirty", message: "", conflictWith: null, loaded: 0,
  total: 0, tool: "Brush", layout: "stack", history: [], opacity: 0.5, labelsVisible: true, brushSize: 5,
  threshold: [-1000, 400], taskState: "new",
  suggestions: [], selectedSuggestion: null, aiVisible: true, aiRevision: null, job: null, live: "",
});

function saver(store: Store, responses: (() => Promise<Response>)[], seen: RequestInit[]) {
  return new LabelSaver({
    api: "/api/v1", task: 3, seriesInstanceUID: "1.2", shape: [1, 2, 2], csrfToken: "t", store,
    getLabels: () => new Uint8Array([0, 1, 1, 0]),
    fetchImpl: (async (_url: string, init: RequestInit) => {
      seen.push(init);
      return responses.shift()!();
    }) as unknown as typeof fetch,
  });
}

describe("label saver", () => {
  it("sends the parent in If-Match and takes the server's measurements", async () => {
    const store = new Store(initial());
    const seen: RequestInit[] = [];
    const ok = { revision: { id: 8 }, state: "in_progress", findings: [{ segment: 1, diameter_mm: 4.2, volume_mm3: 9, source: "human", status: "accepted" }] };
    await saver(store, [async () => new Response(JSON.stringify(ok), { status: 201 })], seen).save();
    expect((seen[0].headers as Record<string, string>)["If-Match"]).toBe('"7"');
    expect(store.get()).toMatchObject({ headRevision: 8, saveStatus: "saved", taskState: "in_progress" });
    expect(store.get().findings[0]).toMatchObject({ diameter_mm: 4.2, voxels: 2 });
  });

  it("shows a conflict on 409 and stops saving", async () => {
    const store = new Store(initial());
    const seen: RequestInit[] = [];
    const s = saver(store, [async () => new Response(JSON.stringify({ detail: "changed", current: 9 }), { status: 409 })], seen);
    await s.save();
    expect(store.get()).toMatchObject({ saveStatus: "conflict", conflictWith: 9 });
    await s.save();
    expect(seen.length).toBe(1);
  });

  it("keeps edits and retries after a network error", async () => {
    const store = new Store(initial());
    const seen: RequestInit[] = [];
    await saver(store, [async () => { throw new TypeError("offline"); }], seen).save();
    expect(store.get().saveStatus).toBe("error");
    expect(store.get().message).toMatch(/retrying/);
  });

  it("sends nothing when all is saved, and no save starts during an exclusive change", async () => {
    const store = new Store({ ...initial(), saveStatus: "saved" });
    const seen: RequestInit[] = [];
    const ok = { revision: { id: 8 }, state: "in_progress", findings: [] };
    const s = saver(store, [async () => new Response(JSON.stringify(ok), { status: 201 })], seen);
    await s.save();
    expect(seen.length).toBe(0);
    const result = await s.exclusive(async () => {
      store.set({ saveStatus: "dirty" });
      await s.save(); // held: rescheduled, not sent with a parent that is about to change
      store.set({ headRevision: 11 });
      return 5;
    });
    expect(result).toBe(5);
    expect(seen.length).toBe(0);
    s.cancelPending();
  });
});
