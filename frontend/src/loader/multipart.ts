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

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (let i = from; i <= last; i++) {
    if (hay[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export class MultipartParser {
  private buf = new Uint8Array(0);
  private readonly delim: Uint8Array;
  private started = false;
  done = false;

  constructor(boundary: string) {
    this.delim = new TextEncoder().encode(`\r\n--${boundary}`);
  }

  push(chunk: Uint8Array): Part[] {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf);
    merged.set(chunk, this.buf.length);
    this.buf = merged;
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
      const headerEnd = indexOf(this.buf, new Uint8Array([13, 10, 13, 10]), 0);
      if (headerEnd < 0) return parts;
      const next = indexOf(this.buf, this.delim, headerEnd + 4);
      if (next < 0) return parts;
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
