// Series geometry from DICOM JSON (WADO-RS /metadata): slice order, spacing, direction, pixel
// format and the rescale to modality units. Pure functions, tested with Vitest.

type DicomJson = Record<string, { vr?: string; Value?: unknown[] }>;

export interface SliceInfo {
  sopInstanceUID: string;
  instanceNumber: number;
  position: [number, number, number];
  frames: number;
}

export interface SeriesGeometry {
  rows: number;
  columns: number;
  slices: SliceInfo[];
  /** one entry a frame, in slice order: [sopInstanceUID, frame number] */
  frames: [string, number][];
  spacing: [number, number, number]; // column (x), row (y), slice (z) mm
  origin: [number, number, number];
  direction: [number, number, number, number, number, number, number, number, number];
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  slope: number;
  intercept: number;
  window: { center: number; width: number } | null;
  modality: string;
  photometric: string;
  samplesPerPixel: number;
}

const first = (ds: DicomJson, tag: string): unknown => ds[tag]?.Value?.[0];
const num = (ds: DicomJson, tag: string, dflt: number): number => {
  const v = first(ds, tag);
  const n = typeof v === "string" ? parseFloat(v) : (v as number);
  return Number.isFinite(n) ? n : dflt;
};
const nums = (ds: DicomJson, tag: string): number[] => (ds[tag]?.Value ?? []).map((v) => Number(v));
const str = (ds: DicomJson, tag: string): string => String(first(ds, tag) ?? "");

function cross(a: number[], b: number[]): [number, number, number] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
const dot = (a: number[], b: number[]): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

export function seriesGeometry(instances: DicomJson[]): SeriesGeometry {
  if (!instances.length) throw new Error("the series has no instances");
  const ds0 = instances[0];
  const orient = nums(ds0, "00200037");
  const row = orient.length === 6 ? orient.slice(0, 3) : [1, 0, 0];
  const col = orient.length === 6 ? orient.slice(3, 6) : [0, 1, 0];
  const normal = cross(row, col);
  const slices: SliceInfo[] = instances.map((ds, i) => {
    const p = nums(ds, "00200032");
    return {
      sopInstanceUID: str(ds, "00080018"),
      instanceNumber: num(ds, "00200013", i + 1),
      position: (p.length === 3 ? p : [0, 0, i]) as [number, number, number],
      frames: Math.max(1, num(ds, "00280008", 1)),
    };
  });
  slices.sort((a, b) => dot(a.position, normal) - dot(b.position, normal) || a.instanceNumber - b.instanceNumber);
  const ps = nums(ds0, "00280030");
  const [rowSpacing, colSpacing] = ps.length === 2 ? ps : [1, 1];
  let sliceSpacing = num(ds0, "00180088", num(ds0, "00180050", 1));
  if (slices.length > 1) {
    const d = Math.abs(dot(slices[1].position, normal) - dot(slices[0].position, normal));
    if (d > 1e-4) sliceSpacing = d;
  }
  const wc = first(ds0, "00281050");
  const ww = first(ds0, "00281051");
  const frames: [string, number][] = [];
  for (const s of slices) for (let f = 1; f <= s.frames; f++) frames.push([s.sopInstanceUID, f]);
  return {
    rows: num(ds0, "00280010", 0),
    columns: num(ds0, "00280011", 0),
    slices,
    frames,
    spacing: [colSpacing, rowSpacing, sliceSpacing || 1],
    origin: slices[0].position,
    direction: [...row, ...col, ...normal] as SeriesGeometry["direction"],
    bitsAllocated: num(ds0, "00280100", 16),
    bitsStored: num(ds0, "00280101", num(ds0, "00280100", 16)),
    pixelRepresentation: num(ds0, "00280103", 0),
    slope: num(ds0, "00281053", 1),
    intercept: num(ds0, "00281052", 0),
    window: wc !== undefined && ww !== undefined ? { center: Number(wc), width: Number(ww) } : null,
    modality: str(ds0, "00080060"),
    photometric: str(ds0, "00280004") || "MONOCHROME2",
    samplesPerPixel: num(ds0, "00280002", 1),
  };
}

