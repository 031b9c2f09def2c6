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

/** Every merged row: batch keys (with their speed part added) then speed-only keys. */
export function* mergeAll(
  batch: { readonly keys: readonly Key[]; row(i: number): bigint[]; has(key: Key): boolean },
  speed: ReadonlyMap<Key, readonly bigint[]>,
): Generator<MergedRow> {
  for (let i = 0; i < batch.keys.length; i++) {
    const key = batch.keys[i] as Key;
    yield { key, metrics: mergeRow(batch.row(i), speed.get(key), key) as bigint[] };
  }
  for (const [key, s] of speed) if (!batch.has(key)) yield { key, metrics: s };
}
