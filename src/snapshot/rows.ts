// The rows a flush writes, each as cells (INSERT and S3 paths) and as binary COPY data (PostgreSQL):
//   - the merged snapshot: written straight from the batch snapshot's storage (key bytes from its
//     key table, int8 values from the columns' int32 halves, no BigInt or string per value); only
//     patched rows (keys with a speed part, summed here) and speed-only keys use bigints;
//   - the speed state the checkpoint refers to (columns of sql.speedStateColumns).
// A flush of a million rows is this module's hot loop; chunks go to the COPY stream one by one.
import { LITTLE_ENDIAN, type BatchSnapshot } from '../batch/snapshot.js';
import { firstPatchFrom, mergeAll, mergedValue, type MergePlan } from '../merge.js';
import { OPEN_WINDOW, type Metric } from '../speed/decode.js';
import type { TombstoneEntry, WindowEntry } from '../speed/store.js';
import type { Cell, RowSource } from '../warehouse/bulk.js';
import { CopyBinaryWriter } from '../warehouse/copy-in.js';

type Crash = (point: string) => void;

/** Rows of a merge plan for the bulk writer, in `parts` parts of about equal size (the writer
 * may send them side by side): batch rows cut into ranges, the speed-only keys with the last;
 * `crash` is the LS_CRASH_AT test hook. */
export function mergedRows(plan: MergePlan<BatchSnapshot>, metricCount: number, crash: Crash, parts = 1): RowSource[] {
  const n = plan.batch.size;
  return Array.from({ length: parts }, (_, k) => {
    const from = Math.floor((n * k) / parts);
    const to = Math.floor((n * (k + 1)) / parts);
    const last = k === parts - 1;
    return {
      rows: to - from + (last ? plan.speedOnly.length : 0),
      cells: () => crashAfter(cellsOf(plan, from, to, last), 1000, crash),
      copyBinary: () => crashAfter(copyBinaryOf(plan, metricCount, from, to, last), 1, crash),
    };
  });
}

function* cellsOf(plan: MergePlan<BatchSnapshot>, from: number, to: number, speedOnly: boolean): Generator<readonly Cell[]> {
  for (const r of mergeAll(plan, from, to, speedOnly)) yield [r.key, ...r.metrics];
}

/** Calls crash('bulk-write') once `n` items have been taken (or at the end, if fewer). */
function* crashAfter<T>(items: Iterable<T>, n: number, crash: Crash): Generator<T> {
  let taken = 0;
  for (const x of items) {
    yield x;
    if (++taken === n) crash('bulk-write');
  }
  if (taken < n) crash('bulk-write');
}

/** Merged rows in COPY's binary format (columns: key text, then each metric int8): batch rows
 * [from, to), then the speed-only keys if asked for. */
export function* copyBinaryOf(plan: MergePlan<BatchSnapshot>, metricCount: number, from = 0, to = plan.batch.size, speedOnly = true): Generator<Buffer> {
  const { batch, patched, patchedSpeed } = plan;
  const { bytes, offsets } = batch.table.keyBytes;
  const { halves, columns } = batch;
  const w = new CopyBinaryWriter();
  const fields = metricCount + 1;
  const fixed = 2 + 4 + metricCount * 12;
  let p = firstPatchFrom(patched, from);
  for (let i = from; i < to; i++) {
    const ks = offsets[i] as number;
    const ke = offsets[i + 1] as number;
    w.reserve(fixed + (ke - ks));
    w.row(fields);
    if (batch.table.isNull(i)) w.null();
    else w.bytes(bytes, ks, ke);
    if (p < patched.length && patched[p] === i) {
      const speed = patchedSpeed[p++] as readonly Metric[];
      const row = i;
      for (let m = 0; m < metricCount; m++) w.big(mergedValue((columns[m] as BigInt64Array)[i] as bigint, speed[m] as Metric, () => batch.keyAt(row)));
    } else {
      if (LITTLE_ENDIAN) for (let m = 0; m < metricCount; m++) w.int64At(halves[m] as Int32Array, i);
      else for (let m = 0; m < metricCount; m++) w.big((columns[m] as BigInt64Array)[i] as bigint);
    }
    const full = w.takeFull();
    if (full) yield full;
  }
  for (const [key, metrics] of speedOnly ? plan.speedOnly : []) {
    w.reserve(fixed + 3 * (key?.length ?? 0));
    w.row(fields);
    w.text(key);
    for (let m = 0; m < metricCount; m++) w.metric(metrics[m] as Metric);
    const full = w.takeFull();
    if (full) yield full;
  }
  yield* w.finish();
}

export interface SpeedState {
  readonly entries: readonly WindowEntry[];
  readonly tombstones: readonly TombstoneEntry[];
}

/** The speed state as rows of the speed-state table (see sql.speedStateColumns). */
export function speedStateRows(state: SpeedState, metricCount: number): RowSource {
  return {
    rows: state.entries.length + state.tombstones.length,
    cells: () => stateCells(state, metricCount),
    copyBinary: () => stateCopyBinary(state, metricCount),
  };
}

function* stateCells(state: SpeedState, metricCount: number): Generator<readonly Cell[]> {
  for (const e of state.entries) {
    const open = e.window === OPEN_WINDOW;
    yield [e.partition, e.offset, 'w', e.key, open ? null : e.start, open ? null : e.end, e.version, ...e.metrics];
  }
  const zeros = new Array<bigint>(metricCount).fill(0n);
  for (const t of state.tombstones) yield [t.partition, 0n, 't', t.key, null, null, t.version, ...zeros];
}

/** The speed state in COPY's binary format (column types: sql.createSpeedState). */
function* stateCopyBinary(state: SpeedState, metricCount: number): Generator<Buffer> {
  const w = new CopyBinaryWriter();
  const fields = 7 + metricCount;
  const fixed = 2 + 8 + 12 + 5 + 4 + 12 * (3 + metricCount);
  for (const e of state.entries) {
    w.reserve(fixed + 3 * (e.key?.length ?? 0));
    w.row(fields);
    w.int4(e.partition);
    w.int8(e.offset);
    w.text('w');
    w.text(e.key);
    if (e.window === OPEN_WINDOW) { w.null(); w.null(); } else { w.int8(e.start); w.int8(e.end); }
    w.big(e.version);
    const values = e.values;
    for (let m = 0; m < metricCount; m++) w.metric(values[m] as Metric);
    const full = w.takeFull();
    if (full) yield full;
  }
  for (const t of state.tombstones) {
    w.reserve(fixed + 3 * (t.key?.length ?? 0));
    w.row(fields);
    w.int4(t.partition);
    w.int8(0);
    w.text('t');
    w.text(t.key);
    w.null();
    w.null();
    w.big(t.version);
    for (let m = 0; m < metricCount; m++) w.int8(0);
    const full = w.takeFull();
    if (full) yield full;
  }
  yield* w.finish();
}
