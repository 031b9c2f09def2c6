// The merge, as pure functions: merged(k) = batch(k) + the speed windows of k that the batch does
// not cover. With a watermark W (the batch holds every event before W):
//   window.end   <= W            -> already in the batch: skipped (and evicted from memory)
//   window.start >= W or open    -> added
//   start < W < end (straddling) -> not added; reported, so it is never silently counted twice
// Without a watermark every window is added (the classic behaviour).
import { addInt64, addMetric, INT64_MAX, INT64_MIN } from './int64.js';
import type { Key, Metric } from './speed/decode.js';

export interface SpeedWindow {
  readonly window: string;
  readonly start: number;
  readonly end: number;
  readonly metrics: readonly bigint[];
}

export type WindowFate = 'added' | 'covered' | 'straddling';

export function windowFate(w: Pick<SpeedWindow, 'start' | 'end'>, watermark: number | undefined): WindowFate {
  // the open window (no window struct: end = Infinity) is always on top of the batch
  if (watermark === undefined || w.start >= watermark || w.end === Infinity) return 'added';
  if (w.end <= watermark) return 'covered';
  return 'straddling';
}

export interface MergeStats {
  straddling: number;
}

/** Sum of the speed windows of one key that count on top of the batch; undefined if none count. */
export function speedPart(
  windows: Iterable<SpeedWindow>,
  metricCount: number,
  watermark: number | undefined,
  stats?: MergeStats,
): bigint[] | undefined {
  let sum: bigint[] | undefined;
  for (const w of windows) {
    const fate = windowFate(w, watermark);
    if (fate !== 'added') {
      if (fate === 'straddling' && stats) stats.straddling++;
      continue;
    }
    if (sum === undefined) sum = new Array<bigint>(metricCount).fill(0n);
    const ms = w.metrics;
    for (let m = 0; m < metricCount; m++) sum[m] = addInt64(sum[m] as bigint, ms[m] as bigint, 'speed windows');
  }
  return sum;
}

/** merged = batch + speed; undefined when the key is in neither. */
export function mergeRow(batch: readonly bigint[] | undefined, speed: readonly Metric[] | undefined, key?: Key): bigint[] | undefined {
  if (batch === undefined) return speed === undefined ? undefined : speed.map(toBig);
  if (speed === undefined) return batch.slice();
  return batch.map((b, m) => addInt64(b, BigInt(speed[m] as Metric), `merge of key ${String(key)}`));
}

const toBig = (v: Metric): bigint => BigInt(v);

export interface MergedRow {
  readonly key: Key;
  readonly metrics: readonly bigint[];
}

/** A speed entry as SpeedPartSummer reads it: its metrics as held (SpeedStore's WindowEntry.values:
 * numbers while safe integers, else BigInts), so a flush makes no BigInt per metric. */
export interface SpeedValues {
  readonly key: Key;
  readonly start: number;
  readonly end: number;
  readonly values: readonly Metric[];
}

/** Sums the speed part of each key from its entries, fed in order (in slices across turns if
 * need be): the entries of one key must be adjacent, as SpeedStore.cut() gives them. A key's part
 * goes to `emit` with the key's first added entry once the next key starts or end() is called;
 * each metric is a number while it is a safe integer, else a BigInt. A key with one added window
 * hands over that entry's own values (not copied: the store never changes the values of a cut's
 * entries, and the merge only reads them); a second window starts a new array for the sum. */
export class SpeedPartSummer<E extends SpeedValues> {
  private first: E | undefined;
  private part: readonly Metric[] = [];
  private owned = false;

  constructor(
    private readonly metricCount: number,
    private readonly watermark: number | undefined,
    private readonly emit: (key: Key, part: readonly Metric[], first: E) => void,
  ) {}

  add(e: E): void {
    if (windowFate(e, this.watermark) !== 'added') return;
    const first = this.first;
    if (first !== undefined && first.key === e.key) {
      const sum = this.owned ? (this.part as Metric[]) : this.part.slice(0, this.metricCount);
      const vs = e.values;
      for (let m = 0; m < this.metricCount; m++) sum[m] = addMetric(sum[m] as Metric, vs[m] as Metric, 'speed windows');
      this.part = sum;
      this.owned = true;
      return;
    }
    if (first !== undefined) this.emit(first.key, this.part, first);
    this.first = e;
    this.part = e.values.length === this.metricCount ? e.values : e.values.slice(0, this.metricCount);
    this.owned = false;
  }

  /** Emits the last key's part. */
  end(): void {
    if (this.first !== undefined) this.emit(this.first.key, this.part, this.first);
    this.first = undefined;
  }
}

/** What the merge needs of a batch snapshot. */
export interface BatchRows {
  /** Identifies the snapshot in this process (RowMemo), if it can be remembered. */
  readonly id?: number;
  readonly size: number;
  keyAt(i: number): Key;
  row(i: number): bigint[];
  indexOf(key: Key): number | undefined;
}

/** The merged snapshot of one cut, as a plan: the batch rows in order, `patched` ones (ascending
 * row numbers) with the speed part in `patchedSpeed` to add, then the speed-only keys. Built from
 * the speed keys alone, so writing a million merged rows can stream the batch's columns as they
 * are; the sums are made (and checked: mergedValue) as rows are written. Speed parts are int64
 * values as numbers (safe integers) or BigInts. */
