// One loaded copy of the batch layer, immutable once built. Columnar for compactness: the keys in
// a KeyTable (UTF-8 bytes back to back, hashed; ./key-table.ts), each metric in its own
// BigInt64Array (8 bytes a value, exact int64). A reload builds a new snapshot and swaps the
// reference.
import type { Key } from '../speed/decode.js';
import { hashBytes, KeyTable } from './key-table.js';

/** Int64 slots are written as two int32 halves from a safe-integer number (no BigInt made per
 * value), which needs the platform's byte order: little-endian everywhere Node runs today. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO_32 = 4294967296;

export class BatchSnapshot {
  /** The int64 columns as int32 pairs, for writers that read them as numbers: low word first
   * where LITTLE_ENDIAN (else the writer reads the columns). */
  readonly halves: readonly Int32Array[];

  private constructor(
    readonly table: KeyTable,
    readonly columns: readonly BigInt64Array[],
    /** Events with event time before this are in the batch (ms since epoch); undefined: none declared. */
    readonly watermark: number | undefined,
    readonly loadedAt: Date,
    readonly id: number,
  ) {
    this.halves = columns.map((c) => new Int32Array(c.buffer, c.byteOffset, c.length * 2));
  }

  static empty(metricCount: number): BatchSnapshot {
    return new BatchSnapshot(new KeyTable(16), Array.from({ length: metricCount }, () => new BigInt64Array(0)), undefined, new Date(0), 0);
  }

  get size(): number {
    return this.table.size;
  }

  /** The key of row i (a string made on each call). */
  keyAt(i: number): Key {
    return this.table.keyAt(i);
  }

  indexOf(key: Key): number | undefined {
    const i = this.table.find(key);
    return i < 0 ? undefined : i;
  }

  has(key: Key): boolean {
    return this.table.find(key) >= 0;
  }

  /** The metrics of row i, as a new array. */
  row(i: number): bigint[] {
    return this.columns.map((c) => c[i] as bigint);
  }

  get(key: Key): bigint[] | undefined {
    const i = this.table.find(key);
    return i < 0 ? undefined : this.row(i);
  }

  static builder(metricCount: number, expectedRows?: number): BatchSnapshotBuilder {
    return new BatchSnapshotBuilder(metricCount, expectedRows);
  }

  /** @internal used by the builder */
  static assemble(table: KeyTable, columns: BigInt64Array[], watermark: number | undefined, id: number): BatchSnapshot {
    return new BatchSnapshot(table, columns, watermark, new Date(), id);
  }
}

let nextId = 1;

/** Values of one row: bigints, or numbers that are safe integers (the COPY parser's fast path). */
export type RowValues = ArrayLike<bigint | number>;

/** What a batch reader feeds: rows keyed by a string (cursor), or by UTF-8 bytes (COPY). */
export interface BatchRowSink {
  add(key: Key, metrics: RowValues): void;
  /** The key is bytes [start, end) of buf, which the sink copies (buf is reused). */
  addBytes(buf: Uint8Array, start: number, end: number, metrics: RowValues): void;
}

/** Grows columns geometrically while rows stream in; a duplicate key is added into its row
 * (the batch table should have one row per key, but summing is the additive reading). */
export class BatchSnapshotBuilder implements BatchRowSink {
  private readonly table: KeyTable;
  private columns: BigInt64Array[];
  private halves: Int32Array[];
  private capacity: number;
  duplicates = 0;

  constructor(private readonly metricCount: number, expectedRows = 1024) {
    this.capacity = Math.max(1024, expectedRows);
    this.table = new KeyTable(this.capacity);
    this.columns = Array.from({ length: metricCount }, () => new BigInt64Array(this.capacity));
    this.halves = this.columns.map((c) => new Int32Array(c.buffer));
  }

  add(key: Key, metrics: RowValues): void {
    const existing = this.table.find(key);
    if (existing >= 0) this.addInto(existing, key, metrics);
    else this.set(this.table.append(key), metrics);
  }

  addBytes(buf: Uint8Array, start: number, end: number, metrics: RowValues): void {
    const hash = hashBytes(buf, start, end);
    const existing = this.table.findBytes(buf, start, end, hash);
    if (existing >= 0) this.addInto(existing, this.table.keyAt(existing), metrics);
    else this.set(this.table.appendBytes(buf, start, end, hash), metrics);
  }

  private set(i: number, metrics: RowValues): void {
    if (i === this.capacity) this.grow();
    for (let m = 0; m < this.metricCount; m++) {
      const v = metrics[m] as bigint | number;
      if (typeof v === 'bigint') (this.columns[m] as BigInt64Array)[i] = v;
      else if (LITTLE_ENDIAN) {
        const hi = Math.floor(v / TWO_32);
        const h = this.halves[m] as Int32Array;
        h[2 * i] = (v - hi * TWO_32) | 0;
        h[2 * i + 1] = hi | 0;
      } else (this.columns[m] as BigInt64Array)[i] = BigInt(v);
    }
  }

  private addInto(row: number, key: Key, metrics: RowValues): void {
    this.duplicates++;
    for (let m = 0; m < this.metricCount; m++) {
      const col = this.columns[m] as BigInt64Array;
      const sum = (col[row] as bigint) + BigInt(metrics[m] as bigint | number);
      if (BigInt.asIntN(64, sum) !== sum) throw new RangeError(`batch duplicate key ${String(key)} overflows int64`);
      col[row] = sum;
    }
  }

  get size(): number {
    return this.table.size;
  }

  build(watermark: number | undefined): BatchSnapshot {
    const n = this.table.size;
    // the columns are cut to size only when that saves much (slice copies: 8 MB a column at 1M)
    const cols = n * 4 < this.capacity * 3 ? this.columns.map((c) => c.slice(0, n)) : this.columns.map((c) => c.subarray(0, n));
    return BatchSnapshot.assemble(this.table, cols, watermark, nextId++);
  }

  private grow(): void {
    this.capacity *= 2;
    this.columns = this.columns.map((c) => {
      const next = new BigInt64Array(this.capacity);
      next.set(c);
      return next;
    });
    this.halves = this.columns.map((c) => new Int32Array(c.buffer));
  }
}
