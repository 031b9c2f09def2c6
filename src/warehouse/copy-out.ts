// Reads PostgreSQL's COPY text format (what `COPY (SELECT key, m1, ..., mN ...) TO STDOUT`
// sends): one row a line, tab-separated, \N for NULL, backslash escapes in text. The batch load
// streams a million rows through this, so it works on the bytes as they arrive: a key becomes a
// string once, and a metric of up to 15 digits is summed as a number (exact: below 2^53) and
// handed over as such; only longer ones become BigInts. A malformed row is an error naming the
// row, never a silently wrong value.
import { LsError } from '../errors.js';

const TAB = 9;
const NL = 10;
const BACKSLASH = 92;
const MINUS = 45;
const ZERO = 48;
const N_UPPER = 78;
/** Digits that always fit a double exactly (10^15 < 2^53). */
const SAFE_DIGITS = 15;

/** Where rows go: the key as UTF-8 bytes (a range of a reused buffer) or NULL, and the metric
 * values as numbers (safe integers) or bigints; NULL metrics arrive as 0. The values array is
 * reused for the next row: copy what you keep. */
export interface KeyRowSink {
  add(key: null, metrics: ArrayLike<number | bigint>): void;
  addBytes(buf: Uint8Array, start: number, end: number, metrics: ArrayLike<number | bigint>): void;
}

export class CopyKeyRowParser {
  private carry: Buffer | undefined;
  private readonly values: Array<number | bigint>;
  rows = 0;

  constructor(private readonly metricCount: number, private readonly sink: KeyRowSink) {
    this.values = new Array<number | bigint>(metricCount).fill(0);
  }

  push(chunk: Buffer): void {
    this.pushRange(chunk, 0, chunk.length);
  }

  /** Bytes [s, e) of buf continue the text. PostgreSQL sends one row per CopyData message, so
   * a range usually ends a row: then it is parsed in place, with no copy. */
  pushRange(buf: Buffer, s: number, e: number): void {
    if (s >= e) return;
    if (this.carry !== undefined) {
      const joined = Buffer.concat([this.carry, buf.subarray(s, e)]);
      this.carry = undefined;
      this.pushRange(joined, 0, joined.length);
      return;
    }
    const last = buf[e - 1] === NL ? e - 1 : buf.lastIndexOf(NL, e - 1);
    const complete = last >= s ? last + 1 : s; // rows before this end are whole
    let i = s;
    while (i < complete) i = this.row(buf, i) + 1;
    if (complete < e) this.carry = Buffer.from(buf.subarray(complete, e));
  }

  /** The stream ended: nothing may be left half-read. */
  end(): void {
    if (this.carry !== undefined && this.carry.length > 0) throw this.bad('the data ends inside a row');
  }

  /** Parses the row starting at s (a newline follows it in buf) and returns its newline's index. */
  private row(buf: Buffer, s: number): number {
    const line = this.rows + 1;
    let i = s;
    let c = buf[i] as number;
    let escaped = false;
    while (c !== TAB && c !== NL) { if (c === BACKSLASH) escaped = true; c = buf[++i] as number; }
    const keyEnd = i;
    const values = this.values;
    for (let m = 0; m < this.metricCount; m++) {
      if (c !== TAB) throw this.bad(`row ${line} has ${m + 1} columns, expected ${this.metricCount + 1}`);
      const from = ++i; // past the tab
      c = buf[i] as number;
      if (c === BACKSLASH && buf[i + 1] === N_UPPER) {
        values[m] = 0; // a NULL metric counts as 0, as everywhere in the merge
        i += 2;
        c = buf[i] as number;
        if (c !== TAB && c !== NL) throw this.notInteger(buf, line, m, from);
        continue;
      }
      const neg = c === MINUS;
      if (neg) c = buf[++i] as number;
      const digitsFrom = i;
      let v = 0;
      while (c >= ZERO && c <= ZERO + 9) { v = v * 10 + (c - ZERO); c = buf[++i] as number; }
      const digits = i - digitsFrom;
      if (digits === 0 || (c !== TAB && c !== NL)) throw this.notInteger(buf, line, m, from);
      if (digits <= SAFE_DIGITS) values[m] = neg ? -v : v;
      else {
        const big = BigInt(buf.toString('latin1', from, i));
        // a numeric column may hold more than int64 does: refused, never wrapped
        if (BigInt.asIntN(64, big) !== big) throw this.bad(`row ${line}, column ${m + 2}: ${big} is outside int64`);
        values[m] = big;
      }
    }
    if (c !== NL) throw this.bad(`row ${line} has more than ${this.metricCount + 1} columns`);
    this.rows = line;
    if (keyEnd - s === 2 && buf[s] === BACKSLASH && buf[s + 1] === N_UPPER) this.sink.add(null, values);
    else if (escaped) {
      const key = unescapeBytes(buf, s, keyEnd);
      this.sink.addBytes(key, 0, key.length, values);
    } else this.sink.addBytes(buf, s, keyEnd, values);
    return i;
  }

  private notInteger(buf: Buffer, line: number, m: number, from: number): LsError {
    let to = from;
    while (to < buf.length && to < from + 40 && buf[to] !== TAB && buf[to] !== NL) to++;
    return this.bad(`row ${line}, column ${m + 2}: "${buf.toString('utf8', from, to)}" is not an integer`);
  }

  private bad(what: string): LsError {
    return new LsError('LS_BATCH_LOAD', `unexpected COPY output from the batch table: ${what}`);
  }
}

