// One speed record, from bytes to the store: decode, skip what the batch already covers, apply
// (totals: newer version wins; deltas: added), or reject with a reason. Every speed source calls
// this, so the Kafka consumer and the embedded generator cannot drift apart.
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Decoder, RawRecord, Rejection } from './decode.js';
import type { SpeedStore } from './store.js';

export interface ApplyDeps {
  readonly decoder: Decoder;
  readonly store: SpeedStore;
  readonly metrics: Metrics;
  readonly watermark?: () => number | undefined;
}

export type ApplyOutcome = 'applied' | 'stale' | 'covered' | Rejection;

/** Per-record counters, with their label children resolved once (labels() hashes every call). */
const counterCache = new WeakMap<Metrics, ReturnType<typeof makeCounters>>();
function makeCounters(m: Metrics) {
  return {
    updates: m.updatesApplied.labels({ kind: 'update' }),
    tombstones: m.updatesApplied.labels({ kind: 'tombstone' }),
    stale: m.updatesStale,
    covered: m.updatesCovered,
  };
}
function counters(m: Metrics): ReturnType<typeof makeCounters> {
  let c = counterCache.get(m);
  if (!c) { c = makeCounters(m); counterCache.set(m, c); }
  return c;
}

/** Decodes rec and applies it at (partition, offset); a rejection is counted by the caller's
 * Rejections (it may also dead-letter it). */
export function applyRecord(d: ApplyDeps, rec: RawRecord, partition: number, offset: bigint): ApplyOutcome {
  const u = d.decoder.decode(rec);
  const c = counters(d.metrics);
  if (u.kind === 'update' && u.windowEnd <= (d.watermark?.() ?? -Infinity)) {
    c.covered.inc(); // the batch already holds this window
    return 'covered';
  }
  if (u.kind === 'update') {
    const res = d.store.apply(u, partition, offset);
    if (res === 'applied') c.updates.inc();
    else c.stale.inc();
    return res;
  }
  if (u.kind === 'tombstone') {
    d.store.tombstone(u, partition);
    c.tombstones.inc();
    return 'applied';
  }
  return u;
}

/** Counts rejected records by reason and logs the first of each kind with a sample. */
export class Rejections {
  private readonly logged = new Set<string>();

  constructor(private readonly log: Logger, private readonly metrics: Metrics) {}

  report(rec: RawRecord, partition: number, offset: string, r: Rejection): void {
    this.metrics.updatesRejected.inc({ reason: r.reason });
    const fields = { reason: r.reason, detail: r.detail, partition, offset };
    if (!this.logged.has(r.reason)) {
      this.logged.add(r.reason);
      const sample = rec.value === null ? null : rec.value.subarray(0, 256).toString('utf8');
      this.log.warn({ ...fields, sample }, 'speed record rejected (first of this kind; later ones are counted in lambda_serving_speed_updates_rejected_total and logged at debug)');
    } else {
      this.log.debug(fields, 'speed record rejected');
    }
  }
}

/** Store size gauges, after a batch of records. */
export function recordStoreSize(metrics: Metrics, store: SpeedStore): void {
  metrics.speedKeys.set(store.keyCount);
  metrics.speedWindows.set(store.windowCount);
}
