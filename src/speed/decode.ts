// Decodes one Kafka record of the speed topic into an update, or a rejection with a reason.
// Values are Spark's to_json(struct(*)): JSON numbers for the metrics. JSON.parse is the fast
// path; a record holding an integer beyond 2^53 is parsed again losslessly so no digit is lost.
import { isInteger as isIntegerLiteral, parse as parseLossless } from 'lossless-json';
import { inInt64, parseInt64 } from '../int64.js';
import type { View } from '../view.js';

export type Key = string | null;

/** Open window: the update carries no window struct. */
export const OPEN_WINDOW = '';

export interface Update {
  readonly kind: 'update';
  readonly key: Key;
  /** OPEN_WINDOW or "<startMs>/<endMs>". */
  readonly window: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly metrics: bigint[];
  readonly version: bigint;
}

export interface Tombstone {
  readonly kind: 'tombstone';
  readonly key: Key;
  /** The record timestamp; undefined when versions come from a message field (a tombstone has
   * no fields, so it cannot be ordered against them: it then masks nothing). */
  readonly version: bigint | undefined;
}

export const REJECT_REASONS = [
  'oversize', 'bad_json', 'not_object', 'missing_key', 'bad_key', 'bad_metric',
  'metric_out_of_range', 'bad_window', 'bad_version', 'tombstone_without_key',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface Rejection {
  readonly kind: 'rejected';
  readonly reason: RejectReason;
  readonly detail: string;
}

export type Decoded = Update | Tombstone | Rejection;

export interface RawRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Kafka record timestamp, milliseconds as a decimal string (kafkajs's form). */
  readonly timestamp: string;
}

const reject = (reason: RejectReason, detail: string): Rejection => ({ kind: 'rejected', reason, detail });

interface WindowId { readonly id: string; readonly start: number; readonly end: number }
const OPEN: WindowId = Object.freeze({ id: OPEN_WINDOW, start: -Infinity, end: Infinity });

/** Window bounds seen recently, ISO text -> ms: Spark writes the same few windows over and over. */
const MAX_CACHED_TIMES = 256;

export class Decoder {
  /** Field names as bytes, for the fast path; undefined when the view rules it out. */
  private readonly scanner: Scanner | undefined;
  private readonly times = new Map<string, number>();
  private lastTimestamp = '';
  private lastVersion = 0n;

  /** `scan: false` decides every record with the general path (tests compare the two paths). */
  constructor(
    private readonly view: View,
    private readonly maxRecordBytes: number,
    options: { readonly scan?: boolean } = {},
  ) {
    this.scanner = options.scan === false ? undefined : Scanner.for(view);
  }

  decode(rec: RawRecord): Decoded {
    try {
      return this.decodeUnsafe(rec);
    } catch (err) {
      // e.g. the lossless re-parse refusing a duplicate field that JSON.parse accepted
      return reject('bad_json', (err as Error).message);
    }
  }

  private decodeUnsafe(rec: RawRecord): Decoded {
    const size = (rec.value?.length ?? 0) + (rec.key?.length ?? 0);
    if (size > this.maxRecordBytes) return reject('oversize', `${size} bytes > ${this.maxRecordBytes}`);
    if (rec.value === null) return this.tombstone(rec);
    const s = this.scanner;
    if (s !== undefined && s.scan(rec.value)) {
      const win = s.windowStart < 0 ? OPEN : this.scannedWindow(rec.value, s);
      if (win !== undefined) {
        const version = s.version ?? this.timestampVersion(rec.timestamp);
        return { kind: 'update', key: s.key, window: win.id, windowStart: win.start, windowEnd: win.end, metrics: s.metrics, version };
      }
    }
    return this.decodeText(rec.value.toString('utf8'), rec.timestamp);
  }

  /** The general path: JSON.parse, with a lossless re-parse for integers beyond 2^53. It decides
   * every record the scanner leaves, and gives every rejection. */
  private decodeText(text: string, timestamp: string): Decoded {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      return reject('bad_json', (err as Error).message);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return reject('not_object', `value is ${Array.isArray(obj) ? 'an array' : typeof obj}`);
    const fields = obj as Record<string, unknown>;
    const exact = new Exact(text);

    const { keyField, versionField } = this.view;
    const keyValue = fields[keyField];
    if (keyValue === undefined && !(keyField in fields)) return reject('missing_key', `no "${keyField}" field (a NULL key must be written as null)`);
    const key = this.key(keyValue, exact);
    if (typeof key === 'object' && key !== null) return key;

    const metrics: bigint[] = [];
    for (const m of this.view.metrics) {
      const v = integerField(fields[m.field], exact, m.field);
      if (typeof v === 'object') return reject(v.reason, `"${m.field}": ${v.detail}`);
      metrics.push(v);
    }

    const win = this.window(fields[this.view.windowField]);
    if ('reason' in win) return win;

    let version: bigint;
    if (versionField !== undefined) {
      const v = integerField(fields[versionField], exact, versionField, false);
      if (typeof v === 'object') return reject('bad_version', `"${versionField}": ${v.detail}`);
      version = v;
    } else {
      version = this.timestampVersion(timestamp);
    }
    return { kind: 'update', key, window: win.id, windowStart: win.start, windowEnd: win.end, metrics, version };
  }

  private tombstone(rec: RawRecord): Tombstone | Rejection {
    if (rec.key === null || rec.key.length === 0) return reject('tombstone_without_key', 'null value and no record key');
    const version = this.view.versionField === undefined ? BigInt(rec.timestamp) : undefined;
    return { kind: 'tombstone', key: rec.key.toString('utf8'), version };
  }

  /** The record timestamp as a version; records of one batch mostly share their millisecond. */
  private timestampVersion(timestamp: string): bigint {
    if (timestamp !== this.lastTimestamp) {
      this.lastVersion = BigInt(timestamp);
      this.lastTimestamp = timestamp;
    }
    return this.lastVersion;
  }

  private key(v: unknown, exact: Exact): Key | Rejection {
    if (v === null || typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isInteger(v)) return Number.isSafeInteger(v) ? String(v) : String(exact.field(this.view.keyField));
    return reject('bad_key', `"${this.view.keyField}" must be a string or null, got ${typeof v}`);
  }

  private window(w: unknown): WindowId | Rejection {
    if (w === undefined || w === null) return OPEN;
    if (typeof w !== 'object') return reject('bad_window', 'window must be {"start","end"}');
    const { start, end } = w as { start?: unknown; end?: unknown };
    const s = typeof start === 'string' ? this.time(start) : NaN;
    const e = typeof end === 'string' ? this.time(end) : NaN;
    if (Number.isNaN(s) || Number.isNaN(e)) return reject('bad_window', 'window start and end must be ISO-8601 timestamps');
    if (s >= e) return reject('bad_window', `window start ${start} is not before end ${end}`);
    return { id: `${s}/${e}`, start: s, end: e };
  }

  /** The scanned window, or undefined when it is not a valid one (the general path says why). */
  private scannedWindow(value: Buffer, s: Scanner): WindowId | undefined {
    const start = this.time(value.toString('utf8', s.windowStart, s.windowStartEnd));
    const end = this.time(value.toString('utf8', s.windowEnd, s.windowEndEnd));
    if (Number.isNaN(start) || Number.isNaN(end) || start >= end) return undefined;
    return { id: `${start}/${end}`, start, end };
  }

  private time(iso: string): number {
    let t = this.times.get(iso);
    if (t === undefined) {
      t = Date.parse(iso);
      if (this.times.size >= MAX_CACHED_TIMES) this.times.clear();
      this.times.set(iso, t);
    }
    return t;
  }
}

/** The lossless parse of a record, made only when an integer beyond 2^53 needs its exact digits. */
class Exact {
  private fields: Record<string, unknown> | undefined;

  constructor(private readonly text: string) {}

  field(name: string): unknown {
    this.fields ??= parseLossless(this.text) as Record<string, unknown>;
    return this.fields[name];
  }
}

type IntProblem = { reason: 'bad_metric' | 'metric_out_of_range'; detail: string };

/** A metric: a JSON integer (or decimal-digit string) within int64; absent or null counts as 0,
 * as Spark's to_json omits a NULL sum. */
function integerField(v: unknown, exact: Exact, field: string, nullIsZero = true): bigint | IntProblem {
  if (v === undefined || v === null) {
    return nullIsZero ? 0n : { reason: 'bad_metric', detail: 'missing' };
  }
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return BigInt(v);
    if (!Number.isFinite(v) || !Number.isInteger(v)) return { reason: 'bad_metric', detail: `${v} is not an integer` };
    // Beyond 2^53: JSON.parse rounded it; take the exact digits.
    const digits = String(exact.field(field));
    if (!isIntegerLiteral(digits) || !/^-?\d+$/.test(digits)) return { reason: 'bad_metric', detail: `${digits} is not an integer literal` };
    const big = BigInt(digits);
    return inInt64(big) ? big : { reason: 'metric_out_of_range', detail: `${digits} is outside int64` };
  }
  if (typeof v === 'string') {
    const big = parseInt64(v);
    if (big !== undefined) return big;
    return /^-?\d+$/.test(v) ? { reason: 'metric_out_of_range', detail: `${v} is outside int64` } : { reason: 'bad_metric', detail: `"${v.slice(0, 40)}" is not an integer` };
  }
  return { reason: 'bad_metric', detail: `${typeof v} is not an integer` };
}