/** Stored pixels of one frame (little endian) → modality values (e.g. HU) into `out`. */
export function rescaleFrame(
  bytes: Uint8Array,
  g: Pick<SeriesGeometry, "bitsAllocated" | "pixelRepresentation" | "slope" | "intercept" | "samplesPerPixel" | "photometric">,
  out: Float32Array | Int16Array,
): void {
  const n = out.length;
  const buf = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  let src: ArrayLike<number>;
  if (g.bitsAllocated === 8) src = buf;
  else if (g.bitsAllocated === 32) src = g.pixelRepresentation ? new Int32Array(buf.buffer, buf.byteOffset, n) : new Uint32Array(buf.buffer, buf.byteOffset, n);
  else src = g.pixelRepresentation ? new Int16Array(buf.buffer, buf.byteOffset, n) : new Uint16Array(buf.buffer, buf.byteOffset, n);
  const spp = g.samplesPerPixel;
  const invert = g.photometric === "MONOCHROME1";
  if (spp === 1 && !invert) {
    // grey, not inverted (CT, MR): one monomorphic loop per source type, no per-pixel branches
    rescaleGrey(src, g.slope, g.intercept, out);
    return;
  }
  for (let i = 0; i < n; i++) {
    // colour (US) frames are shown as luminance
    let v = spp === 3 ? 0.299 * src[i * 3] + 0.587 * src[i * 3 + 1] + 0.114 * src[i * 3 + 2] : src[i];
    v = v * g.slope + g.intercept;
    out[i] = invert ? -v : v;
  }
}

function rescaleGrey(src: ArrayLike<number>, slope: number, intercept: number, out: Float32Array | Int16Array): void {
  const n = out.length;
  if (slope === 1) {
    if (src instanceof Int16Array) for (let i = 0; i < n; i++) out[i] = src[i] + intercept;
    else if (src instanceof Uint16Array) for (let i = 0; i < n; i++) out[i] = src[i] + intercept;
    else for (let i = 0; i < n; i++) out[i] = src[i] + intercept;
  } else {
    for (let i = 0; i < n; i++) out[i] = src[i] * slope + intercept;
  }
}

/** Parallel bulk requests for a series of more than a few dozen frames. */
export const BULK_STREAMS = 3;

/** `n` frames split into at most `streams` contiguous [first, last] ranges (0-based, inclusive),
 *  one range for a small series. */
export function bulkRanges(n: number, streams: number): [number, number][] {
  const k = n >= 16 * streams ? streams : 1;
  const out: [number, number][] = [];
  for (let j = 0; j < k; j++) {
    const a = Math.floor((j * n) / k);
    const b = Math.floor(((j + 1) * n) / k) - 1;
    if (b >= a) out.push([a, b]);
  }
  return out;
}

/** Whether the series' modality values go into an Int16Array (else Float32): grey pixels with an
 *  integral rescale; signed pixels as before (CT: stored int16, intercept −1024, real values stay
 *  in range); unsigned pixels (DX, MG: up to 65535) only when their rescaled range fits int16. */
export function fitsInt16(
  g: Pick<SeriesGeometry, "bitsAllocated" | "bitsStored" | "pixelRepresentation" | "slope" | "intercept" | "samplesPerPixel" | "photometric">,
): boolean {
  if (!Number.isInteger(g.slope) || !Number.isInteger(g.intercept) || g.bitsAllocated > 16 || g.samplesPerPixel !== 1) return false;
  if (g.pixelRepresentation) return true;
  const bits = Math.min(g.bitsStored || g.bitsAllocated, g.bitsAllocated);
  const ends = [g.intercept, (2 ** bits - 1) * g.slope + g.intercept];
  const vals = g.photometric === "MONOCHROME1" ? ends.map((v) => -v) : ends;
  return Math.min(...vals) >= -32768 && Math.max(...vals) <= 32767;
}
