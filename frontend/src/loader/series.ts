// Loads a series into a Cornerstone volume: lean path = DICOM JSON metadata and the middle frames
// (asked for by the entry script, see prefetch.ts), then every frame in a few parallel bulk
// multipart requests over contiguous slice ranges (streamed), written slice by slice with a
// progress callback.
import { cache, imageLoader, volumeLoader } from "@cornerstonejs/core";
import { MultipartParser, boundaryOf } from "./multipart";
import { fitsInt16, rescaleFrame, type SeriesGeometry } from "./geometry";
import { fetchFrameBytes, firstFrameIndices, prefetchSeries, seriesBase, type Prefetch, type SeriesSource } from "./prefetch";

export interface LoadedSeries {
  volumeId: string;
  volume: any;
  geometry: SeriesGeometry;
  /** resolves when every frame is in */
  done: Promise<void>;
}

export type { SeriesSource };

let loaderRegistered = false;

/** Slices of local volumes live in the cache; viewports that "load" them get the cached image. */
function registerLocalImageLoader(): void {
  if (loaderRegistered) return;
  loaderRegistered = true;
  imageLoader.registerImageLoader("nodus", ((imageId: string) => {
    const image = cache.getImage(imageId);
    return { promise: image ? Promise.resolve(image) : Promise.reject(new Error(`${imageId} is not loaded`)) };
  }) as any);
}

function frameKey(sop: string, frame: number): string {
  return `${sop}/${frame}`;
}

export async function loadSeries(
  src: SeriesSource,
  onProgress: (loaded: number, total: number, sliceIndex: number) => void,
  prefetch: Prefetch = prefetchSeries(src),
): Promise<LoadedSeries> {
  const base = seriesBase(src);
  const g = await prefetch.geometry;
  const n = g.frames.length;
  const sliceLen = g.rows * g.columns;
  // unsigned 16-bit pixels (DX, MG) or a large rescale do not fit int16: those volumes are float
  const ArrayType = fitsInt16(g) ? Int16Array : Float32Array;
  registerLocalImageLoader();
  const volumeId = `nodus:${src.seriesInstanceUID}`;
  const volume: any = volumeLoader.createLocalVolume(volumeId, {
    metadata: {
      BitsAllocated: g.bitsAllocated,
      BitsStored: g.bitsAllocated,
      SamplesPerPixel: 1,
      HighBit: g.bitsAllocated - 1,
      PhotometricInterpretation: "MONOCHROME2",
      PixelRepresentation: 1,
      Modality: g.modality,
      SeriesInstanceUID: src.seriesInstanceUID,
      ImageOrientationPatient: g.direction.slice(0, 6),
      PixelSpacing: [g.spacing[1], g.spacing[0]],
      FrameOfReferenceUID: `nodus-for-${src.seriesInstanceUID}`,
      Columns: g.columns,
      Rows: g.rows,
      voiLut: g.window ? [{ windowCenter: g.window.center, windowWidth: g.window.width }] : [],
      VOILUTFunction: "LINEAR",
    },
    dimensions: [g.columns, g.rows, n],
    spacing: g.spacing,
    origin: g.origin,
    direction: g.direction,
    scalarData: new ArrayType(sliceLen * n),
  });
  performance.mark("nodus:volume");
  const index = new Map(g.frames.map(([sop, f], i) => [frameKey(sop, f), i]));
  const have = new Uint8Array(n);
  let loaded = 0;
  const write = (i: number, body: Uint8Array) => {
    if (have[i]) return;
    const image: any = cache.getImage(volume.imageIds[i]);
    const target = (image?.voxelManager?.getScalarData?.() ?? image?.getPixelData?.()) as Int16Array | Float32Array;
    rescaleFrame(body, g, target);
    have[i] = 1;
    loaded++;
    volume.vtkOpenGLTexture?.setUpdatedFrame?.(i);
    volume.imageData?.modified?.();
    onProgress(loaded, n, i);
  };

  const frameUrl = (i: number) => `${base}/instances/${g.frames[i][0]}/frames/${g.frames[i][1]}`;
  const fetchFrame = async (i: number) => write(i, await fetchFrameBytes((u, init) => fetch(u, init), frameUrl(i)));

  // the frames on screen were asked for before the bulk streams (which would starve them); the
  // ones already in are written now, before the volume is on a viewport (its first render then
  // draws them)
  prefetch.onFrame(write);
  const middle = firstFrameIndices(n)[0];
  const first = prefetch.firstFrames.then(() => undefined, () => undefined);
  // One streamed multipart request per contiguous range of slices (`?frames=a-b`), a few in
  // parallel (sent by the prefetch): each runs on its own server thread and connection, so file
  // reads, copies (and gzip, for a remote client) of the ranges overlap.
  const stream = async (a: number, response: Promise<Response>) => {
    const r = await response;
    if (!r.ok || !r.body) throw new Error(`bulk frames: HTTP ${r.status}`);
    const parser = new MultipartParser(boundaryOf(r.headers.get("Content-Type") ?? "") ?? "");
    const reader = r.body.getReader();
    let seq = a;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const part of parser.push(value)) {
        const loc = part.headers["content-location"] ?? "";
        const m = /instances\/([^/]+)\/frames\/(\d+)$/.exec(loc);
        const i = m ? (index.get(frameKey(m[1], Number(m[2]))) ?? seq) : seq;
        write(i, part.body);
        seq++;
      }
    }
  };
  const bulk = async () => {
    const streams = await prefetch.startBulk();
    await Promise.all(streams.map(({ range, response }) => stream(range[0], response)));
  };
  const done = (async () => {
    try {
      await bulk();
    } catch {
      // no bulk endpoint: one request a frame, a few at a time, middle first
      const order = [...Array(n).keys()].sort((a, b) => Math.abs(a - middle) - Math.abs(b - middle));
      const queue = order.filter((i) => !have[i]);
      await Promise.all(Array.from({ length: 6 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) await fetchFrame(i);
      }));
    }
    await first;
  })();
  return { volumeId, volume, geometry: g, done };
}
