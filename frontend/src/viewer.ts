// The viewer: rendering engine, viewports, volume, labelmap segmentation, commands.
// UI modules talk to it through `Viewer` methods and the Store; it never builds DOM.
import { cache, Enums as csEnums, eventTarget, RenderingEngine, setVolumesForViewports, utilities as csUtils, volumeLoader } from "@cornerstonejs/core";
import * as cst from "@cornerstonejs/tools";
import { initCornerstone } from "./core/init";
import { decodeLabelmap } from "./labels/codec";
import { interpolateSegment } from "./labels/interpolate";
import { LabelSaver } from "./labels/saver";
import type { Boot } from "./loader/prefetch";
import { showPreview } from "./loader/preview";
import { loadSeries, type LoadedSeries } from "./loader/series";
import type { Finding, Store } from "./state/store";
import { activatePrimary, createToolGroup } from "./toolgroups";
import { MPR_GROUP } from "./toolgroups/mpr";
import { STACK_GROUP } from "./toolgroups/stack";
import { PRESETS, voiRange } from "./ui/keymap";

export interface ViewerConfig {
  task: number;
  state: string;
  project: string;
  schema: { classes: { name: string; color: string }[]; attributes: { name: string; type: string; min?: number; max?: number; choices?: string[] }[] };
  headRevision: number | null;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  modality: string;
  shape: [number, number, number];
  spacing: [number, number, number];
  dicomweb: string;
  api: string;
  csrfToken: string;
  user: string;
  canEdit: boolean;
  overlay: Record<string, string>;
}

const ENGINE = "nodus-engine";
/** Redraws while the series streams in, for frames not on screen (MPR views, the next slices). */
const RENDER_WHILE_LOADING_MS = 1500;
const SEG = "nodus-labels";
const LABELMAP = SEG;
/** AI suggestions: their own segmentation, drawn as outlines over the annotator's label. */
const AI_SEG = "nodus-ai";
const AI_COLORS: Record<string, [number, number, number]> = { pending: [255, 170, 0], selected: [255, 255, 60] };
const Labelmap = cst.Enums.SegmentationRepresentations.Labelmap;
const MPR_VIEWPORTS: [string, csEnums.OrientationAxis][] = [
  ["vp-axial", csEnums.OrientationAxis.AXIAL],
  ["vp-coronal", csEnums.OrientationAxis.CORONAL],
  ["vp-sagittal", csEnums.OrientationAxis.SAGITTAL],
];

export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : [255, 0, 0];
}

export class Viewer {
  engine!: RenderingEngine;
  series!: LoadedSeries;
  labelmap: any;
  aiLabelmap: any = null;
  saver!: LabelSaver;
  private mprReady = false;
  private suppressDirty = 0;
  private renderPending = false;
  private cine = false;

  constructor(public cfg: ViewerConfig, public store: Store) {}

