// Writes rows in PostgreSQL's COPY text format straight into ~256 KB Buffers: the same bytes as
// bulk.copyRowLine, without a string per value or per row. For bulk writes of many rows
// (the merged snapshot, the speed state); take() hands a full chunk to the COPY stream and starts
// a new one (a chunk given away is never written to again).

const CHUNK_BYTES = 256 * 1024;
const TAB = 9;
const NL = 10;
const CR = 13;
const BACKSLASH = 92;

export class CopyTextWriter {
  private out = Buffer.allocUnsafe(CHUNK_BYTES);
  private pos = 0;
  private full: Buffer | undefined;
  private lineStart = true;

  /** Makes room for a row of at most `bytes` bytes; the chunk filled so far becomes full. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.out.length) return;
    if (this.pos > 0) this.full = this.out.subarray(0, this.pos);
    this.out = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
    this.pos = 0;
  }

  /** A chunk filled by reserve(), once (to hand to the COPY stream); else undefined. */
  takeFull(): Buffer | undefined {
    const f = this.full;
    this.full = undefined;
    return f;
  }

  /** The last, partly filled chunk (after the last row); undefined if empty. */
  finish(): Buffer | undefined {
    const f = this.pos > 0 ? this.out.subarray(0, this.pos) : undefined;
    this.out = Buffer.allocUnsafe(0);
    this.pos = 0;
    return f;
  }

  endRow(): void {
    this.out[this.pos++] = NL;
    this.lineStart = true;
  }

  null(): void {
    this.sep();
    this.out[this.pos++] = BACKSLASH;
    this.out[this.pos++] = 78; // \N
  }

  /** UTF-8 bytes [s, e) of src, escaped: at most 2 * (e - s) bytes. */
  bytes(src: Uint8Array, s: number, e: number): void {
    this.sep();
    this.escaped(src, s, e);
  }

  /** Text, escaped, or NULL: at most 6 * s.length bytes. */
  text(s: string | null): void {
    if (s === null) { this.null(); return; }
    this.sep();
    if (!/[\\\t\n\r]/.test(s)) { this.pos += this.out.write(s, this.pos, 'utf8'); return; }
    const b = Buffer.from(s, 'utf8');
    this.escaped(b, 0, b.length);
  }

  /** A safe integer: at most 17 bytes. */
  int(v: number): void {
    this.sep();
    this.pos = decimal(this.out, this.pos, v);
  }

  /** An int64: at most 20 bytes. */
  big(v: bigint): void {
    this.sep();
    this.ascii(String(v));
  }

  /** Row i of an int64 column, read as numbers through its int32 halves where exact: at most 20 bytes. */
  int64At(col: BigInt64Array, halves: Int32Array, i: number): void {
    this.sep();
    const hi = halves[2 * i + 1] as number;
    if (hi >= -SAFE_HI && hi < SAFE_HI) this.pos = decimal(this.out, this.pos, hi * TWO_32 + ((halves[2 * i] as number) >>> 0));
    else this.ascii(String(col[i]));
  }

  private sep(): void {
    if (this.lineStart) this.lineStart = false;
    else this.out[this.pos++] = TAB;
  }

  private escaped(src: Uint8Array, s: number, e: number): void {
    const out = this.out;
    let pos = this.pos;
    for (let k = s; k < e; k++) {
      const c = src[k] as number;
      if (c === BACKSLASH || c === TAB || c === NL || c === CR) {
        out[pos++] = BACKSLASH;
        out[pos++] = c === BACKSLASH ? BACKSLASH : c === TAB ? 116 : c === NL ? 110 : 114;
      } else out[pos++] = c;
    }
    this.pos = pos;
  }

  private ascii(s: string): void {
    const out = this.out;
    let pos = this.pos;
    for (let k = 0; k < s.length; k++) out[pos++] = s.charCodeAt(k);
    this.pos = pos;
  }
}

/** Upper bound of one field's bytes besides text: a tab and an int64. */
export const FIELD_BYTES = 21;

const TWO_32 = 4294967296;
/** |hi| below this: hi * 2^32 + lo is below 2^53, exact as a double. */
const SAFE_HI = 2 ** 21;

/** A safe integer in decimal at out[pos]; returns the new position. */
function decimal(out: Buffer, pos: number, v: number): number {
  if (v < 0) { out[pos++] = 45; v = -v; }
  if (v < 10) { out[pos++] = 48 + v; return pos; }
  if (v < 2147483648) {
    // int32 arithmetic: digits counted first, then written from the right
    let n = v | 0;
    let end = pos + 1;
    for (let t = n; t >= 10; t = (t / 10) | 0) end++;
    let p = end;
    do { const q = (n / 10) | 0; out[--p] = 48 + n - q * 10; n = q; } while (n > 0);
    return end;
  }
  const s = String(v);
  for (let k = 0; k < s.length; k++) out[pos++] = s.charCodeAt(k);
  return pos;
}
