// Label volumes on the wire: run-length encoded uint8 (value u8, count u32 LE), then deflate.
// Mirrors webapp/labeling/codec.py ("rle8+deflate").

export const ENCODING = "rle8+deflate";
const RUN_BYTES = 5;

export interface SegmentCounts {
  [segment: number]: number;
}

/** Run-length encode; also counts voxels per label value (for the findings panel).
 * Label volumes are mostly background: zero stretches are skipped four bytes at a time. */
export function rleEncode(data: Uint8Array): { runs: Uint8Array; counts: SegmentCounts } {
  const counts: SegmentCounts = {};
  const n = data.length;
  if (n === 0) return { runs: new Uint8Array(0), counts };
  const words = data.byteOffset % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, n >> 2) : null;
  const nw = words ? words.length : 0;
  let out = new Uint8Array(1024 * RUN_BYTES);
  let view = new DataView(out.buffer);
  let k = 0;
  const emit = (value: number, len: number) => {
    if ((k + 1) * RUN_BYTES > out.length) {
      const grown = new Uint8Array(out.length * 2);
      grown.set(out);
      out = grown;
      view = new DataView(out.buffer);
    }
    view.setUint8(k * RUN_BYTES, value);
    view.setUint32(k * RUN_BYTES + 1, len, true);
    if (value !== 0) counts[value] = (counts[value] ?? 0) + len;
    k++;
  };
  let value = data[0];
  let start = 0;
  let i = 1;
  while (i < n) {
    if (value === 0 && words && (i & 3) === 0) {
      let w = i >> 2;
      while (w < nw && words[w] === 0) w++;
      i = w << 2;
      if (i >= n) break;
    }
    const v = data[i];
    if (v !== value) {
      emit(value, i - start);
      value = v;
      start = i;
    }
    i++;
  }
  emit(value, n - start);
  return { runs: out.slice(0, k * RUN_BYTES), counts };
}

export function rleDecode(runs: Uint8Array, size: number): Uint8Array {
  if (runs.length % RUN_BYTES !== 0) throw new Error("run-length data is not whole runs");
  const out = new Uint8Array(size);
  const view = new DataView(runs.buffer, runs.byteOffset, runs.byteLength);
  let pos = 0;
  for (let k = 0; k < runs.length; k += RUN_BYTES) {
    const value = view.getUint8(k);
    const len = view.getUint32(k + 1, true);
    if (pos + len > size) throw new Error("run-length data is longer than the volume");
    if (value !== 0) out.fill(value, pos, pos + len);
    pos += len;
  }
  if (pos !== size) throw new Error(`run-length data covers ${pos} voxels, expected ${size}`);
  return out;
}

async function pipe(data: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const body = new Blob([data as BlobPart]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

export async function encodeLabelmap(data: Uint8Array): Promise<{ bytes: Uint8Array; counts: SegmentCounts }> {
  const { runs, counts } = rleEncode(data);
  return { bytes: await pipe(runs, new CompressionStream("deflate")), counts };
}

export async function decodeLabelmap(bytes: Uint8Array, size: number): Promise<Uint8Array> {
  return rleDecode(await pipe(bytes, new DecompressionStream("deflate")), size);
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) s += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(s);
}
