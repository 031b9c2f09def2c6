// The flush cycle: merged snapshot -> staging table -> swap in as the serving table + checkpoint.
//
// States: idle -> capturing (synchronous: batch snapshot reference, the speed part of every
// key, the Kafka positions; one consistent cut) -> writing (bulk write of the staging table,
// streamed with backpressure so reads keep being answered) -> swapping (one transaction) -> idle.
// Only one flush runs at a time; a request during a flush is answered by the next flush, which
// starts when the running one ends (requests arriving meanwhile share it).
import { errorMessage, LsError } from '../errors.js';
import type { BatchSnapshot } from '../batch/snapshot.js';
import type { Logger } from '../log.js';
import { planMerge, speedPart } from '../merge.js';
import type { Metrics } from '../metrics.js';
import { OPEN_WINDOW, type Key } from '../speed/decode.js';
import type { SpeedStore, TombstoneEntry, WindowEntry } from '../speed/store.js';
import type { Cell } from '../warehouse/bulk.js';
import type { CrashPoint, Warehouse } from '../warehouse/warehouse.js';
import { mergedRows } from './merged-copy.js';

export interface FlushResult {
  readonly snapshotId: string;
  readonly rows: number;
  readonly ms: number;
}

export interface FlushStatus {
  readonly lastSnapshotId: string | undefined;
  readonly lastFlushAt: string | undefined;
  readonly lastRows: number | undefined;
  readonly lastMs: number | undefined;
  readonly lastError: string | undefined;
  readonly lastErrorAt: string | undefined;
  readonly running: boolean;
}

export interface FlusherDeps {
  readonly warehouse: Warehouse;
  readonly batch: () => BatchSnapshot;
  readonly speed: SpeedStore;
  readonly metricCount: number;
  readonly positions: () => Record<string, string>;
  /** A reason not to flush now (checked inside the flush, after the lock), or undefined. */
  readonly blockedBy?: () => string | undefined;
  readonly afterSwap?: (positions: Record<string, string>) => Promise<void>;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Test hook (LS_CRASH_AT): kill the process at a named point of the flush. */
  readonly crash?: CrashPoint;
  /** pushdown: ship only the speed part and merge in the warehouse. */
  readonly strategy?: 'in-process' | 'pushdown';
}

export class Flusher {
  private running: Promise<FlushResult> | undefined;
  private queued: Promise<FlushResult> | undefined;
  private nextId = 1n;
  private timer: NodeJS.Timeout | undefined;
  private last: { id: bigint; at: Date; rows: number; ms: number } | undefined;
  private lastError: { message: string; at: Date } | undefined;
  private stopped = false;
  private lock: Promise<void> = Promise.resolve();

  constructor(private readonly d: FlusherDeps) {}

  /** Continue numbering after the last committed snapshot. */
  setNextSnapshotId(id: bigint): void {
    if (id > this.nextId) this.nextId = id;
  }

  status(): FlushStatus {
    return {
      lastSnapshotId: this.last?.id.toString(),
      lastFlushAt: this.last?.at.toISOString(),
      lastRows: this.last?.rows,
      lastMs: this.last?.ms,
      lastError: this.lastError?.message,
      lastErrorAt: this.lastError?.at.toISOString(),
      running: this.running !== undefined,
    };
  }