// ---------- the fast path ----------
//
// Spark's to_json writes flat objects of plain numbers and strings. The scanner reads such a
// record straight from its bytes: no UTF-8 text of the whole value, no parsed object, no field
// lookups by name. It accepts only what it can decide exactly as the general path would, and
// gives up (scan() returns false) on anything else: escapes or control characters in a
// string, a number with a fraction, an exponent or more than 15 digits (JSON.parse is exact up
// to there), a nested value other than the window struct, a field named twice, a missing key,
// any syntax error, a field name that is not plain ASCII. The general path then decides the
// record and gives the rejection reason, so the scanner never rejects anything itself.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LOWER_F = 0x66;
/** JSON.parse is exact for integers of up to 15 digits (below 2^53). */
const MAX_DIGITS = 15;

/** Roles of the view's fields; metrics are 0, 1, ... */
const KEY = -1;
const WINDOW = -2;
const VERSION = -3;
const UNKNOWN = -4;
const FAIL = -5;

/** Printable ASCII without quote or backslash: written as is inside a JSON string. */
const isPlainName = (s: string): boolean => /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(s);
const bytesOf = (s: string): number[] => [...Buffer.from(s)];
const WINDOW_NAMES = [bytesOf('start'), bytesOf('end')];

class Scanner {
  // what the last successful scan() read; window text ranges are -1 for the open window
  key: Key = null;
  metrics: bigint[] = [];
  version: bigint | undefined;
  windowStart = -1;
  windowStartEnd = -1;
  windowEnd = -1;
  windowEndEnd = -1;
  /** The view's field names as byte values, and the role of each. */
  private readonly names: number[][];
  private readonly roles: number[];
  /** Slot of the field that followed slot j last time (j = names.length: the first field). */
  private readonly next: number[];
  private readonly zeros: bigint[];
  private b: Buffer = Buffer.alloc(0);
  private i = 0;
  // set by the value readers
  private num = 0;
  private strStart = 0;
  private strEnd = 0;
  private winStart = 0;
  private winStartEnd = 0;
  private winEnd = 0;
  private winEndEnd = 0;

