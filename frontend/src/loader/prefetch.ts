// What the page needs for its first image, asked for by the small entry script before the
// Cornerstone chunk is even parsed: the series metadata, then the frames on screen (the middle
// of the volume). No Cornerstone here: plain fetch + the multipart parser.
import { MultipartParser, boundaryOf } from "./multipart";
import { BULK_STREAMS, bulkRanges, seriesGeometry, type SeriesGeometry } from "./geometry";

export interface SeriesSource {
  dicomweb: string;
  studyInstanceUID: string;
  seriesInstanceUID: string;
}

export interface Prefetch {
  geometry: Promise<SeriesGeometry>;
  /** the frames on screen first (see `firstFrameIndices`), as they arrive: slice index → bytes */
  firstFrames: Promise<Map<number, Uint8Array>>;
  /** called with each first frame the moment it is in */
  onFrame(cb: (i: number, body: Uint8Array) => void): void;
  /** sends the bulk requests (one a contiguous range of slices, 0-based inclusive) once the first
   *  frames are in (they would starve behind them); the same requests on every call */
  startBulk(): Promise<BulkStream[]>;
}

export interface BulkStream {
  range: [number, number];
  response: Promise<Response>;
}

/** The series' pixeldata in `streams` parallel range requests (`?frames=a-b`, 1-based), or one
 *  request for the whole (small) series. */
export function bulkUrls(base: string, n: number, streams = BULK_STREAMS): { range: [number, number]; url: string }[] {
  const ranges = bulkRanges(n, streams);
  return ranges.map(([a, b]) => ({
    range: [a, b],
    url: ranges.length === 1 ? `${base}/pixeldata` : `${base}/pixeldata?frames=${a + 1}-${b + 1}`,
  }));
}

/** Handed from the entry script to the viewer: the prefetch and the preview canvas painted from
 *  its first frame (`done` once Cornerstone has drawn: no preview after that). */
export interface Boot {
  prefetch: Prefetch;
  preview: { canvas: HTMLCanvasElement | null; done: boolean };
}

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

export const FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"';

export function seriesBase(src: SeriesSource): string {
  return `${src.dicomweb}/studies/${src.studyInstanceUID}/series/${src.seriesInstanceUID}`;
}

/** The viewport opens on the middle of the volume: with an even count that is either of the two
 *  middle frames (the slice direction decides which), so both are asked for. */
export function firstFrameIndices(n: number): number[] {
  if (n <= 0) return [];
  const middle = Math.floor(n / 2);
  return n % 2 === 0 && n > 1 ? [middle, middle - 1] : [middle];
}

/** One frame's bytes (the first part of the multipart answer). */
export async function fetchFrameBytes(fetchFn: Fetch, url: string): Promise<Uint8Array> {
  const r = await fetchFn(url, { credentials: "same-origin", headers: { Accept: FRAME_ACCEPT } });
  if (!r.ok) throw new Error(`frame: HTTP ${r.status}`);
  const p = new MultipartParser(boundaryOf(r.headers.get("Content-Type") ?? "") ?? "");
  const parts = p.push(new Uint8Array(await r.arrayBuffer()));
  if (!parts[0]) throw new Error("frame: empty answer");
  return parts[0].body;
}

export function prefetchSeries(src: SeriesSource, fetchFn: Fetch = (u, i) => fetch(u, i)): Prefetch {
  const base = seriesBase(src);
  const listeners: ((i: number, body: Uint8Array) => void)[] = [];
  const got = new Map<number, Uint8Array>();
  const geometry = (async () => {
    const r = await fetchFn(`${base}/metadata`, { credentials: "same-origin", headers: { Accept: "application/dicom+json" } });
    if (!r.ok) throw new Error(`series metadata: HTTP ${r.status}`);
    const g = seriesGeometry(await r.json());
    performance.mark("nodus:metadata");
    return g;
  })();
  const firstFrames = geometry.then(async (g) => {
    await Promise.all(firstFrameIndices(g.frames.length).map(async (i) => {
      const [sop, f] = g.frames[i];
      try {
        const body = await fetchFrameBytes(fetchFn, `${base}/instances/${sop}/frames/${f}`);
        got.set(i, body);
        for (const cb of listeners) cb(i, body);
      } catch {
        /* the bulk load brings it later */
      }
    }));
    return got;
  });
  let bulk: Promise<BulkStream[]> | null = null;
  const sendBulk = async () => {
    const g = await geometry;
    await firstFrames.catch(() => undefined); // they would starve behind the bulk streams
    return bulkUrls(base, g.frames.length).map(({ range, url }) => {
      const response = fetchFn(url, { credentials: "same-origin", headers: { Accept: FRAME_ACCEPT } });
      response.catch(() => undefined);
      return { range, response };
    });
  };
  // reported by whoever awaits them
  geometry.catch(() => undefined);
  firstFrames.catch(() => undefined);
  return {
    geometry,
    firstFrames,
    startBulk() {
      bulk ??= sendBulk();
      return bulk;
    },
    onFrame(cb) {
      listeners.push(cb);
      for (const [i, body] of got) cb(i, body);
    },
  };
}