  async start(boot?: Boot): Promise<void> {
    await initCornerstone();
    performance.mark("nodus:init");
    this.engine = new RenderingEngine(ENGINE);
    this.engine.enableElement({
      viewportId: "vp-stack",
      type: csEnums.ViewportType.ORTHOGRAPHIC,
      element: document.getElementById("vp-stack") as HTMLDivElement,
      defaultOptions: { orientation: csEnums.OrientationAxis.AXIAL, background: [0, 0, 0] },
    });
    createToolGroup(STACK_GROUP, ["vp-stack"], ENGINE);
    const have = new Set<number>();
    let onViewport = false;
    let shown = false;
    let preview: HTMLCanvasElement | null = null;
    let lastRender = 0;
    let resolveShown: () => void = () => {};
    const firstShown = new Promise<void>((resolve) => (resolveShown = resolve));
    // "first image": the slice on screen is loaded and drawn (not merely the first frame received)
    const firstImage = () => {
      if (shown || !onViewport || !have.has(this.currentSlice())) return;
      shown = true;
      performance.mark("nodus:render-start");
      this.engine.render(); // drawn in the engine's next animation frame; ours runs right after it
      requestAnimationFrame(() => {
        performance.mark("nodus:first-image");
        preview?.remove();
        if (boot) {
          boot.preview.done = true;
          boot.preview.canvas?.remove();
        }
        resolveShown();
      });
    };
    this.series = await loadSeries(this.cfg, (loaded, total, i) => {
      this.store.set({ loaded, total });
      have.add(i);
      if (loaded === 1) {
        performance.mark("nodus:first-frame");
        // (frames written while loadSeries runs come before `this.series` is set)
        if (!shown && !boot?.preview.canvas) setTimeout(() => (preview = shown ? null : this.preview(i)), 0);
      }
      if (!shown) firstImage();
      if (loaded === total) requestAnimationFrame(() => performance.mark("nodus:all-loaded"));
      // redraw for the slice on screen, otherwise every RENDER_WHILE_LOADING_MS (a render costs
      // ≈ 0.2 s of software WebGL plus the texture upload of the frames that came since)
      const now = performance.now();
      if (i === this.currentSlice() || loaded === total || now - lastRender > RENDER_WHILE_LOADING_MS) {
        lastRender = now;
        this.scheduleRender();
      }
    }, boot?.prefetch);
    const { geometry: g } = this.series;
    this.store.set({ total: g.frames.length });
    await setVolumesForViewports(this.engine, [{ volumeId: this.series.volumeId }], ["vp-stack"]);
    this.applyInitialVoi();
    onViewport = true;
    performance.mark("nodus:viewport");
    firstImage();
    // the labelmap (a second 512×512×N allocation) and the head revision wait for the first image:
    // built now, they would hold the main thread while the first frames sit in the network queue
    await Promise.race([firstShown, this.series.done, new Promise((r) => setTimeout(r, 3000))]);
    this.labelmap = volumeLoader.createAndCacheDerivedLabelmapVolume(this.series.volumeId, { volumeId: LABELMAP });
    cst.segmentation.addSegmentations([{ segmentationId: SEG, representation: { type: Labelmap, data: { volumeId: LABELMAP } } }]);
    await cst.segmentation.addLabelmapRepresentationToViewportMap({ "vp-stack": [{ segmentationId: SEG }] });
    cst.segmentation.activeSegmentation.setActiveSegmentation("vp-stack", SEG);
    this.saver = new LabelSaver({
      api: this.cfg.api, task: this.cfg.task, seriesInstanceUID: this.cfg.seriesInstanceUID,
      shape: [g.frames.length, g.rows, g.columns], csrfToken: this.cfg.csrfToken, store: this.store,
      getLabels: () => this.labels(),
    });
    eventTarget.addEventListener(cst.Enums.Events.SEGMENTATION_DATA_MODIFIED, (evt: any) => {
      if (evt?.detail?.segmentationId && evt.detail.segmentationId !== SEG) return;
      if (this.suppressDirty === 0 && this.cfg.canEdit) this.saver.markDirty();
    });
    this.store.subscribe((s, prev) => {
      if (s.findings !== prev.findings || s.opacity !== prev.opacity || s.labelsVisible !== prev.labelsVisible) this.applySegmentStyle();
      if (s.activeSegment !== prev.activeSegment) cst.segmentation.segmentIndex.setActiveSegmentIndex(SEG, s.activeSegment);
      if (s.brushSize !== prev.brushSize) this.forGroups((id) => cst.utilities.segmentation.setBrushSizeForToolGroup(id, s.brushSize));
      if (s.threshold !== prev.threshold) this.applyThreshold();
      if (s.suggestions !== prev.suggestions || s.selectedSuggestion !== prev.selectedSuggestion || s.aiVisible !== prev.aiVisible) this.applyAiStyle();
    });
    this.forGroups((id) => cst.utilities.segmentation.setBrushSizeForToolGroup(id, this.store.get().brushSize));
    this.applyThreshold();
    await this.loadHead();
    this.engine.render();
    document.getElementById("viewer-app")?.setAttribute("data-state", "ready");
    void this.series.done.then(() => {
      this.scheduleRender();
      document.getElementById("viewer-app")?.setAttribute("data-loaded", "all");
    });
  }

  /** The first frame on a plain canvas while the volume viewport prepares its first render. */
  private preview(i: number): HTMLCanvasElement | null {
    try {
      const g = this.series.geometry;
      const image: any = cache.getImage(this.series.volume.imageIds[i]);
      const pixels = image?.voxelManager?.getScalarData?.() ?? image?.getPixelData?.();
      if (!pixels) return null;
      const w = g.window ?? (g.modality === "CT" ? PRESETS.lung : null);
      const canvas = showPreview(document.getElementById("vp-stack")!, {
        pixels, rows: g.rows, columns: g.columns, spacing: [g.spacing[0], g.spacing[1]], voi: w ? voiRange(w.center, w.width) : null,
      });
      requestAnimationFrame(() => performance.mark("nodus:first-preview"));
      return canvas;
    } catch (err) {
      console.warn("preview", err);
      return null;
    }
  }