  /** Runs fn while no flush runs (a flush waits for it): e.g. restoring a partition from the
   * checkpoint, which must not interleave with the swap of the next checkpoint. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => { release = r; });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  flush(): Promise<FlushResult> {
    if (this.stopped) return Promise.reject(new LsError('LS_SHUTTING_DOWN', 'no new flush after stop'));
    if (!this.running) {
      this.running = this.exclusive(() => this.flushOnce()).finally(() => { this.running = undefined; });
      return this.running;
    }
    this.queued ??= this.running.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.flush();
    });
    return this.queued;
  }

  /** Flushes every intervalMs, counted from the end of the previous flush. */
  startSchedule(intervalMs: number): void {
    const tick = () => {
      this.timer = setTimeout(() => {
        this.flush().catch(() => undefined).finally(() => { if (!this.stopped) tick(); }); // failures are logged and counted in flushOnce
      }, intervalMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops the schedule; waits for a running flush. Further flush() calls are refused. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([this.running, this.queued]);
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Captures one consistent cut, synchronously: nothing is applied while this runs. The store's
   * entries are immutable, so holding references to them is a snapshot. */
  private capture(): Cut {
    const batch = this.d.batch();
    const speed = new Map<Key, bigint[]>();
    for (const [key, wins] of this.d.speed.entries()) {
      const s = speedPart(wins.values(), this.d.metricCount, batch.watermark);
      if (s !== undefined) speed.set(key, s);
    }
    return { batch, speed, state: this.d.speed.cut(), positions: this.d.positions() };
  }

  private async flushOnce(): Promise<FlushResult> {
    const started = performance.now();
    const blocked = this.d.blockedBy?.();
    if (blocked !== undefined) {
      this.d.log.info({ reason: blocked }, 'flush postponed');
      throw new LsError('LS_FLUSH', `not now: ${blocked}`, { retryable: true });
    }
    const id = this.nextId++;
    try {
      const cut = this.capture();
      const crash = this.d.crash ?? (() => undefined);
      const rows = this.d.strategy === 'pushdown'
        ? await this.d.warehouse.retry('flush: pushdown merge', () =>
          this.d.warehouse.writePushdown(cut.speed, stateRows(cut.state, this.d.metricCount)))
        : await this.d.warehouse.retry('flush: bulk write', () =>
          this.d.warehouse.writeStaging(mergedRows(planMerge(cut.batch, cut.speed), this.d.metricCount, crash), stateRows(cut.state, this.d.metricCount)));
      await this.d.warehouse.retry('flush: swap', () =>
        this.d.warehouse.swap({ snapshotId: id, rows, batchWatermarkMs: cut.batch.watermark, offsets: cut.positions }, crash));
      const ms = Math.round(performance.now() - started);
      this.last = { id, at: new Date(), rows, ms };
      this.lastError = undefined;
      this.d.metrics.flushSeconds.observe(ms / 1000);
      this.d.metrics.lastFlush.set(Date.now() / 1000);
      this.d.metrics.lastFlushRows.set(rows);
      this.d.log.info({ snapshotId: id.toString(), rows, ms }, 'snapshot swapped in');
      if (this.d.afterSwap) {
        await this.d.afterSwap(cut.positions).catch((err: unknown) => this.d.log.warn({ err: errorMessage(err) }, 'commit of monitoring offsets failed'));
      }
      return { snapshotId: id.toString(), rows, ms };
    } catch (err) {
      this.lastError = { message: errorMessage(err), at: new Date() };
      this.d.metrics.flushFailures.inc();
      this.d.log.error({ err, snapshotId: id.toString() }, 'flush failed; the previous serving table stays in place');
      throw err instanceof LsError ? err : new LsError('LS_FLUSH', errorMessage(err), { cause: err });
    }
  }
}

interface Cut {
  readonly batch: BatchSnapshot;
  readonly speed: Map<Key, bigint[]>;
  readonly state: { entries: WindowEntry[]; tombstones: TombstoneEntry[] };
  readonly positions: Record<string, string>;
}

/** The speed store as rows of the speed-state table (see sql.speedStateColumns). */
function* stateRows(state: Cut['state'], metricCount: number): Generator<readonly Cell[]> {
  for (const e of state.entries) {
    yield [e.partition, e.offset, 'w', e.key, e.window === OPEN_WINDOW ? null : e.start, e.window === OPEN_WINDOW ? null : e.end, e.version, ...e.metrics];
  }
  const zeros = new Array<bigint>(metricCount).fill(0n);
  for (const t of state.tombstones) yield [t.partition, 0n, 't', t.key, null, null, t.version, ...zeros];
}
