// Triage of AI suggestions in the viewer: load the AI result revision's findings and label,
// decide per finding (A / R / E), navigate (N / P). Talks to the server; the Store holds the state.
import { decodeLabelmap } from "../labels/codec";
import type { Finding, Store, Suggestion } from "../state/store";
import type { Viewer } from "../viewer";
import { nextPending, orderSuggestions, PENDING, step } from "./logic";

export type Decision = "accept" | "reject" | "edit";

export class Triage {
  private loadedRevision: number | null = null;

  constructor(private viewer: Viewer, private store: Store) {}

  private get api(): string {
    return this.viewer.cfg.api;
  }

  private async json(url: string): Promise<any> {
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  }

  /** The newest AI revision of the task (authored by a model version) and its suggestions. */
  async load(): Promise<void> {
    const revs = await this.json(`${this.api}/revisions/?task=${this.viewer.cfg.task}&page_size=100`);
    const ai = (revs.results as any[]).find((r) => r.model_version !== null && r.model_version !== undefined);
    if (!ai) return;
    const found = await this.json(`${this.api}/findings/?revision=${ai.id}&source=ai&page_size=255`);
    const suggestions: Suggestion[] = orderSuggestions(found.results.map((f: any) => ({
      id: f.id, revision: f.revision, segment: f.segment, label_class: f.label_class, probability: f.probability,
      detector: f.detector ?? "", detector_label: f.detector_label ?? "", diameter_mm: f.diameter_mm, volume_mm3: f.volume_mm3, centroid_voxel: f.centroid_voxel,
      status: f.status, model_version: f.model_version,
    })));
    if (ai.id !== this.loadedRevision && suggestions.length) {
      const v = await fetch(`${this.api}/revisions/${ai.id}/volume/`, { credentials: "same-origin" });
      if (!v.ok) throw new Error(`AI label: HTTP ${v.status}`);
      await this.viewer.showAiLabels(await decodeLabelmap(new Uint8Array(await v.arrayBuffer()), this.viewer.labels().length));
      this.loadedRevision = ai.id;
    }
    const selected = this.store.get().selectedSuggestion;
    this.store.set({
      suggestions, aiRevision: ai.id,
      selectedSuggestion: suggestions.some((s) => s.id === selected) ? selected : null,
    });
  }

  selected(): Suggestion | undefined {
    const { suggestions, selectedSuggestion } = this.store.get();
    return suggestions.find((s) => s.id === selectedSuggestion);
  }

  select(s: Suggestion | null): void {
    this.store.set({ selectedSuggestion: s?.id ?? null });
    if (s) this.viewer.jumpTo(s);
  }

  /** N / P: through the suggestions when there are any, else through the findings. */
  navigate(dir: 1 | -1): void {
    const st = this.store.get();
    if (st.suggestions.length) {
      this.select(step(st.suggestions, this.selected() ?? null, dir));
      return;
    }
    const f = step(st.findings, st.findings.find((x) => x.segment === st.activeSegment) ?? null, dir);
    if (f) {
      this.store.set({ activeSegment: f.segment });
      this.viewer.jumpTo(f);
    }
  }

  async decide(decision: Decision): Promise<void> {
    const sug = this.selected();
    if (!sug) {
      this.store.set({ message: "Select a suggestion first (N / P)" });
      return;
    }
    const { saver } = this.viewer;
    const st = this.store.get().saveStatus;
    if (st === "readonly" || st === "conflict") return;
    // the server may add a revision on top of the head: local edits are saved first, none meanwhile
    const ok = await saver.exclusive(async () => {
      const r = await fetch(`${this.api}/findings/${sug.id}/decision/`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": this.viewer.cfg.csrfToken },
        body: JSON.stringify({ decision }),
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) {
        this.store.set({ message: `Not decided: ${body.detail ?? r.status}` });
        return false;
      }
      const suggestions = this.store.get().suggestions.map((s) => (s.id === sug.id ? { ...s, status: body.status } : s));
      this.store.set({ suggestions, message: `Suggestion #${sug.segment} ${body.status}` });
      if (body.head_revision !== this.store.get().headRevision) {
        await this.viewer.loadHead(); // accepted: the finding joined the label as a new revision
      } else {
        const findings = this.store.get().findings.map((f) =>
          f.source === "ai" && f.segment === sug.segment ? { ...f, status: body.status } : f);
        this.store.set({ findings });
      }
      return true;
    });
    if (!ok) return;
    if (decision === "edit") this.edit(sug);
    const next = nextPending(this.store.get().suggestions, sug.id);
    if (next && decision !== "edit") this.select(next);
  }

  /** E: make the suggestion editable in the annotator's label (copied in when it is not there yet). */
  private edit(sug: Suggestion): void {
    const inLabel = this.store.get().findings.find((f) => f.source === "ai" && f.segment === sug.segment);
    let segment = inLabel?.segment;
    if (segment === undefined) {
      const ai = this.viewer.aiLabels();
      if (!ai) return;
      const seg: number = this.viewer.addFinding().segment;
      segment = seg;
      const findings: Finding[] = this.store.get().findings.map((f) => (f.segment === seg ? { ...f, label_class: sug.label_class } : f));
      this.store.set({ findings });
      this.viewer.editLabels((d) => {
        let any = false;
        for (let i = 0; i < d.length; i++) if (ai[i] === sug.segment && d[i] === 0) { d[i] = seg; any = true; }
        return any;
      });
    }
    this.store.set({ activeSegment: segment });
    this.viewer.setTool("Brush");
  }

  pending(): number {
    return this.store.get().suggestions.filter((s) => s.status === PENDING).length;
  }
}
