// The series' pre-annotation job in the viewer: state from REST, kept live by `series.<uid>`
// events; when a job finishes while the viewer is open, its suggestions are loaded.
import type { JobState, Store } from "../state/store";
import type { Triage } from "../triage/triage";
import type { LiveEvents } from "./events";

export function jobFrom(d: Record<string, any>): JobState {
  return {
    id: Number(d.job ?? d.id), state: String(d.state), progress: Number(d.progress ?? 0), stage: String(d.stage ?? ""),
    error: String(d.error ?? ""), result_revision: d.result_revision ?? null,
  };
}

export function watchJobs(opts: { live: LiveEvents; api: string; seriesInstanceUID: string; store: Store; triage: Triage }): void {
  const { live, api, seriesInstanceUID, store, triage } = opts;
  const maybeLoad = (job: JobState) => {
    if (job.state === "succeeded" && job.result_revision !== null && job.result_revision !== store.get().aiRevision) {
      void triage.load().catch((err) => console.error("AI suggestions", err));
    }
  };
  const resync = async () => {
    const r = await fetch(`${api}/jobs/?series_instance_uid=${encodeURIComponent(seriesInstanceUID)}&page_size=1`, { credentials: "same-origin" });
    if (!r.ok) return;
    const row = (await r.json()).results?.[0];
    if (!row) return;
    const job = jobFrom(row);
    store.set({ job });
    maybeLoad(job);
  };
  live.onState = (state) => store.set({ live: state === "live" ? "" : state });
  live.subscribe(`series.${seriesInstanceUID}`, {
    resync: () => void resync(),
    onEvent: (ev) => {
      if (!ev.type.startsWith("job.")) return;
      const current = store.get().job;
      const job = jobFrom(ev.data);
      if (current && job.id < current.id) return; // an older job's late event
      store.set({ job });
      if (ev.type === "job.finished") maybeLoad(job);
    },
  });
  void resync(); // the state now, whether or not the socket connects (then again after each connect)
  live.connect();
}