  /** A scanner for the view, or undefined if its field names rule the fast path out (a field
   * playing two roles, a name that is not plain ASCII, more fields than the duplicate mask holds). */
  static for(view: View): Scanner | undefined {
    const names = [view.keyField, view.windowField, ...(view.versionField === undefined ? [] : [view.versionField]), ...view.metrics.map((m) => m.field)];
    if (new Set(names).size !== names.length || names.length > 30 || !names.every(isPlainName)) return undefined;
    return new Scanner(view);
  }

  private constructor(private readonly view: View) {
    const names = [view.keyField, view.windowField];
    this.roles = [KEY, WINDOW];
    if (view.versionField !== undefined) { names.push(view.versionField); this.roles.push(VERSION); }
    view.metrics.forEach((m, i) => { names.push(m.field); this.roles.push(i); });
    this.names = names.map(bytesOf);
    this.next = this.names.map((_, j) => j + 1);
    this.next.push(0);
    this.zeros = view.metrics.map(() => 0n);
  }

  /** Reads b into key, metrics, version and the window fields; false: leave it to JSON.parse. */
  scan(b: Buffer): boolean {
    this.b = b;
    this.i = 0;
    const metrics = this.zeros.slice();
    let key: Key = null;
    let version: bigint | undefined;
    let ws = -1, wse = -1, we = -1, wee = -1;
    let seen = 0;
    this.ws();
    if (b[this.i] !== OPEN_BRACE) return false;
    this.i++;
    this.ws();
    if (b[this.i] === CLOSE_BRACE) return false; // no key field
    const next = this.next;
    let prev = this.names.length;
    for (;;) {
      const slot = this.fieldName(this.names, next[prev] as number);
      if (slot === FAIL || !this.colon()) return false;
      if (slot !== UNKNOWN) { next[prev] = slot; prev = slot; }
      const role = slot === UNKNOWN ? UNKNOWN : this.roles[slot] as number;
      if (role !== UNKNOWN) {
        if (seen & (1 << slot)) return false; // named twice: JSON.parse keeps the last
        seen |= 1 << slot;
      }
      if (role >= 0) {
        if (this.int()) metrics[role] = BigInt(this.num);
        else if (!this.nullLiteral()) return false;
      } else if (role === KEY) {
        if (this.string()) key = b.toString('utf8', this.strStart, this.strEnd);
        else if (!this.nullLiteral()) return false;
      } else if (role === WINDOW) {
        if (b[this.i] === OPEN_BRACE) {
          if (!this.windowStruct()) return false;
          ws = this.winStart; wse = this.winStartEnd; we = this.winEnd; wee = this.winEndEnd;
        } else if (!this.nullLiteral()) return false;
      } else if (role === VERSION) {
        if (!this.int()) return false;
        version = BigInt(this.num);
      } else if (!this.scalar()) return false;
      this.ws();
      const c = b[this.i++];
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) return false;
      this.ws();
    }
    this.ws();
    if (this.i !== b.length || !(seen & 1)) return false; // trailing bytes; no key field
    if (this.view.versionField !== undefined && !(seen & 4)) return false;
    this.key = key;
    this.metrics = metrics;
    this.version = version;
    this.windowStart = ws;
    this.windowStartEnd = wse;
    this.windowEnd = we;
    this.windowEndEnd = wee;
    return true;
  }

  /** {"start": "...", "end": "..."} (other scalar fields ignored): the text ranges of start and
   * end into winStart.. and winEnd.. */
  private windowStruct(): boolean {
    this.i++;
    this.ws();
    let s = -1, se = -1, e = -1, ee = -1;
    if (this.b[this.i] === CLOSE_BRACE) return false;
    for (;;) {
      const which = this.fieldName(WINDOW_NAMES, s < 0 ? 0 : 1);
      if (which === FAIL || !this.colon()) return false;
      if (which === UNKNOWN) {
        if (!this.scalar()) return false;
      } else {
        if ((which === 0 ? s : e) >= 0 || !this.string()) return false;
        if (which === 0) { s = this.strStart; se = this.strEnd; } else { e = this.strStart; ee = this.strEnd; }
      }
      this.ws();
      const c = this.b[this.i++];
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) return false;
      this.ws();
    }
    if (s < 0 || e < 0) return false;
    this.winStart = s; this.winStartEnd = se; this.winEnd = e; this.winEndEnd = ee;
    return true;
  }

  private ws(): void {
    const b = this.b;
    let i = this.i;
    for (let c = b[i]; c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = b[++i]);
    this.i = i;
  }

  private colon(): boolean {
    this.ws();
    if (this.b[this.i] !== COLON) return false;
    this.i++;
    this.ws();
    return true;
  }

  /** A field name: its index in names, UNKNOWN, or FAIL (not a plain ASCII string). `hint`, the
   * name expected here, is tried first: writers put the fields in the same order every time. */
  private fieldName(names: readonly (readonly number[])[], hint: number): number {
    const b = this.b;
    if (b[this.i] !== QUOTE) return FAIL;
    const s = this.i + 1;
    for (let t = 0; t < names.length; t++) {
      const j = (hint + t) % names.length;
      const name = names[j] as readonly number[];
      const len = name.length;
      if (b[s + len] !== QUOTE) continue;
      let k = 0;
      while (k < len && name[k] === b[s + k]) k++;
      if (k === len) {
        this.i = s + len + 1;
        return j;
      }
    }
    for (let i = s; i < b.length; i++) {
      const c = b[i] as number;
      if (c === QUOTE) { this.i = i + 1; return UNKNOWN; }
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return FAIL;
    }
    return FAIL;
  }

  /** A string without escapes or control characters: its bytes in strStart/strEnd. */
  private string(): boolean {
    const b = this.b;
    if (b[this.i] !== QUOTE) return false;
    const start = this.i + 1;
    for (let i = start; i < b.length; i++) {
      const c = b[i] as number;
      if (c === QUOTE) {
        this.strStart = start;
        this.strEnd = i;
        this.i = i + 1;
        return true;
      }
      if (c === BACKSLASH || c < 0x20) return false;
    }
    return false;
  }

  /** An integer of at most MAX_DIGITS digits, into num; false on anything else (unread). */
  private int(): boolean {
    const b = this.b;
    let i = this.i;
    const neg = b[i] === MINUS;
    if (neg) i++;
    const first = i;
    let v = 0;
    let c = b[i];
    if (c === ZERO) {
      c = b[++i];
    } else {
      while (c !== undefined && c >= ZERO && c <= NINE) { v = v * 10 + (c - ZERO); c = b[++i]; }
      if (i === first || i - first > MAX_DIGITS) return false;
    }
    if (c !== undefined && ((c >= ZERO && c <= NINE) || c === DOT || c === LOWER_E || c === UPPER_E)) return false;
    this.num = neg ? -v : v;
    this.i = i;
    return true;
  }

  private nullLiteral(): boolean {
    return this.literal(LOWER_N, 'null');
  }

  private literal(first: number, word: string): boolean {
    const b = this.b;
    if (b[this.i] !== first) return false;
    for (let k = 1; k < word.length; k++) if (b[this.i + k] !== word.charCodeAt(k)) return false;
    this.i += word.length;
    return true;
  }

  /** Skips a string, number, true, false or null (a field the view does not name). */
  private scalar(): boolean {
    const c = this.b[this.i];
    if (c === QUOTE) return this.string();
    if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.number();
    return this.literal(LOWER_T, 'true') || this.literal(LOWER_F, 'false') || this.nullLiteral();
  }

  /** Skips a JSON number of any form: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
  private number(): boolean {
    const b = this.b;
    let i = this.i;
    if (b[i] === MINUS) i++;
    if (b[i] === ZERO) i++;
    else if ((i = digitsEnd(b, i)) < 0) return false;
    if (b[i] === DOT && (i = digitsEnd(b, i + 1)) < 0) return false;
    if (b[i] === LOWER_E || b[i] === UPPER_E) {
      i++;
      if (b[i] === PLUS || b[i] === MINUS) i++;
      if ((i = digitsEnd(b, i)) < 0) return false;
    }
    this.i = i;
    return true;
  }
}

/** The end of the run of digits at i; -1 if there is none. */
function digitsEnd(b: Buffer, i: number): number {
  const from = i;
  for (let c = b[i]; c !== undefined && c >= ZERO && c <= NINE; c = b[++i]);
  return i > from ? i : -1;
}
