// Viewer state, separate from the UI: findings, save status, revision; UI modules subscribe.

export interface Finding {
  segment: number;
  label_class: string;
  attributes: Record<string, unknown>;
  diameter_mm?: number | null;
  volume_mm3?: number | null;
  centroid_voxel?: number[] | null;
  source?: string;
  status?: string;
  detector?: string;
  visible: boolean;
  voxels?: number;
}

/** An AI suggestion (a finding of the AI result revision) in the triage panel. */
export interface Suggestion {
  id: number;
  revision: number;
  segment: number;
  label_class: string;
  probability: number | null;
  /** What proposed it: "network", "second_stage" (blob + patch classifier), or "" (older models). */
  detector: string;
  /** How reviewers see the detector, from the API (e.g. "blob stage"); "" when unknown. */
  detector_label: string;
  diameter_mm: number | null;
  volume_mm3: number | null;
  centroid_voxel: number[] | null;
  status: string;
  model_version: number | null;
}

/** The newest pre-annotation job of the series (REST state, kept fresh by websocket events). */
export interface JobState {
  id: number;
  state: string;
  progress: number;
  stage: string;
  error: string;
  result_revision: number | null;
}

export type SaveStatus = "saved" | "dirty" | "saving" | "error" | "conflict" | "readonly";

export interface Revision {
  id: number;
  author: string | null;
  created: string;
  message: string;
  is_head: boolean;
  size: number;
}

export interface State {
  findings: Finding[];
  activeSegment: number;
  headRevision: number | null;
  saveStatus: SaveStatus;
  message: string;
  conflictWith: number | null;
  loaded: number;
  total: number;
  tool: string;
  layout: "stack" | "mpr";
  history: Revision[];
  opacity: number;
  labelsVisible: boolean;
  brushSize: number;
  threshold: [number, number];
  taskState: string;
  suggestions: Suggestion[];
  /** finding id of the selected suggestion */
  selectedSuggestion: number | null;
  aiVisible: boolean;
  aiRevision: number | null;
  job: JobState | null;
  live: string;
}

type Listener = (s: State, prev: State) => void;

export class Store {
  private s: State;
  private listeners: Listener[] = [];
  constructor(initial: State) {
    this.s = initial;
  }
  get(): State {
    return this.s;
  }
  set(patch: Partial<State>): void {
    const prev = this.s;
    this.s = { ...prev, ...patch };
    for (const l of this.listeners) l(this.s, prev);
  }
  subscribe(l: Listener): () => void {
    this.listeners.push(l);
    l(this.s, this.s);
    return () => (this.listeners = this.listeners.filter((x) => x !== l));
  }
  finding(segment: number): Finding | undefined {
    return this.s.findings.find((f) => f.segment === segment);
  }
  nextSegment(): number {
    const used = new Set(this.s.findings.map((f) => f.segment));
    for (let i = 1; i < 256; i++) if (!used.has(i)) return i;
    throw new Error("255 findings is the most a task can hold");
  }
}
