// One loaded copy of the batch layer, immutable once built. Columnar for compactness: the keys in
// one array, each metric in its own BigInt64Array (8 bytes a value, exact int64), and an
// open-addressing index from key to row (./key-index.ts). A reload builds a new snapshot and
// swaps the reference.
import type { Key } from '../speed/decode.js';
import { KeyIndex } from './key-index.js';

/** Int64 slots are written as two int32 halves from a safe-integer number (no BigInt made per
 * value), which needs the platform's byte order: little-endian everywhere Node runs today. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO_32 = 4294967296;

export class BatchSnapshot {
  private constructor(
    readonly keys: readonly Key[],
    private readonly index: KeyIndex,
    readonly columns: readonly BigInt64Array[],
    /** Events with event time before this are in the batch (ms since epoch); undefined: none declared. */
    readonly watermark: number | undefined,
    readonly loadedAt: Date,
    readonly id: number,
  ) {}

  static empty(metricCount: number): BatchSnapshot {
    const keys: Key[] = [];
    return new BatchSnapshot(keys, new KeyIndex(keys), Array.from({ length: metricCount }, () => new BigInt64Array(0)), undefined, new Date(0), 0);
  }

  get size(): number {
    return this.keys.length;
  }

  indexOf(key: Key): number | undefined {
    return this.index.get(key);
  }

  has(key: Key): boolean {
    return this.index.get(key) !== undefined;
  }

  /** The metrics of row i, as a new array. */
  row(i: number): bigint[] {
    return this.columns.map((c) => c[i] as bigint);
  }

  get(key: Key): bigint[] | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.row(i);
  }

  static builder(metricCount: number, expectedRows?: number): BatchSnapshotBuilder {
    return new BatchSnapshotBuilder(metricCount, expectedRows);
  }

  /** @internal used by the builder */
  static assemble(keys: Key[], index: KeyIndex, columns: BigInt64Array[], watermark: number | undefined, id: number): BatchSnapshot {
    return new BatchSnapshot(keys, index, columns, watermark, new Date(), id);
  }
}

let nextId = 1;

/** Grows columns geometrically while rows stream in; a duplicate key is added into its row
 * (the batch table should have one row per key, but summing is the additive reading).
 * Values are bigints, or numbers that are safe integers (the COPY parser's fast path). */
export class BatchSnapshotBuilder {
  private keys: Key[] = [];
  private index: KeyIndex;
  private columns: BigInt64Array[];
  private halves: Int32Array[];
  private capacity: number;
  duplicates = 0;

  constructor(private readonly metricCount: number, expectedRows = 1024) {
    this.capacity = Math.max(1024, expectedRows);
    this.index = new KeyIndex(this.keys, this.capacity);
    this.columns = Array.from({ length: metricCount }, () => new BigInt64Array(this.capacity));
    this.halves = this.columns.map((c) => new Int32Array(c.buffer));
  }

  add(key: Key, metrics: ArrayLike<bigint | number>): void {
    const existing = this.index.get(key);
    if (existing !== undefined) {
      this.addInto(existing, key, metrics);
      return;
    }
    const i = this.keys.length;
    if (i === this.capacity) this.grow();
    this.keys.push(key);
    this.index.add(key, i);
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

  private addInto(row: number, key: Key, metrics: ArrayLike<bigint | number>): void {
    this.duplicates++;
    for (let m = 0; m < this.metricCount; m++) {
      const col = this.columns[m] as BigInt64Array;
      const sum = (col[row] as bigint) + BigInt(metrics[m] as bigint | number);
      if (BigInt.asIntN(64, sum) !== sum) throw new RangeError(`batch duplicate key ${String(key)} overflows int64`);
      col[row] = sum;
    }
  }

  get size(): number {
    return this.keys.length;
  }

  build(watermark: number | undefined): BatchSnapshot {
    const n = this.keys.length;
    // the columns are cut to size only when that saves much (slice copies: 8 MB a column at 1M)
    const cols = n * 4 < this.capacity * 3 ? this.columns.map((c) => c.slice(0, n)) : this.columns.map((c) => c.subarray(0, n));
    return BatchSnapshot.assemble(this.keys, this.index, cols, watermark, nextId++);
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
