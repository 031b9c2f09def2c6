// The merge, as pure functions: merged(k) = batch(k) + the speed windows of k that the batch does
// not cover. With a watermark W (the batch holds every event before W):
//   window.end   <= W            -> already in the batch: skipped (and evicted from memory)
//   window.start >= W or open    -> added
//   start < W < end (straddling) -> not added; reported, so it is never silently counted twice
// Without a watermark every window is added (the classic behaviour).
import { addInt64 } from './int64.js';
import type { Key } from './speed/decode.js';

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
    for (let m = 0; m < metricCount; m++) sum[m] = addInt64(sum[m] as bigint, w.metrics[m] as bigint, 'speed windows');
  }
  return sum;
}

/** merged = batch + speed; undefined when the key is in neither. */
export function mergeRow(batch: readonly bigint[] | undefined, speed: readonly bigint[] | undefined, key?: Key): bigint[] | undefined {
  if (batch === undefined) return speed === undefined ? undefined : speed.slice();
  if (speed === undefined) return batch.slice();
  return batch.map((b, m) => addInt64(b, speed[m] as bigint, `merge of key ${String(key)}`));
}

export interface MergedRow {
  readonly key: Key;
  readonly metrics: readonly bigint[];
}

/** What the merge needs of a batch snapshot. */
export interface BatchRows {
  readonly size: number;
  keyAt(i: number): Key;
  row(i: number): bigint[];
  indexOf(key: Key): number | undefined;
}

/** The merged snapshot of one cut, as a plan: the batch rows unchanged except `patched` (ascending
 * row numbers, with their merged values in `patchedMetrics`), then the speed-only keys. Built
 * from the speed keys alone (a batch row is never copied here), so writing a million merged rows
 * can stream the batch's columns as they are. Every int64 sum is checked here. */
export interface MergePlan<B extends BatchRows = BatchRows> {
  readonly batch: B;
  readonly patched: Int32Array;
  readonly patchedMetrics: ReadonlyArray<readonly bigint[]>;
  readonly speedOnly: ReadonlyArray<readonly [Key, readonly bigint[]]>;
  readonly rows: number;
}

export function planMerge<B extends BatchRows>(batch: B, speed: ReadonlyMap<Key, readonly bigint[]>): MergePlan<B> {
  const patches: Array<[number, bigint[]]> = [];
  const speedOnly: Array<readonly [Key, readonly bigint[]]> = [];
  for (const [key, s] of speed) {
    const i = batch.indexOf(key);
    if (i === undefined) speedOnly.push([key, s]);
    else patches.push([i, mergeRow(batch.row(i), s, key) as bigint[]]);
  }
  patches.sort((a, b) => a[0] - b[0]);
  return {
    batch,
    patched: Int32Array.from(patches, (p) => p[0]),
    patchedMetrics: patches.map((p) => p[1]),
    speedOnly,
    rows: batch.size + speedOnly.length,
  };
}

/** Every merged row of a plan: batch keys (with their speed part added) then speed-only keys. */
export function* mergeAll(plan: MergePlan): Generator<MergedRow> {
  const { batch, patched, patchedMetrics } = plan;
  let p = 0;
  for (let i = 0; i < batch.size; i++) {
    if (p < patched.length && patched[p] === i) yield { key: batch.keyAt(i), metrics: patchedMetrics[p++] as bigint[] };
    else yield { key: batch.keyAt(i), metrics: batch.row(i) };
  }
  for (const [key, metrics] of plan.speedOnly) yield { key, metrics };
}