/** The bytes of a text field with backslash escapes (PostgreSQL's COPY text format). */
export function unescapeBytes(buf: Buffer, s: number, e: number): Buffer {
  const out: number[] = [];
  for (let i = s; i < e; i++) {
    const c = buf[i] as number;
    if (c !== BACKSLASH || i + 1 >= e) { out.push(c); continue; }
    const n = buf[++i] as number;
    switch (n) {
      case 98: out.push(8); break; // \b
      case 102: out.push(12); break; // \f
      case 110: out.push(10); break; // \n
      case 114: out.push(13); break; // \r
      case 116: out.push(9); break; // \t
      case 118: out.push(11); break; // \v
      case 120: { // \xh or \xhh
        let v = 0;
        let k = 0;
        while (k < 2 && i + 1 < e && isHex(buf[i + 1] as number)) { v = v * 16 + parseInt(String.fromCharCode(buf[++i] as number), 16); k++; }
        out.push(k === 0 ? 120 : v);
        break;
      }
      default:
        if (n >= ZERO && n <= ZERO + 7) { // \o, \oo or \ooo
          let v = n - ZERO;
          for (let k = 1; k < 3 && i + 1 < e && (buf[i + 1] as number) >= ZERO && (buf[i + 1] as number) <= ZERO + 7; k++) v = v * 8 + ((buf[++i] as number) - ZERO);
          out.push(v & 0xff);
        } else out.push(n); // \\ and any other escaped character stand for themselves
    }
  }
  return Buffer.from(out);
}

function isHex(c: number): boolean {
  return (c >= ZERO && c <= ZERO + 9) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

// ---------- the COPY OUT protocol ----------

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'

interface PgConnection {
  readonly stream: NodeJS.EventEmitter;
  query(text: string): void;
}
type DataListener = (chunk: Buffer) => void;

/**
 * `COPY ... TO STDOUT` as a pg submittable (client.query(new CopyOut(...))) that hands each
 * CopyData payload to `onData` as a range of the socket's own buffer. pg-copy-streams' `to()`
 * does the same job as a Readable, but copies every message (one per row: a million Buffer
 * slices for a million rows), which alone cost as much as PostgreSQL's whole COPY here.
 *
 * Like pg-copy-streams, it takes the socket's 'data' listener from pg's protocol parser for the
 * length of the copy and gives it back, with the bytes after CopyDone (CommandComplete,
 * ReadyForQuery) or from an ErrorResponse on, so pg finishes the query as usual. A throw from
 * onData stops the delivery; the copy is still read to its end (the connection stays usable) and
 * the error is what `done` rejects with.
 */
export class CopyOut {
  readonly done: Promise<void>;
  /** Set by pg when a client-side query timeout applies; called once when the query ends. */
  callback: ((err: Error | null, result?: unknown) => void) | undefined;
  private resolve!: () => void;
  private reject!: (err: Error) => void;
  private connection: PgConnection | undefined;
  private pgListener: DataListener | undefined;
  private pending: Buffer | undefined;
  private failure: Error | undefined;
  private finished = false;
  private readonly onChunk: DataListener = (chunk) => this.chunk(chunk);

  constructor(readonly text: string, private readonly onData: (buf: Buffer, start: number, end: number) => void) {
    this.done = new Promise<void>((res, rej) => { this.resolve = res; this.reject = rej; });
    this.done.catch(() => undefined); // awaited by the caller; never an unhandled rejection
  }

  submit(connection: PgConnection): void {
    this.connection = connection;
    const listeners = connection.stream.listeners('data') as DataListener[];
    if (listeners.length !== 1) throw new Error(`COPY OUT expects one data listener on the connection, found ${listeners.length}`);
    this.pgListener = listeners[0];
    connection.stream.removeListener('data', this.pgListener as DataListener);
    connection.stream.on('data', this.onChunk);
    connection.query(this.text);
  }

  private chunk(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== undefined) { buf = Buffer.concat([this.pending, chunk]); this.pending = undefined; }
    let pos = 0;
    while (buf.length - pos >= 5) {
      const code = buf[pos] as number;
      if (code === ERROR_RESPONSE) { this.detach(buf.subarray(pos)); return; }
      const end = pos + 1 + buf.readUInt32BE(pos + 1);
      if (end > buf.length) break; // the rest of this message comes with the next chunk
      if (code === COPY_DATA && this.failure === undefined) {
        try {
          this.onData(buf, pos + 5, end);
        } catch (err) {
          this.failure = err as Error;
        }
      }
      pos = end;
      if (code === COPY_DONE) { this.detach(buf.subarray(pos)); return; }
      // CopyOutResponse, and the ParameterStatus/Notice/Notification a backend may interleave: skipped
    }
    if (pos < buf.length) this.pending = buf.subarray(pos);
  }

  /** Gives the socket back to pg's parser, with the bytes it must see. */
  private detach(rest: Buffer): void {
    const c = this.connection;
    if (c === undefined || this.pgListener === undefined) return;
    c.stream.removeListener('data', this.onChunk);
    c.stream.on('data', this.pgListener);
    const listener = this.pgListener;
    this.pgListener = undefined;
    if (rest.length > 0) listener(rest);
  }

  handleCommandComplete(): void {
    // the outcome is settled at ReadyForQuery
  }

  handleEmptyQuery(): void {
    // not sent by a COPY; part of pg's submittable contract
  }

  handleError(err: Error): void {
    this.detach(Buffer.alloc(0)); // a connection error mid-copy: pg's parser gets the socket back
    this.finish(err);
  }

  handleReadyForQuery(): void {
    this.finish(this.failure ?? null);
  }

  private finish(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.callback?.(err);
    if (err) this.reject(err);
    else this.resolve();
  }
}