  private forGroups(fn: (id: string) => void): void {
    fn(STACK_GROUP.id);
    if (this.mprReady) fn(MPR_GROUP.id);
  }

  private viewportIds(): string[] {
    return this.store.get().layout === "mpr" ? MPR_VIEWPORTS.map(([id]) => id) : ["vp-stack"];
  }

  viewport(id = this.viewportIds()[0]): any {
    return this.engine.getViewport(id);
  }

  scheduleRender(): void {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => {
      this.renderPending = false;
      this.engine.render();
    });
  }

  currentSlice(): number {
    try {
      return this.viewport("vp-stack")?.getSliceIndex?.() ?? -1;
    } catch {
      return -1;
    }
  }

  private applyInitialVoi(): void {
    const g = this.series.geometry;
    const w = g.window ?? (g.modality === "CT" ? PRESETS.lung : null);
    if (w) this.setVoi(w.center, w.width, false); // drawn with the first frame, not before
  }

  setVoi(center: number, width: number, draw = true): void {
    for (const id of this.viewportIds()) this.viewport(id)?.setProperties({ voiRange: voiRange(center, width) });
    if (draw) this.engine.render();
  }

  preset(name: string): void {
    const p = PRESETS[name];
    if (p) this.setVoi(p.center, p.width);
  }

  setTool(name: string): boolean {
    const spec = this.store.get().layout === "mpr" ? MPR_GROUP : STACK_GROUP;
    const group = cst.ToolGroupManager.getToolGroup(spec.id);
    if (!group) return false;
    const ok = activatePrimary(group, spec, name);
    if (ok) this.store.set({ tool: name });
    return ok;
  }

  scroll(delta: number): void {
    const vp = this.viewport();
    if (vp) csUtils.scroll(vp, { delta });
  }

  toggleCine(): void {
    const el = this.viewport()?.element;
    if (!el) return;
    if (this.cine) cst.utilities.cine.stopClip(el);
    else cst.utilities.cine.playClip(el, { framesPerSecond: 15 });
    this.cine = !this.cine;
  }

  async toggleLayout(): Promise<void> {
    const next = this.store.get().layout === "mpr" ? "stack" : "mpr";
    document.getElementById("viewports")?.setAttribute("data-layout", next);
    this.store.set({ layout: next });
    if (next === "mpr" && !this.mprReady) {
      for (const [id, orientation] of MPR_VIEWPORTS) {
        this.engine.enableElement({
          viewportId: id, type: csEnums.ViewportType.ORTHOGRAPHIC,
          element: document.getElementById(id) as HTMLDivElement,
          defaultOptions: { orientation, background: [0, 0, 0] },
        });
      }
      const ids = MPR_VIEWPORTS.map(([id]) => id);
      createToolGroup(MPR_GROUP, ids, ENGINE);
      await setVolumesForViewports(this.engine, [{ volumeId: this.series.volumeId }], ids);
      await cst.segmentation.addLabelmapRepresentationToViewportMap(Object.fromEntries(ids.map((id) => [id, [{ segmentationId: SEG }]])));
      if (this.aiLabelmap) await cst.segmentation.addLabelmapRepresentationToViewportMap(Object.fromEntries(ids.map((id) => [id, [{ segmentationId: AI_SEG }]])));
      for (const id of ids) cst.segmentation.activeSegmentation.setActiveSegmentation(id, SEG);
      cst.utilities.segmentation.setBrushSizeForToolGroup(MPR_GROUP.id, this.store.get().brushSize);
      this.mprReady = true;
      this.applyThreshold();
      this.applySegmentStyle();
      this.applyAiStyle();
    }
    this.engine.resize(true, true);
    const voi = this.viewport("vp-stack")?.getProperties?.()?.voiRange;
    if (voi) for (const id of this.viewportIds()) this.viewport(id)?.setProperties({ voiRange: voi });
    if (!this.setTool(this.store.get().tool)) this.setTool(next === "mpr" ? "Crosshairs" : "WindowLevel");
    this.engine.render();
  }

  undo(): void {
    csUtils.HistoryMemo.DefaultHistoryMemo.undo();
    this.scheduleRender();
  }

  redo(): void {
    csUtils.HistoryMemo.DefaultHistoryMemo.redo();
    this.scheduleRender();
  }

  labels(): Uint8Array {
    return this.labelmap.voxelManager.getCompleteScalarDataArray() as Uint8Array;
  }

  setLabels(data: Uint8Array): void {
    this.suppressDirty++;
    try {
      this.labelmap.voxelManager.setCompleteScalarDataArray(data);
      cst.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(SEG);
    } finally {
      // the modified event may arrive a little later than this call
      setTimeout(() => this.suppressDirty--, 250);
    }
    this.scheduleRender();
  }

  /** Edits done outside the tools (interpolation, delete) go through here. */
  editLabels(fn: (labels: Uint8Array) => boolean): void {
    const data = this.labels();
    if (!fn(data)) return;
    this.labelmap.voxelManager.setCompleteScalarDataArray(data);
    cst.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(SEG);
    this.saver.markDirty();
    this.scheduleRender();
  }

  interpolateActive(): number {
    const g = this.series.geometry;
    let changed: number[] = [];
    this.editLabels((d) => {
      changed = interpolateSegment(d, { slices: g.frames.length, rows: g.rows, columns: g.columns }, this.store.get().activeSegment);
      return changed.length > 0;
    });
    return changed.length;
  }

  deleteFinding(segment: number): void {
    this.editLabels((d) => {
      let any = false;
      for (let i = 0; i < d.length; i++) if (d[i] === segment) { d[i] = 0; any = true; }
      return any;
    });
    const findings = this.store.get().findings.filter((f) => f.segment !== segment);
    this.store.set({ findings, activeSegment: findings[0]?.segment ?? 1 });
    this.saver.markDirty();
  }

  addFinding(): Finding {
    const seg = this.store.nextSegment();
    const f: Finding = { segment: seg, label_class: this.cfg.schema.classes[0]?.name ?? "nodule", attributes: {}, visible: true };
    this.store.set({ findings: [...this.store.get().findings, f], activeSegment: seg });
    return f;
  }

  jumpTo(f: Pick<Finding, "centroid_voxel">): void {
    const c = f.centroid_voxel;
    if (!c) return;
    const vp = this.viewport("vp-stack");
    const el = vp?.element;
    if (el) void csUtils.jumpToSlice(el, { imageIndex: Math.round(c[0]) });
    this.scheduleRender();
  }

  private applySegmentStyle(): void {
    const s = this.store.get();
    const colors = new Map(this.cfg.schema.classes.map((c) => [c.name, hexToRgb(c.color)]));
    cst.segmentation.config.style.setStyle({ type: Labelmap }, { fillAlpha: s.opacity, fillAlphaInactive: s.opacity, outlineOpacity: 1 } as any);
    const ids = ["vp-stack", ...(this.mprReady ? MPR_VIEWPORTS.map(([id]) => id) : [])];
    for (const id of ids) {
      for (const f of s.findings) {
        const [r, g, b] = colors.get(f.label_class) ?? [255, 0, 0];
        try {
          cst.segmentation.config.color.setSegmentIndexColor(id, SEG, f.segment, [r, g, b, 255]);
          // AI findings not accepted (yet) are drawn by the AI overlay, not as part of the label
          const undecided = f.source === "ai" && (f.status === "suggested" || f.status === "rejected");
          cst.segmentation.config.visibility.setSegmentIndexVisibility(id, { segmentationId: SEG, type: Labelmap }, f.segment, s.labelsVisible && f.visible && !undecided);
        } catch {
          /* representation not ready yet */
        }
      }
    }
    this.scheduleRender();
  }

  /** The AI result revision's label volume, shown as outlines (distinct colour, toggle with O). */
  async showAiLabels(data: Uint8Array): Promise<void> {
    const ids = this.mprReady ? ["vp-stack", ...MPR_VIEWPORTS.map(([id]) => id)] : ["vp-stack"];
    if (!this.aiLabelmap) {
      this.aiLabelmap = volumeLoader.createAndCacheDerivedLabelmapVolume(this.series.volumeId, { volumeId: AI_SEG });
      cst.segmentation.addSegmentations([{ segmentationId: AI_SEG, representation: { type: Labelmap, data: { volumeId: AI_SEG } } }]);
      await cst.segmentation.addLabelmapRepresentationToViewportMap(Object.fromEntries(ids.map((id) => [id, [{ segmentationId: AI_SEG }]])));
      for (const id of ids) {
        cst.segmentation.activeSegmentation.setActiveSegmentation(id, SEG);
        cst.segmentation.config.style.setRenderInactiveSegmentations(id, true);
      }
    }
    this.aiLabelmap.voxelManager.setCompleteScalarDataArray(data);
    cst.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(AI_SEG);
    this.applyAiStyle();
  }

  aiLabels(): Uint8Array | null {
    return this.aiLabelmap ? (this.aiLabelmap.voxelManager.getCompleteScalarDataArray() as Uint8Array) : null;
  }

  private applyAiStyle(): void {
    if (!this.aiLabelmap) return;
    const s = this.store.get();
    const outline = {
      renderFill: false, renderOutline: true, outlineWidth: 2, outlineOpacity: 1, fillAlpha: 0,
      renderFillInactive: false, renderOutlineInactive: true, outlineWidthInactive: 2, outlineOpacityInactive: 1, fillAlphaInactive: 0,
    };
    cst.segmentation.config.style.setStyle({ type: Labelmap, segmentationId: AI_SEG }, outline as any);
    const ids = ["vp-stack", ...(this.mprReady ? MPR_VIEWPORTS.map(([id]) => id) : [])];
    for (const id of ids) {
      for (const sug of s.suggestions) {
        const color = sug.id === s.selectedSuggestion ? AI_COLORS.selected : AI_COLORS.pending;
        try {
          cst.segmentation.config.color.setSegmentIndexColor(id, AI_SEG, sug.segment, [...color, 255]);
          cst.segmentation.config.visibility.setSegmentIndexVisibility(
            id, { segmentationId: AI_SEG, type: Labelmap }, sug.segment, s.aiVisible && sug.status === "suggested");
        } catch {
          /* representation not ready yet */
        }
      }
    }
    this.scheduleRender();
  }

  private applyThreshold(): void {
    const [lo, hi] = this.store.get().threshold;
    this.forGroups((id) => cst.utilities.segmentation.setBrushThresholdForToolGroup(id, { range: [lo, hi], isDynamic: false, dynamicRadius: 0 }));
  }

  async loadHead(): Promise<void> {
    const r = await fetch(`${this.cfg.api}/tasks/${this.cfg.task}/labels/`, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`labels: HTTP ${r.status}`);
    const body = await r.json();
    const findings: Finding[] = body.findings.map((f: any) => ({ ...f, visible: true }));
    if (body.head) {
      const v = await fetch(`${this.cfg.api}/revisions/${body.head.id}/volume/`, { credentials: "same-origin" });
      const data = await decodeLabelmap(new Uint8Array(await v.arrayBuffer()), this.labels().length);
      this.setLabels(data);
    }
    this.store.set({
      headRevision: body.head?.id ?? null, findings, activeSegment: findings[0]?.segment ?? 1,
      saveStatus: this.cfg.canEdit && ["new", "in_progress", "returned"].includes(body.state) ? "saved" : "readonly",
      message: body.head ? `Revision ${body.head.id}` : "No labels yet", taskState: body.state, conflictWith: null,
    });
    this.saver?.cancelPending();
    cst.segmentation.segmentIndex.setActiveSegmentIndex(SEG, this.store.get().activeSegment);
    void this.loadHistory();
  }

  async loadHistory(): Promise<void> {
    const r = await fetch(`${this.cfg.api}/revisions/?task=${this.cfg.task}&page_size=50`, { credentials: "same-origin" });
    if (r.ok) this.store.set({ history: (await r.json()).results });
  }

  private post(url: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": this.cfg.csrfToken, ...headers } });
  }

  async restore(revisionId: number): Promise<void> {
    const head = this.store.get().headRevision;
    const r = await this.post(`${this.cfg.api}/revisions/${revisionId}/restore/`, { "If-Match": `"${head ?? "none"}"` });
    if (r.status === 409) {
      const err = await r.json();
      this.store.set({ saveStatus: "conflict", conflictWith: err.current, message: err.detail });
      return;
    }
    await this.loadHead();
  }

  async submit(): Promise<void> {
    await this.saver.save();
    if (this.store.get().saveStatus !== "saved") return;
    const r = await this.post(`${this.cfg.api}/tasks/${this.cfg.task}/submit/`);
    const body = await r.json();
    if (r.ok) this.store.set({ taskState: body.state, saveStatus: "readonly", message: "Submitted" });
    else this.store.set({ message: body.detail ?? `Submit failed (${r.status})` });
  }

  pixelCount(): number {
    return cache.getCacheSize();
  }
}
