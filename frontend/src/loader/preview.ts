// A 2D preview of the first frame, drawn on a plain canvas over the viewport while the volume
// viewport prepares its first (software WebGL) render; removed as soon as Cornerstone has drawn.

export interface PreviewFrame {
  pixels: ArrayLike<number>;
  rows: number;
  columns: number;
  /** physical pixel size: column (x) and row (y) spacing, mm */
  spacing: [number, number];
  voi: { lower: number; upper: number } | null;
}

/** Grey levels 0..255 of `pixels` under a linear VOI (min..max of the frame when none is given). */
export function windowed(pixels: ArrayLike<number>, voi: { lower: number; upper: number } | null): Uint8ClampedArray<ArrayBuffer> {
  let { lower, upper } = voi ?? { lower: Infinity, upper: -Infinity };
  if (!voi) for (let i = 0; i < pixels.length; i++) { lower = Math.min(lower, pixels[i]); upper = Math.max(upper, pixels[i]); }
  const scale = upper > lower ? 255 / (upper - lower) : 0;
  const out = new Uint8ClampedArray(new ArrayBuffer(pixels.length * 4));
  for (let i = 0, j = 0; i < pixels.length; i++, j += 4) {
    const v = (pixels[i] - lower) * scale;
    out[j] = out[j + 1] = out[j + 2] = v;
    out[j + 3] = 255;
  }
  return out;
}

export function showPreview(host: HTMLElement, f: PreviewFrame): HTMLCanvasElement {
  const canvas = document.createElement("canvas");
  canvas.className = "preview";
  canvas.width = f.columns;
  canvas.height = f.rows;
  canvas.getContext("2d")!.putImageData(new ImageData(windowed(f.pixels, f.voi), f.columns, f.rows), 0, 0);
  // fit like the viewport does: the whole image, physical aspect kept, centred
  const w = host.clientWidth || 512;
  const h = host.clientHeight || 512;
  const [sx, sy] = f.spacing;
  const scale = Math.min(w / (f.columns * sx), h / (f.rows * sy));
  canvas.style.width = `${f.columns * sx * scale}px`;
  canvas.style.height = `${f.rows * sy * scale}px`;
  host.append(canvas);
  return canvas;
}
