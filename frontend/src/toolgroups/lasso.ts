// Freehand (lasso) scissors: drag a closed outline on a slice; on release the active segment is
// filled inside it (Shift held: erased). The voxels go through the labelmap's voxel manager, a
// history memo (undo/redo) and SEGMENTATION_DATA_MODIFIED (unsaved state, autosave), like the brush.
import { cache, getEnabledElement, utilities as csUtils, type Types } from "@cornerstonejs/core";
import * as cst from "@cornerstonejs/tools";
import { lassoEdit, type Point2 } from "../labels/lasso";

const { Events } = cst.Enums;
const seg = cst.segmentation;

interface Drawing {
  element: HTMLDivElement;
  viewportId: string;
  points: Types.Point3[];
  erase: boolean;
}

/** The index axis (0 = i, 1 = j, 2 = k) closest to the view's normal. */
export function sliceAxis(direction: ArrayLike<number>, normal: ArrayLike<number>): 0 | 1 | 2 {
  let best: 0 | 1 | 2 = 2;
  let bestDot = -1;
  for (const a of [0, 1, 2] as const) {
    const dot = Math.abs(direction[3 * a] * normal[0] + direction[3 * a + 1] * normal[1] + direction[3 * a + 2] * normal[2]);
    if (dot > bestDot) [best, bestDot] = [a, dot];
  }
  return best;
}

export class LassoScissorsTool extends cst.BaseTool {
  static toolName = "LassoScissors";
  private drawing: Drawing | null = null;

  constructor(toolProps = {}, defaultToolProps = { supportedInteractionTypes: ["Mouse"], configuration: {} }) {
    super(toolProps, defaultToolProps as any);
  }

  preMouseDownCallback = (evt: any): boolean => {
    if (this.drawing) return true;
    const { element, currentPoints, event } = evt.detail;
    const viewport = getEnabledElement(element)?.viewport;
    if (!viewport || !seg.activeSegmentation.getActiveSegmentation(viewport.id)) return false;
    this.drawing = { element, viewportId: viewport.id, points: [[...currentPoints.world] as Types.Point3], erase: !!event?.shiftKey };
    element.addEventListener(Events.MOUSE_DRAG, this.onDrag);
    element.addEventListener(Events.MOUSE_UP, this.onEnd);
    element.addEventListener(Events.MOUSE_CLICK, this.onEnd);
    evt.preventDefault();
    this.redraw();
    return true;
  };

  private onDrag = (evt: any): void => {
    if (!this.drawing) return;
    const world = evt.detail.currentPoints.world as Types.Point3;
    const last = this.drawing.points[this.drawing.points.length - 1];
    if (world[0] !== last[0] || world[1] !== last[1] || world[2] !== last[2]) this.drawing.points.push([...world] as Types.Point3);
    this.redraw();
  };

  private onEnd = (): void => {
    const d = this.drawing;
    if (!d) return;
    this.drawing = null;
    d.element.removeEventListener(Events.MOUSE_DRAG, this.onDrag);
    d.element.removeEventListener(Events.MOUSE_UP, this.onEnd);
    d.element.removeEventListener(Events.MOUSE_CLICK, this.onEnd);
    try {
      this.apply(d);
    } finally {
      cst.utilities.triggerAnnotationRenderForViewportIds([d.viewportId]);
    }
  };

  private redraw(): void {
    if (this.drawing) cst.utilities.triggerAnnotationRenderForViewportIds([this.drawing.viewportId]);
  }

  renderAnnotation = (enabledElement: Types.IEnabledElement, svgDrawingHelper: any): boolean => {
    const d = this.drawing;
    const { viewport } = enabledElement;
    if (!d || viewport.id !== d.viewportId || d.points.length < 2) return false;
    const canvas = d.points.map((p) => viewport.worldToCanvas(p));
    cst.drawing.drawPolyline(svgDrawingHelper, "nodus-lasso", "outline", canvas, {
      color: d.erase ? "rgb(255, 90, 90)" : "rgb(255, 255, 0)",
      lineWidth: 1.5,
      lineDash: d.erase ? "4,3" : undefined,
      closePath: true,
    });
    return true;
  };

  private apply(d: Drawing): void {
    const enabled = getEnabledElement(d.element);
    const active = enabled && seg.activeSegmentation.getActiveSegmentation(enabled.viewport.id);
    if (!enabled || !active) return;
    const { segmentationId } = active;
    const volumeId = (active.representationData as any)?.Labelmap?.volumeId;
    const volume: any = volumeId && cache.getVolume(volumeId);
    if (!volume) return; // image-based (stack) labelmaps: not supported, the viewer uses volumes
    const segment = seg.segmentIndex.getActiveSegmentIndex(segmentationId) ?? 0;
    if (seg.segmentLocking.isSegmentIndexLocked(segmentationId, segment)) return;
    const normal = enabled.viewport.getCamera().viewPlaneNormal!;
    const axis = sliceAxis(volume.direction, normal);
    const ijk = d.points.map((p) => csUtils.transformWorldToIndexContinuous(volume.imageData, p));
    const slice = Math.round(ijk.reduce((s, p) => s + p[axis], 0) / ijk.length);
    const [u, v] = ([0, 1, 2] as const).filter((a) => a !== axis);
    const polygon: Point2[] = ijk.map((p) => [p[u], p[v]]);
    const vm = volume.voxelManager;
    const locked = new Set<number>(seg.segmentLocking.getLockedSegmentIndices(segmentationId));
    const edit = lassoEdit(volume.dimensions, axis, slice, polygon, segment, d.erase, (n) => vm.getAtIndex(n), locked);
    if (!edit.indices.length) return;
    const write = (undo: boolean) => {
      for (let n = 0; n < edit.indices.length; n++) vm.setAtIndex(edit.indices[n], undo ? edit.before[n] : edit.after);
      seg.triggerSegmentationEvents.triggerSegmentationDataModified(segmentationId);
    };
    write(false);
    csUtils.HistoryMemo.DefaultHistoryMemo.push({ restoreMemo: write, operationType: "labelmap" } as any);
  }
}
