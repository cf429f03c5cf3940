// Saving label revisions: debounced autosave + explicit save, If-Match with the parent revision,
// 409 → conflict (never overwrite), network errors → retried with back-off; edits stay in memory
// (and a copy in IndexedDB) until the server has them.

import { encodeLabelmap, ENCODING, toBase64 } from "./codec";
import type { Finding, Store } from "../state/store";

export interface SaverOptions {
  api: string;
  task: number;
  seriesInstanceUID: string;
  shape: [number, number, number];
  csrfToken: string;
  store: Store;
  getLabels: () => Uint8Array;
  debounceMs?: number;
  fetchImpl?: typeof fetch;
}

export class LabelSaver {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;
  private again = false;
  private retryMs = 1000;
  private held = false;
  constructor(private o: SaverOptions) {}

  markDirty(): void {
    const st = this.o.store.get().saveStatus;
    if (st === "conflict" || st === "readonly") return;
    this.o.store.set({ saveStatus: "dirty", message: "Unsaved changes" });
    this.schedule(this.o.debounceMs ?? 2500);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.save(), ms);
  }

  async save(message = ""): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    const st = this.o.store.get().saveStatus;
    if (st === "conflict" || st === "readonly" || st === "saved") return;
    if (this.held) return this.schedule(500);
    this.inFlight = this.doSave(message).finally(() => {
      this.inFlight = null;
      if (this.again) {
        this.again = false;
        if (this.o.store.get().saveStatus === "dirty") void this.save();
      }
    });
    return this.inFlight;
  }

  /** Until nothing is unsaved or in flight (before a server-side change such as triage). */
  async flush(): Promise<boolean> {
    for (let i = 0; i < 6; i++) {
      if (this.inFlight) {
        await this.inFlight;
        continue;
      }
      const st = this.o.store.get().saveStatus;
      if (st === "saved") return true;
      if (st !== "dirty" && st !== "error") return false;
      await this.save();
    }
    return this.o.store.get().saveStatus === "saved";
  }

  /** Runs `fn` (a server-side change of the labels, e.g. triage) with everything saved before
   * and no save starting meanwhile; the head it reads afterwards is the parent of the next save. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T | null> {
    if (!(await this.flush())) return null;
    this.held = true;
    try {
      return await fn();
    } finally {
      this.held = false;
    }
  }

  /** Drop a pending autosave (the labels were just replaced by the server's). */
  cancelPending(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async doSave(message: string): Promise<void> {
    const { store } = this.o;
    const parent = store.get().headRevision;
    store.set({ saveStatus: "saving", message: "Saving…" });
    const labels = this.o.getLabels();
    const { bytes, counts } = await encodeLabelmap(labels);
    const findings = store.get().findings.map((f) => ({
      segment: f.segment,
      label_class: f.label_class,
      attributes: f.attributes,
    }));
    const body = {
      series_instance_uid: this.o.seriesInstanceUID,
      encoding: ENCODING,
      dtype: "uint8",
      shape: this.o.shape,
      data: toBase64(bytes),
      findings,
      message,
    };
    void backup(this.o.task, body);
    let r: Response;
    try {
      r = await (this.o.fetchImpl ?? fetch)(`${this.o.api}/tasks/${this.o.task}/labels/`, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "If-Match": `"${parent ?? "none"}"`,
          "X-CSRFToken": this.o.csrfToken,
        },
        body: JSON.stringify(body),
      });
    } catch {
      return this.retry("Network error: changes kept, retrying");
    }
    const dirtyMeanwhile = store.get().saveStatus === "dirty";
    if (r.status === 201) {
      const out = await r.json();
      this.retryMs = 1000;
      void clearBackup(this.o.task);
      store.set({
        headRevision: out.revision.id,
        findings: mergeFindings(store.get().findings, out.findings, counts),
        saveStatus: dirtyMeanwhile ? "dirty" : "saved",
        message: dirtyMeanwhile ? "Unsaved changes" : `Saved revision ${out.revision.id}`,
        taskState: out.state,
      });
      if (dirtyMeanwhile) this.schedule(500);
      return;
    }
    const err = await r.json().catch(() => ({ detail: r.statusText }));
    if (r.status === 409) {
      store.set({
        saveStatus: "conflict",
        conflictWith: err.current ?? null,
        message: err.detail ?? "Someone else saved this task",
      });
      return;
    }
    if (r.status >= 500 || r.status === 0) return this.retry(`Server error ${r.status}: retrying`);
    store.set({ saveStatus: "error", message: `Not saved: ${err.detail ?? r.status}` });
  }

  private retry(message: string): void {
    this.o.store.set({ saveStatus: "error", message });
    this.schedule(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }
}

/** Keep the client-side state of each finding, take the server's measurements and status. */
export function mergeFindings(local: Finding[], server: any[], counts: Record<number, number>): Finding[] {
  const bySeg = new Map(server.map((f) => [f.segment, f]));
  return local.map((f) => {
    const s = bySeg.get(f.segment);
    return {
      ...f,
      voxels: counts[f.segment] ?? 0,
      diameter_mm: s?.diameter_mm ?? null,
      volume_mm3: s?.volume_mm3 ?? null,
      centroid_voxel: s?.centroid_voxel ?? null,
      source: s?.source ?? f.source,
      status: s?.status ?? f.status,
    };
  });
}

const DB = "nodus-viewer";

function db(): Promise<IDBDatabase | null> {
  if (typeof indexedDB === "undefined") return Promise.resolve(null);
  return new Promise((resolve) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore("unsaved");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(null);
  });
}

async function backup(task: number, body: unknown): Promise<void> {
  const d = await db();
  d?.transaction("unsaved", "readwrite").objectStore("unsaved").put(body, task);
}

async function clearBackup(task: number): Promise<void> {
  const d = await db();
  d?.transaction("unsaved", "readwrite").objectStore("unsaved").delete(task);
}
