// The merged snapshot as COPY text, written straight from the batch snapshot's storage: key bytes
// copied (escaped where needed) from its key table, int64 values printed from the columns' int32
// halves without making a BigInt or a string per value. Only the patched rows (keys with a speed
// part) and the speed-only keys go through bigints. This is the flush's hot loop: a million rows
// in ~256 KB chunks, each handed to the COPY stream before the next is made.
import type { BatchSnapshot } from '../batch/snapshot.js';
import type { MergePlan } from '../merge.js';
import { copyRowLine, type Cell, type RowSource } from '../warehouse/bulk.js';

const CHUNK_BYTES = 256 * 1024;
const TAB = 9;
const NL = 10;
const CR = 13;
const BACKSLASH = 92;
const TWO_32 = 4294967296;
/** |hi| below this: hi * 2^32 + lo is below 2^53, exact as a double. */
const SAFE_HI = 2 ** 21;
/** Most bytes an int64 takes in text, with its sign. */
const INT64_CHARS = 20;

/** Rows of a merge plan for the bulk writer; `crash` is the LS_CRASH_AT test hook. */
export function mergedRows(plan: MergePlan<BatchSnapshot>, metricCount: number, crash: (point: string) => void): RowSource {
  return {
    rows: plan.rows,
    cells: () => crashAfter(cellsOf(plan), 1000, crash),
    copyText: () => crashAfter(copyTextOf(plan, metricCount), 1, crash),
  };
}

function* cellsOf(plan: MergePlan<BatchSnapshot>): Generator<readonly Cell[]> {
  const { batch, patched, patchedMetrics } = plan;
  let p = 0;
  for (let i = 0; i < batch.size; i++) {
    const metrics = p < patched.length && patched[p] === i ? (patchedMetrics[p++] as readonly bigint[]) : batch.row(i);
    yield [batch.keyAt(i), ...metrics];
  }
  for (const [key, metrics] of plan.speedOnly) yield [key, ...metrics];
}

/** Calls crash('bulk-write') once `n` items have been taken (or at the end, if fewer). */
function* crashAfter<T>(items: Iterable<T>, n: number, crash: (point: string) => void): Generator<T> {
  let taken = 0;
  for (const x of items) {
    yield x;
    if (++taken === n) crash('bulk-write');
  }
  if (taken < n) crash('bulk-write');
}

export function* copyTextOf(plan: MergePlan<BatchSnapshot>, metricCount: number): Generator<Buffer> {
  const { batch, patched, patchedMetrics } = plan;
  const { bytes, offsets } = batch.table.keyBytes;
  const halves = batch.halves;
  const columns = batch.columns;
  const fixed = metricCount * (INT64_CHARS + 1) + 1;
  let out = Buffer.allocUnsafe(CHUNK_BYTES);
  let pos = 0;
  let p = 0;
  for (let i = 0; i < batch.size; i++) {
    const ks = offsets[i] as number;
    const ke = offsets[i + 1] as number;
    const need = 2 * (ke - ks) + 2 + fixed;
    if (pos + need > out.length) {
      if (pos > 0) yield out.subarray(0, pos);
      out = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, need));
      pos = 0;
    }
    if (batch.table.isNull(i)) { out[pos++] = BACKSLASH; out[pos++] = 78; } // \N
    else pos = escapedBytes(out, pos, bytes, ks, ke);
    if (p < patched.length && patched[p] === i) {
      const ms = patchedMetrics[p++] as readonly bigint[];
      for (let m = 0; m < metricCount; m++) { out[pos++] = TAB; pos = ascii(out, pos, String(ms[m])); }
    } else {
      for (let m = 0; m < metricCount; m++) {
        out[pos++] = TAB;
        const h = halves[m] as Int32Array;
        const hi = h[2 * i + 1] as number;
        pos = hi >= -SAFE_HI && hi < SAFE_HI
          ? decimal(out, pos, hi * TWO_32 + ((h[2 * i] as number) >>> 0))
          : ascii(out, pos, String((columns[m] as BigInt64Array)[i]));
      }
    }
    out[pos++] = NL;
  }
  if (pos > 0) yield out.subarray(0, pos);
  // the speed-only keys: few, and strings already
  let text = '';
  for (const [key, metrics] of plan.speedOnly) {
    text += copyRowLine([key, ...metrics]);
    if (text.length >= CHUNK_BYTES) { yield Buffer.from(text, 'utf8'); text = ''; }
  }
  if (text.length > 0) yield Buffer.from(text, 'utf8');
}

/** Bytes [s, e) of src at out[pos], with COPY's escapes; returns the new position. */
function escapedBytes(out: Buffer, pos: number, src: Buffer, s: number, e: number): number {
  for (let k = s; k < e; k++) {
    const c = src[k] as number;
    if (c === BACKSLASH || c === TAB || c === NL || c === CR) {
      out[pos++] = BACKSLASH;
      out[pos++] = c === BACKSLASH ? BACKSLASH : c === TAB ? 116 : c === NL ? 110 : 114;
    } else out[pos++] = c;
  }
  return pos;
}

/** A safe integer in decimal at out[pos]; returns the new position. */
function decimal(out: Buffer, pos: number, v: number): number {
  if (v < 0) { out[pos++] = 45; v = -v; }
  if (v < 10) { out[pos++] = 48 + v; return pos; }
  const start = pos;
  while (v > 0) {
    const q = Math.floor(v / 10);
    out[pos++] = 48 + (v - q * 10);
    v = q;
  }
  for (let a = start, b = pos - 1; a < b; a++, b--) { const t = out[a] as number; out[a] = out[b] as number; out[b] = t; }
  return pos;
}

function ascii(out: Buffer, pos: number, s: string): number {
  for (let k = 0; k < s.length; k++) out[pos++] = s.charCodeAt(k);
  return pos;
}
