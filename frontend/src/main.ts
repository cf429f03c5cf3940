// Entry of /tasks/<id>/: reads the config the page rendered (json_script), asks for the series
// metadata and the frames on screen, and paints the first frame on a plain canvas, all before the
// Cornerstone3D chunk (start.ts, most of the bundle) is loaded and parsed; then starts the viewer.
import "./viewer.css";
import { rescaleFrame, fitsInt16 } from "./loader/geometry";
import { prefetchSeries, type Boot } from "./loader/prefetch";
import { showPreview } from "./loader/preview";
import { PRESETS, voiRange } from "./ui/keymap";
import type { ViewerConfig } from "./viewer";

/** The longest the viewer application waits for the first frame before it loads anyway. */
const APP_WAIT_MS = 600;

function fail(err: unknown): void {
  console.error(err);
  document.getElementById("viewer-app")?.setAttribute("data-state", "error");
  const t = document.getElementById("progress-text");
  if (t) t.textContent = `Could not load the series: ${(err as Error).message}`;
}

async function main(): Promise<void> {
  performance.mark("nodus:script");
  const cfg = JSON.parse(document.getElementById("viewer-config")!.textContent!) as ViewerConfig;
  const boot: Boot = { prefetch: prefetchSeries(cfg), preview: { canvas: null, done: false } };
  boot.prefetch.geometry.then((g) => boot.prefetch.onFrame((_i, body) => {
    if (boot.preview.canvas || boot.preview.done) return;
    try {
      const pixels = fitsInt16(g) ? new Int16Array(g.rows * g.columns) : new Float32Array(g.rows * g.columns);
      rescaleFrame(body, g, pixels);
      const w = g.window ?? (g.modality === "CT" ? PRESETS.lung : null);
      boot.preview.canvas = showPreview(document.getElementById("vp-stack")!, {
        pixels, rows: g.rows, columns: g.columns, spacing: [g.spacing[0], g.spacing[1]], voi: w ? voiRange(w.center, w.width) : null,
      });
      requestAnimationFrame(() => performance.mark("nodus:first-preview"));
    } catch (err) {
      console.warn("preview", err);
    }
  }), () => undefined);
  // the bulk requests go out with the first frames in: the server's time to the first byte
  // overlaps the start of the viewer (measured 0.3-0.5 s sooner for the whole series)
  void boot.prefetch.firstFrames.then(() => boot.prefetch.startBulk(), () => undefined);
  // The Cornerstone chunk is evaluated (≈ 0.3 s of main thread) once the first frame is painted:
  // before, it would hold the frames' responses and the preview behind it.
  await Promise.race([boot.prefetch.firstFrames.catch(() => undefined), new Promise((r) => setTimeout(r, APP_WAIT_MS))]);
  try {
    await (await import("./start")).start(cfg, boot);
  } catch (err) {
    fail(err);
  }
}

void main();
