// One speed record, from bytes to the store: decode, skip what the batch already covers, apply
// (totals: newer version wins; deltas: added), or reject with a reason. Every speed source calls
// this, so the Kafka consumer and the embedded generator cannot drift apart.
import type { Counter } from 'prom-client';
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

/** 'deleted': a tombstone (it removes what it masks, if anything). */
export type ApplyOutcome = 'applied' | 'deleted' | 'stale' | 'covered' | Rejection;

/** Decodes rec and applies it at (partition, offset). Counts nothing: Applier does. */
export function applyRecord(d: ApplyDeps, rec: RawRecord, partition: number, offset: number): ApplyOutcome {
  const u = d.decoder.decode(rec);
  if (u.kind === 'update') {
    // the batch already holds windows ending at or before its watermark
    if (u.windowEnd <= (d.watermark?.() ?? -Infinity)) return 'covered';
    return d.store.apply(u, partition, offset);
  }
  if (u.kind === 'tombstone') {
    d.store.tombstone(u, partition);
    return 'deleted';
  }
  return u;
}

/** applyRecord for a source: counts outcomes in plain numbers and adds them to the prom-client
 * counters in publish(), once per slice of records rather than once per record (a counter's
 * inc() costs more than applying a small record). A source publishes before every await, so
 * /metrics never lags what the store holds. Rejections are counted by Rejections. */
export class Applier {
  private updates = 0;
  private tombstones = 0;
  private stale = 0;
  private covered = 0;
  // label children resolved once: labels() hashes on every call
  private readonly updatesCounter: Counter.Internal;
  private readonly tombstonesCounter: Counter.Internal;

  constructor(private readonly d: ApplyDeps) {
    this.updatesCounter = d.metrics.updatesApplied.labels({ kind: 'update' });
    this.tombstonesCounter = d.metrics.updatesApplied.labels({ kind: 'tombstone' });
  }

  apply(rec: RawRecord, partition: number, offset: number): ApplyOutcome {
    const outcome = applyRecord(this.d, rec, partition, offset);
    if (outcome === 'applied') this.updates++;
    else if (outcome === 'stale') this.stale++;
    else if (outcome === 'deleted') this.tombstones++;
    else if (outcome === 'covered') this.covered++;
    return outcome;
  }

  /** Adds the outcomes counted since the last call to the metrics; sets the store size gauges. */
  publish(): void {
    const m = this.d.metrics;
    if (this.updates > 0) this.updatesCounter.inc(this.updates);
    if (this.tombstones > 0) this.tombstonesCounter.inc(this.tombstones);
    if (this.stale > 0) m.updatesStale.inc(this.stale);
    if (this.covered > 0) m.updatesCovered.inc(this.covered);
    this.updates = this.tombstones = this.stale = this.covered = 0;
    m.speedKeys.set(this.d.store.keyCount);
    m.speedWindows.set(this.d.store.windowCount);
  }
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
