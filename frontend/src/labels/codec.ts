// Label volumes on the wire: run-length encoded uint8 (value u8, count u32 LE), then deflate.
// Mirrors webapp/labeling/codec.py ("rle8+deflate").

export const ENCODING = "rle8+deflate";
const RUN_BYTES = 5;

export interface SegmentCounts {
  [segment: number]: number;
}

/** Run-length encode; also counts voxels per label value (for the findings panel). */
export function rleEncode(data: Uint8Array): { runs: Uint8Array; counts: SegmentCounts } {
  const counts: SegmentCounts = {};
  if (data.length === 0) return { runs: new Uint8Array(0), counts };
  let n = 1;
  for (let i = 1; i < data.length; i++) if (data[i] !== data[i - 1]) n++;
  const out = new Uint8Array(n * RUN_BYTES);
  const view = new DataView(out.buffer);
  let start = 0;
  let k = 0;
  for (let i = 1; i <= data.length; i++) {
    if (i === data.length || data[i] !== data[start]) {
      const value = data[start];
      const len = i - start;
      view.setUint8(k * RUN_BYTES, value);
      view.setUint32(k * RUN_BYTES + 1, len, true);
      if (value !== 0) counts[value] = (counts[value] ?? 0) + len;
      k++;
      start = i;
    }
  }
  return { runs: out, counts };
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
