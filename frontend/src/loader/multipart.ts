// Incremental parser of multipart/related bodies (DICOMweb bulk frames): feed chunks as they
// arrive, get each part (headers + body) as soon as its closing boundary is seen.

export interface Part {
  headers: Record<string, string>;
  body: Uint8Array;
}

export function boundaryOf(contentType: string): string | null {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  return m ? m[1] : null;
}

/** First index of `needle` in `hay` at or after `from`, -1 if none. The first byte is found with
 *  the native `Uint8Array.indexOf` (a memchr), only its candidates are compared in JS: frame
 *  bodies are hundreds of kB scanned for a ~40-byte boundary. */
export function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  for (let i = hay.indexOf(first, from); i >= 0 && i <= last; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);

export class MultipartParser {
  private buf = new Uint8Array(0);
  private readonly delim: Uint8Array;
  private started = false;
  /** where the search for the current part's closing boundary goes on (bytes before it were
   *  searched already: a part arriving in many chunks is scanned once, not once a chunk) */
  private scanFrom = 0;
  done = false;

  constructor(boundary: string) {
    this.delim = new TextEncoder().encode(`\r\n--${boundary}`);
  }

  /** unparsed bytes: `buf` is a view of `store`, which has room behind it for the next chunks
   *  (grown by doubling: a part arriving in many chunks is not copied once a chunk) */
  private store = new Uint8Array(0);

  private append(chunk: Uint8Array): void {
    const start = this.buf.byteOffset - this.store.byteOffset;
    const used = this.buf.length;
    if (this.buf.buffer !== this.store.buffer || start + used + chunk.length > this.store.length) {
      const next = new Uint8Array(Math.max(used + chunk.length, 2 * used, 1 << 16));
      next.set(this.buf);
      this.store = next;
      this.buf = next.subarray(0, used);
    }
    const at = this.buf.byteOffset - this.store.byteOffset;
    this.store.set(chunk, at + used);
    this.buf = this.store.subarray(at, at + used + chunk.length);
  }

  push(chunk: Uint8Array): Part[] {
    this.append(chunk);
    const parts: Part[] = [];
    if (!this.started) {
      // the first boundary may come without the leading CRLF
      const first = indexOf(this.buf, this.delim.subarray(2), 0);
      if (first < 0) return parts;
      this.buf = this.buf.subarray(first + this.delim.length - 2);
      this.started = true;
    }
    for (;;) {
      if (this.done) return parts;
      // after a boundary: "--" (end) or CRLF, headers, CRLFCRLF, body, CRLF--boundary
      if (this.buf.length < 2) return parts;
      if (this.buf[0] === 45 && this.buf[1] === 45) {
        this.done = true;
        return parts;
      }
      const headerEnd = indexOf(this.buf, CRLFCRLF, 0);
      if (headerEnd < 0) return parts;
      const next = indexOf(this.buf, this.delim, Math.max(headerEnd + 4, this.scanFrom));
      if (next < 0) {
        this.scanFrom = Math.max(headerEnd + 4, this.buf.length - this.delim.length + 1);
        return parts;
      }
      this.scanFrom = 0;
      const headers: Record<string, string> = {};
      for (const line of new TextDecoder().decode(this.buf.subarray(0, headerEnd)).split("\r\n")) {
        const i = line.indexOf(":");
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      parts.push({ headers, body: this.buf.slice(headerEnd + 4, next) });
      this.buf = this.buf.subarray(next + this.delim.length);
    }
  }
}
