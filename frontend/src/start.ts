// The viewer application (Cornerstone3D and everything around it): a chunk of its own, loaded by
// the entry script (main.ts) while that one fetches and shows the first image.
import { Store } from "./state/store";
import { LiveEvents } from "./live/events";
import { watchJobs } from "./live/jobs";
import type { Boot } from "./loader/prefetch";
import { Triage } from "./triage/triage";
import { mountUi } from "./ui/app";
import { Viewer, type ViewerConfig } from "./viewer";

export async function start(cfg: ViewerConfig, boot: Boot): Promise<void> {
  const store = new Store({
    findings: [], activeSegment: 1, headRevision: cfg.headRevision, saveStatus: cfg.canEdit ? "saved" : "readonly",
    message: "", conflictWith: null, loaded: 0, total: 0, tool: "WindowLevel", layout: "stack", history: [],
    opacity: 0.5, labelsVisible: true, brushSize: 6, threshold: [-600, 400], taskState: cfg.state,
    suggestions: [], selectedSuggestion: null, aiVisible: true, aiRevision: null, job: null, live: "",
  });
  const viewer = new Viewer(cfg, store);
  const triage = new Triage(viewer, store);
  (window as any).nodusViewer = { viewer, store, triage }; // for browser tests and debugging
  mountUi(viewer, store, triage);
  await viewer.start(boot);
  await triage.load().catch((err) => console.error("AI suggestions", err));
  document.getElementById("viewer-app")?.setAttribute("data-triage", "ready");
  watchJobs({ live: LiveEvents.forPage(), api: cfg.api, seriesInstanceUID: cfg.seriesInstanceUID, store, triage });
}
