// One loaded copy of the batch layer, immutable once built. Columnar for compactness: the keys in
// one array, each metric in its own BigInt64Array (8 bytes a value, exact int64), and a Map from
// key to row index. A reload builds a new snapshot and swaps the reference.
import type { Key } from '../speed/decode.js';

export class BatchSnapshot {
  private constructor(
    readonly keys: readonly Key[],
    private readonly index: ReadonlyMap<Key, number>,
    readonly columns: readonly BigInt64Array[],
    /** Events with event time before this are in the batch (ms since epoch); undefined: none declared. */
    readonly watermark: number | undefined,
    readonly loadedAt: Date,
    readonly id: number,
  ) {}

  static empty(metricCount: number): BatchSnapshot {
    return new BatchSnapshot([], new Map(), Array.from({ length: metricCount }, () => new BigInt64Array(0)), undefined, new Date(0), 0);
  }

  get size(): number {
    return this.keys.length;
  }

  indexOf(key: Key): number | undefined {
    return this.index.get(key);
  }

  has(key: Key): boolean {
    return this.index.has(key);
  }

  /** The metrics of row i, as a new array. */
  row(i: number): bigint[] {
    return this.columns.map((c) => c[i] as bigint);
  }

  get(key: Key): bigint[] | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.row(i);
  }

  static builder(metricCount: number): BatchSnapshotBuilder {
    return new BatchSnapshotBuilder(metricCount);
  }

  /** @internal used by the builder */
  static assemble(keys: Key[], index: Map<Key, number>, columns: BigInt64Array[], watermark: number | undefined, id: number): BatchSnapshot {
    return new BatchSnapshot(keys, index, columns, watermark, new Date(), id);
  }
}

let nextId = 1;

/** Grows columns geometrically while rows stream in; a duplicate key is added into its row
 * (the batch table should have one row per key, but summing is the additive reading). */
export class BatchSnapshotBuilder {
  private keys: Key[] = [];
  private index = new Map<Key, number>();
  private columns: BigInt64Array[];
  private capacity = 1024;
  duplicates = 0;

  constructor(private readonly metricCount: number) {
    this.columns = Array.from({ length: metricCount }, () => new BigInt64Array(this.capacity));
  }

  add(key: Key, metrics: readonly bigint[]): void {
    const existing = this.index.get(key);
    if (existing !== undefined) {
      this.duplicates++;
      for (let m = 0; m < this.metricCount; m++) {
        const col = this.columns[m] as BigInt64Array;
        const sum = (col[existing] as bigint) + (metrics[m] as bigint);
        if (BigInt.asIntN(64, sum) !== sum) throw new RangeError(`batch duplicate key ${String(key)} overflows int64`);
        col[existing] = sum;
      }
      return;
    }
    const i = this.keys.length;
    if (i === this.capacity) this.grow();
    this.keys.push(key);
    this.index.set(key, i);
    for (let m = 0; m < this.metricCount; m++) (this.columns[m] as BigInt64Array)[i] = metrics[m] as bigint;
  }

  get size(): number {
    return this.keys.length;
  }

  build(watermark: number | undefined): BatchSnapshot {
    const n = this.keys.length;
    const cols = this.columns.map((c) => c.slice(0, n));
    return BatchSnapshot.assemble(this.keys, this.index, cols, watermark, nextId++);
  }

  private grow(): void {
    this.capacity *= 2;
    this.columns = this.columns.map((c) => {
      const next = new BigInt64Array(this.capacity);
      next.set(c);
      return next;
    });
  }
}
