// Loads the batch layer into memory and keeps it fresh.
// States: never loaded (not ready) -> loaded; a failed reload keeps the last good snapshot,
// marks itself degraded (readyz, logs, metrics) and tries again at the next interval.
// Loads never overlap: a request during a load waits for it and then loads again.
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { BatchSnapshot } from './snapshot.js';

/** The most rows a first load makes room for on the catalog's word: a stale estimate far above the
 * table's size would hold ~24 bytes a row of key-table space until the first reload. */
const MAX_PRESIZE_ROWS = 10_000_000;

export interface BatchStatus {
  readonly loaded: boolean;
  readonly rows: number;
  readonly loadedAt: string | undefined;
  readonly watermark: string | undefined;
  readonly lastError: string | undefined;
  readonly lastErrorAt: string | undefined;
}

export class BatchLoader {
  private current: BatchSnapshot;
  private inFlight: Promise<BatchSnapshot> | undefined;
  private again: Promise<BatchSnapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError: { message: string; at: Date } | undefined;
  private readonly listeners: Array<(s: BatchSnapshot, prev: BatchSnapshot) => void> = [];

  constructor(
    private readonly warehouse: Warehouse,
    private readonly metricCount: number,
    private readonly watermarkSql: string | undefined,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** false with MERGE_STRATEGY=pushdown: the batch stays in the warehouse; a load then reads
     * only the watermark (and the reads' batch lookups are refreshed). */
    private readonly loadRows = true,
  ) {
    this.current = BatchSnapshot.empty(metricCount);
  }

  get snapshot(): BatchSnapshot {
    return this.current;
  }

  onReplace(listener: (s: BatchSnapshot, prev: BatchSnapshot) => void): void {
    this.listeners.push(listener);
  }

  status(): BatchStatus {
    const loaded = this.current.id !== 0;
    return {
      loaded,
      rows: this.current.size,
      loadedAt: loaded ? this.current.loadedAt.toISOString() : undefined,
      watermark: this.current.watermark === undefined ? undefined : new Date(this.current.watermark).toISOString(),
      lastError: this.lastError?.message,
      lastErrorAt: this.lastError?.at.toISOString(),
    };
  }

  /** Loads now; if a load is running, waits for it and loads once more after it. */
  load(): Promise<BatchSnapshot> {
    if (!this.inFlight) {
      this.inFlight = this.loadOnce().finally(() => { this.inFlight = undefined; });
      return this.inFlight;
    }
    this.again ??= this.inFlight.catch(() => undefined).then(() => {
      this.again = undefined;
      return this.load();
    });
    return this.again;
  }

  startSchedule(intervalMs: number): void {
    this.stopSchedule();
    this.timer = setInterval(() => {
      this.load().catch(() => undefined); // already logged and counted in loadOnce
    }, intervalMs);
    this.timer.unref();
  }

  stopSchedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Waits for a running load to end (used at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([this.inFlight, this.again]);
  }

  /** How many rows to make room for: a reload, about the last size; the first load, the catalog's
   * estimate (capped), which spares growing and rehashing a million-key table step by step
   * (a first load of 1M rows: ~0.93 s instead of ~1.15 s on the 2-core machine). */
  private async expectedRows(): Promise<number> {
    if (this.current.size > 0 || !this.loadRows) return this.current.size;
    return Math.min(MAX_PRESIZE_ROWS, (await this.warehouse.estimateBatchRows()) ?? 0);
  }

  private async loadOnce(): Promise<BatchSnapshot> {
    const started = performance.now();
    try {
      const snap = await this.warehouse.retry('batch load', async () => {
        // The watermark is read before the rows: the rows then hold at least what it promises.
        const watermark = this.watermarkSql === undefined ? undefined : await this.warehouse.watermark(this.watermarkSql);
        const b = BatchSnapshot.builder(this.metricCount, await this.expectedRows());
        if (this.loadRows) await this.warehouse.streamBatch(b);
        if (b.duplicates > 0) this.log.warn({ duplicates: b.duplicates }, 'batch table has duplicate keys; their rows were summed');
        return b.build(watermark);
      });
      const prev = this.current;
      this.current = snap;
      this.lastError = undefined;
      const seconds = (performance.now() - started) / 1000;
      this.metrics.batchLoadSeconds.observe(seconds);
      this.metrics.batchRows.set(snap.size);
      this.metrics.lastBatchLoad.set(snap.loadedAt.getTime() / 1000);
      this.metrics.batchWatermark.set(snap.watermark === undefined ? 0 : snap.watermark / 1000);
      this.log.info({ rows: snap.size, ms: Math.round(seconds * 1000), watermark: this.status().watermark }, 'batch layer loaded');
      for (const l of this.listeners) l(snap, prev);
      return snap;
    } catch (err) {
      this.lastError = { message: errorMessage(err), at: new Date() };
      this.metrics.batchLoadFailures.inc();
      this.log.error({ err, keeping: this.current.id === 0 ? 'nothing (never loaded)' : `snapshot of ${this.current.loadedAt.toISOString()}` }, 'batch layer load failed; serving the previous snapshot');
      throw err;
    }
  }
}
