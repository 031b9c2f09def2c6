// The rows a flush writes, each as cells (INSERT and S3 paths) and as COPY text (PostgreSQL):
//   - the merged snapshot: COPY text written straight from the batch snapshot's storage (key bytes
//     from its key table, int64 values printed from the columns' int32 halves, no BigInt or string
//     per value); only patched rows (keys with a speed part) and speed-only keys use bigints;
//   - the speed state the checkpoint refers to (columns of sql.speedStateColumns).
// A flush of a million rows is this module's hot loop; chunks go to the COPY stream one by one.
import type { BatchSnapshot } from '../batch/snapshot.js';
import { mergeAll, mergedValue, type MergePlan } from '../merge.js';
import { OPEN_WINDOW } from '../speed/decode.js';
import type { TombstoneEntry, WindowEntry } from '../speed/store.js';
import type { Cell, RowSource } from '../warehouse/bulk.js';
import { CopyTextWriter, FIELD_BYTES } from '../warehouse/copy-text.js';

type Crash = (point: string) => void;

/** Rows of a merge plan for the bulk writer; `crash` is the LS_CRASH_AT test hook. */
export function mergedRows(plan: MergePlan<BatchSnapshot>, metricCount: number, crash: Crash): RowSource {
  return {
    rows: plan.rows,
    cells: () => crashAfter(cellsOf(plan), 1000, crash),
    copyText: () => crashAfter(copyTextOf(plan, metricCount), 1, crash),
  };
}

function* cellsOf(plan: MergePlan<BatchSnapshot>): Generator<readonly Cell[]> {
  for (const r of mergeAll(plan)) yield [r.key, ...r.metrics];
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

export function* copyTextOf(plan: MergePlan<BatchSnapshot>, metricCount: number): Generator<Buffer> {
  const { batch, patched, patchedSpeed } = plan;
  const { bytes, offsets } = batch.table.keyBytes;
  const { halves, columns } = batch;
  const w = new CopyTextWriter();
  const fixed = metricCount * FIELD_BYTES + 1;
  let p = 0;
  for (let i = 0; i < batch.size; i++) {
    const ks = offsets[i] as number;
    const ke = offsets[i + 1] as number;
    w.reserve(2 * (ke - ks) + 2 + fixed);
    if (batch.table.isNull(i)) w.null();
    else w.bytes(bytes, ks, ke);
    if (p < patched.length && patched[p] === i) {
      const speed = patchedSpeed[p++] as readonly bigint[];
      const row = i;
      for (let m = 0; m < metricCount; m++) w.big(mergedValue((columns[m] as BigInt64Array)[i] as bigint, speed[m] as bigint, () => batch.keyAt(row)));
    } else {
      for (let m = 0; m < metricCount; m++) w.int64At(columns[m] as BigInt64Array, halves[m] as Int32Array, i);
    }
    w.endRow();
    const full = w.takeFull();
    if (full) yield full;
  }
  for (const [key, metrics] of plan.speedOnly) {
    w.reserve(6 * (key?.length ?? 0) + 2 + fixed);
    w.text(key);
    for (let m = 0; m < metricCount; m++) w.big(metrics[m] as bigint);
    w.endRow();
    const full = w.takeFull();
    if (full) yield full;
  }
  const last = w.finish();
  if (last) yield last;
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
    copyText: () => stateCopyText(state, metricCount),
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

function* stateCopyText(state: SpeedState, metricCount: number): Generator<Buffer> {
  const w = new CopyTextWriter();
  const fixed = (metricCount + 6) * FIELD_BYTES + 1;
  for (const e of state.entries) {
    w.reserve(6 * (e.key?.length ?? 0) + fixed);
    w.int(e.partition);
    w.big(e.offset);
    w.text('w');
    w.text(e.key);
    if (e.window === OPEN_WINDOW) { w.null(); w.null(); } else { w.int(e.start); w.int(e.end); }
    w.big(e.version);
    for (let m = 0; m < metricCount; m++) w.big(e.metrics[m] as bigint);
    w.endRow();
    const full = w.takeFull();
    if (full) yield full;
  }
  for (const t of state.tombstones) {
    w.reserve(6 * (t.key?.length ?? 0) + fixed);
    w.int(t.partition);
    w.int(0);
    w.text('t');
    w.text(t.key);
    w.null();
    w.null();
    w.big(t.version);
    for (let m = 0; m < metricCount; m++) w.int(0);
    w.endRow();
    const full = w.takeFull();
    if (full) yield full;
  }
  const last = w.finish();
  if (last) yield last;
}