export interface MergePlan<B extends BatchRows = BatchRows> {
  readonly batch: B;
  readonly patched: Int32Array;
  readonly patchedSpeed: ReadonlyArray<readonly Metric[]>;
  readonly speedOnly: ReadonlyArray<readonly [Key, readonly Metric[]]>;
  readonly rows: number;
}

/** Where a key's row is in a batch snapshot, kept by the caller between plans (the speed store
 * keeps one on each key's entry), so that a key seen in the last flush is not looked up in the
 * batch again while the snapshot is the same one. */
export interface RowMemo {
  /** The snapshot's id; rows of other snapshots are not used. */
  memoBatch: number;
  /** The row, -1 if the snapshot lacks the key. */
  memoRow: number;
}

/** Builds a MergePlan one speed key at a time (the flush does it in slices). */
export class MergePlanner<B extends BatchRows> {
  private readonly rows: number[] = [];
  private readonly speeds: Array<readonly Metric[]> = [];
  private readonly speedOnly: Array<readonly [Key, readonly Metric[]]> = [];

  constructor(private readonly batch: B) {}

  add(key: Key, speed: readonly Metric[], memo?: RowMemo): void {
    const id = this.batch.id;
    let i: number | undefined;
    if (memo !== undefined && id !== undefined && memo.memoBatch === id) {
      i = memo.memoRow < 0 ? undefined : memo.memoRow;
    } else {
      i = this.batch.indexOf(key);
      if (memo !== undefined && id !== undefined) { memo.memoBatch = id; memo.memoRow = i ?? -1; }
    }
    if (i === undefined) { this.speedOnly.push([key, speed]); return; }
    this.rows.push(i);
    this.speeds.push(speed);
  }

  /** The plan: patched rows in ascending order (two parts for one row, from a caller that split
   * a key's windows, are summed). Costs the number of speed keys, whatever the batch's size. */
  plan(): MergePlan<B> {
    const { rows, speeds } = this;
    const order = rowOrder(rows);
    const patched: number[] = [];
    const patchedSpeed: Array<readonly Metric[]> = [];
    for (let k = 0; k < order.length; k++) {
      const j = order[k] as number;
      const row = rows[j] as number;
      const speed = speeds[j] as readonly Metric[];
      const last = patchedSpeed.length - 1;
      if (last >= 0 && patched[last] === row) {
        const sum = patchedSpeed[last] as readonly Metric[];
        patchedSpeed[last] = sum.map((v, m) => addMetric(v, speed[m] as Metric, `speed parts of key ${String(this.batch.keyAt(row))}`));
      } else {
        patched.push(row);
        patchedSpeed.push(speed);
      }
    }
    return { batch: this.batch, patched: Int32Array.from(patched), patchedSpeed, speedOnly: this.speedOnly, rows: this.batch.size + this.speedOnly.length };
  }
}

/** Up to this many rows are sorted as packed numbers (row * PACKED + index < 2^53 for rows < 2^31). */
const PACKED = 2 ** 22;

/** The indices of `rows` (batch row numbers, below 2^31) in ascending row order. Packed into
 * doubles and sorted natively (no comparator call per comparison) when there are at most
 * `packed` of them, else sorted with a comparator. */
export function rowOrder(rows: readonly number[], packed = PACKED): Int32Array {
  const n = rows.length;
  const order = new Int32Array(n);
  if (n <= packed) {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = (rows[i] as number) * packed + i;
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = (keys[i] as number) % packed;
  } else {
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => (rows[a] as number) - (rows[b] as number));
  }
  return order;
}

export function planMerge<B extends BatchRows>(batch: B, speed: Iterable<readonly [Key, readonly Metric[]]>): MergePlan<B> {
  const planner = new MergePlanner(batch);
  for (const [key, s] of speed) planner.add(key, s);
  return planner.plan();
}

/** batch + speed of one metric of `key`, refused (LS_INT64_OVERFLOW) beyond int64; the key is
 * asked for only then. */
export function mergedValue(batch: bigint, speed: Metric, key: () => Key): bigint {
  const s = BigInt(speed);
  const v = batch + s;
  return v > INT64_MAX || v < INT64_MIN ? addInt64(batch, s, `merge of key ${String(key())}`) : v;
}

/** Every merged row of a plan: batch keys (with their speed part added) then speed-only keys;
 * or batch rows [from, to) and the speed-only keys if asked for. */
export function* mergeAll(plan: MergePlan, from = 0, to = plan.batch.size, speedOnly = true): Generator<MergedRow> {
  const { batch, patched, patchedSpeed } = plan;
  let p = firstPatchFrom(patched, from);
  for (let i = from; i < to; i++) {
    const key = batch.keyAt(i);
    if (p < patched.length && patched[p] === i) yield { key, metrics: mergeRow(batch.row(i), patchedSpeed[p++], key) as bigint[] };
    else yield { key, metrics: batch.row(i) };
  }
  if (speedOnly) for (const [key, metrics] of plan.speedOnly) yield { key, metrics: metrics.map(toBig) };
}

/** The index of the first patched row at or after `row` (binary search). */
export function firstPatchFrom(patched: Int32Array, row: number): number {
  let lo = 0;
  let hi = patched.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((patched[mid] as number) < row) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
