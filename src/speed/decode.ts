// Decodes one Kafka record of the speed topic into an update, or a rejection with a reason.
// Values are Spark's to_json(struct(*)): JSON numbers for the metrics. JSON.parse is the fast
// path; a record holding an integer beyond 2^53 is parsed again losslessly so no digit is lost.
import { isInteger as isIntegerLiteral, parse as parseLossless } from 'lossless-json';
import { inInt64, parseInt64 } from '../int64.js';
import type { View } from '../view.js';
import { Scanner } from './scan.js';

export type Key = string | null;

/** An int64 metric: a number when it is a safe integer (what the scanner gives), else a BigInt. */
export type Metric = number | bigint;

/** Open window: the update carries no window struct. */
export const OPEN_WINDOW = '';

export interface Update {
  readonly kind: 'update';
  readonly key: Key;
  /** OPEN_WINDOW or "<startMs>/<endMs>". */
  readonly window: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly metrics: Metric[];
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

    const metrics: Metric[] = [];
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
