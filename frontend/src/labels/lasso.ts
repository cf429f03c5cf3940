// Freehand (lasso) scissors geometry: which voxels of one labelmap slice lie inside a polygon
// drawn in index space, and what filling or erasing them changes. No Cornerstone here.

export type Point2 = [number, number];

function cleaned(polygon: Point2[]): Point2[] {
  const out: Point2[] = [];
  for (const p of polygon) {
    if (!Number.isFinite(p[0]) || !Number.isFinite(p[1])) continue;
    const last = out[out.length - 1];
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
  }
  if (out.length > 1 && out[0][0] === out[out.length - 1][0] && out[0][1] === out[out.length - 1][1]) out.pop();
  return out;
}

/**
 * Flat indices (y * width + x) of the pixels of a width × height slice whose centres (at integer
 * coordinates, as voxel centres in index space) lie inside the closed polygon: even–odd rule,
 * scanline with half-open spans, so a pixel on a shared edge is counted once and a polygon
 * without area fills nothing. Vertices outside the slice are fine: the fill is clipped to it.
 */
export function polygonPixels(width: number, height: number, polygon: Point2[]): number[] {
  const poly = cleaned(polygon);
  if (poly.length < 3 || width <= 0 || height <= 0) return [];
  let minY = Infinity;
  let maxY = -Infinity;
  for (const [, y] of poly) {
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const out: number[] = [];
  const xs: number[] = [];
  const y0 = Math.max(0, Math.ceil(minY));
  const y1 = Math.min(height - 1, Math.floor(maxY));
  for (let y = y0; y <= y1; y++) {
    xs.length = 0;
    for (let n = 0; n < poly.length; n++) {
      const [ax, ay] = poly[n];
      const [bx, by] = poly[(n + 1) % poly.length];
      if (ay <= y !== by <= y) xs.push(ax + ((y - ay) * (bx - ax)) / (by - ay));
    }
    xs.sort((a, b) => a - b);
    for (let n = 0; n + 1 < xs.length; n += 2) {
      const from = Math.max(0, Math.ceil(xs[n]));
      const to = Math.min(width, Math.ceil(xs[n + 1])); // exclusive
      for (let x = from; x < to; x++) out.push(y * width + x);
    }
  }
  return out;
}

export interface LassoEdit {
  /** flat indices into the labelmap (i fastest, then j, then k) */
  indices: number[];
  before: number[];
  after: number;
}

/**
 * The voxels a lasso changes on slice `slice` along `axis` (0 = i, 1 = j, 2 = k) of a labelmap of
 * dimensions `dims` ([i, j, k] sizes). The polygon's coordinates are the two other index axes in
 * increasing order (for axis 2: [i, j]). Filling writes `segment` over anything but locked
 * segments; erasing clears only `segment`. Unchanged voxels are left out.
 */
export function lassoEdit(
  dims: [number, number, number],
  axis: 0 | 1 | 2,
  slice: number,
  polygon: Point2[],
  segment: number,
  erase: boolean,
  valueAt: (index: number) => number,
  locked: ReadonlySet<number> = new Set(),
): LassoEdit {
  const edit: LassoEdit = { indices: [], before: [], after: erase ? 0 : segment };
  if (slice < 0 || slice >= dims[axis] || segment <= 0) return edit;
  const [u, v] = ([0, 1, 2] as const).filter((a) => a !== axis);
  const stride = [1, dims[0], dims[0] * dims[1]];
  const width = dims[u];
  for (const p of polygonPixels(width, dims[v], polygon)) {
    const x = p % width;
    const y = (p - x) / width;
    const index = x * stride[u] + y * stride[v] + slice * stride[axis];
    const value = valueAt(index);
    if (erase ? value !== segment : value === segment || locked.has(value)) continue;
    edit.indices.push(index);
    edit.before.push(value);
  }
  return edit;
}
