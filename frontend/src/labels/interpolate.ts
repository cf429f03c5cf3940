// Interpolation of one segment between painted slices (shape-based: blend signed distance maps
// of the two nearest painted slices). Works on the labelmap array in (slice, row, column) order.

const BIG = 1e9;

/** Two-pass chamfer distance (3-4) to the nearest pixel where `inside(i) !== wantInside`. */
function chamfer(mask: Uint8Array, w: number, h: number, target: 0 | 1): Float32Array {
  const d = new Float32Array(w * h);
  for (let i = 0; i < d.length; i++) d[i] = mask[i] === target ? 0 : BIG;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let v = d[i];
      if (x > 0) v = Math.min(v, d[i - 1] + 3);
      if (y > 0) {
        v = Math.min(v, d[i - w] + 3);
        if (x > 0) v = Math.min(v, d[i - w - 1] + 4);
        if (x < w - 1) v = Math.min(v, d[i - w + 1] + 4);
      }
      d[i] = v;
    }
  for (let y = h - 1; y >= 0; y--)
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      let v = d[i];
      if (x < w - 1) v = Math.min(v, d[i + 1] + 3);
      if (y < h - 1) {
        v = Math.min(v, d[i + w] + 3);
        if (x < w - 1) v = Math.min(v, d[i + w + 1] + 4);
        if (x > 0) v = Math.min(v, d[i + w - 1] + 4);
      }
      d[i] = v;
    }
  return d;
}

/** Signed distance: negative inside the mask, positive outside. */
export function signedDistance(mask: Uint8Array, w: number, h: number): Float32Array {
  const out = chamfer(mask, w, h, 0); // inside: distance to background
  const outside = chamfer(mask, w, h, 1);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? -out[i] : outside[i];
  return out;
}

/**
 * Fill the slices between painted slices of `segment` (only empty voxels are written).
 * Returns the indices of slices that changed.
 */
export function interpolateSegment(
  labels: Uint8Array,
  dims: { slices: number; rows: number; columns: number },
  segment: number,
): number[] {
  const { slices, rows: h, columns: w } = dims;
  const n = w * h;
  const painted: number[] = [];
  for (let z = 0; z < slices; z++) {
    const s = labels.subarray(z * n, (z + 1) * n);
    if (s.includes(segment)) painted.push(z);
  }
  const changed: number[] = [];
  for (let k = 0; k + 1 < painted.length; k++) {
    const a = painted[k];
    const b = painted[k + 1];
    if (b - a < 2) continue;
    const mask = (z: number) => labels.subarray(z * n, (z + 1) * n).map((v) => (v === segment ? 1 : 0));
    const da = signedDistance(mask(a), w, h);
    const db = signedDistance(mask(b), w, h);
    for (let z = a + 1; z < b; z++) {
      const t = (z - a) / (b - a);
      const off = z * n;
      for (let i = 0; i < n; i++) {
        if (labels[off + i] === 0 && (1 - t) * da[i] + t * db[i] <= 0) labels[off + i] = segment;
      }
      changed.push(z);
    }
  }
  return changed;
}
