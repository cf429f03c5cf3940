// Entry of /tasks/<id>/: reads the config the page rendered (json_script), starts the viewer.
import "./viewer.css";
import { Store } from "./state/store";
import { LiveEvents } from "./live/events";
import { watchJobs } from "./live/jobs";
import { Triage } from "./triage/triage";
import { mountUi } from "./ui/app";
import { Viewer, type ViewerConfig } from "./viewer";

async function main(): Promise<void> {
  performance.mark("nodus:script");
  const cfg = JSON.parse(document.getElementById("viewer-config")!.textContent!) as ViewerConfig;
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
  try {
    await viewer.start();
    await triage.load().catch((err) => console.error("AI suggestions", err));
    document.getElementById("viewer-app")?.setAttribute("data-triage", "ready");
    watchJobs({ live: LiveEvents.forPage(), api: cfg.api, seriesInstanceUID: cfg.seriesInstanceUID, store, triage });
  } catch (err) {
    console.error(err);
    document.getElementById("viewer-app")?.setAttribute("data-state", "error");
    const t = document.getElementById("progress-text");
    if (t) t.textContent = `Could not load the series: ${(err as Error).message}`;
  }
}

void main();
