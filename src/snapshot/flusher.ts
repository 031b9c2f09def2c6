// The flush cycle: merged snapshot -> staging table -> swap in as the serving table + checkpoint.
//
// States: idle -> capturing (synchronous: batch snapshot reference, a copy of the speed store's
// entries, the Kafka positions; one consistent cut) -> planning (the speed part of each key and
// where it goes among the batch rows, a few thousand keys a turn) -> writing (bulk write of the
// staging tables, streamed with backpressure so reads keep being answered) -> swapping (one
// transaction) -> idle.
// Only one flush runs at a time; a request during a flush is answered by the next flush, which
// starts when the running one ends (requests arriving meanwhile share it).
import { settleAll, turn } from '../async.js';
import { errorMessage, LsError } from '../errors.js';
import type { BatchSnapshot } from '../batch/snapshot.js';
import type { Logger } from '../log.js';
import { MergePlanner, SpeedPartSummer, type MergePlan, type RowMemo } from '../merge.js';
import type { Metrics } from '../metrics.js';
import type { Key, Metric } from '../speed/decode.js';
import type { SpeedStore, WindowEntry } from '../speed/store.js';
import type { CrashPoint, Warehouse } from '../warehouse/warehouse.js';
import { mergedRows, speedStateRows, type SpeedState } from './rows.js';

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

  /** Captures one consistent cut, synchronously: nothing is applied while this runs. Later
   * updates leave the store's cut() alone (they change copies of its entries), and the batch
   * snapshot is immutable. */
  private capture(): Cut {
    return { batch: this.d.batch(), state: this.d.speed.cut(), positions: this.d.positions() };
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
      const captured = performance.now();
      const crash = this.d.crash ?? (() => undefined);
      const metricCount = this.d.metricCount;
      // the rest works on the cut, in slices, so reads and consumption go on meanwhile; the
      // staging tables are (re)created while the merge is planned, and written once it is (a
      // write beside the planning only slows both), side by side on their own connections
      const wh = this.d.warehouse;
      let planned = captured;
      const timed = <T>(p: Promise<T>): Promise<T> => handled(p.then((v) => { planned = performance.now(); return v; }));
      let ready: Promise<unknown>;
      let merged: Promise<number>;
      if (this.d.strategy === 'pushdown') {
        const speed = timed(speedParts(cut, metricCount));
        ready = speed;
        merged = wh.retry('flush: pushdown merge', async () => wh.writePushdown(await speed));
      } else {
        const plan = timed(planInSlices(cut, metricCount));
        ready = plan;
        merged = wh.retry('flush: bulk write', () => wh.writeStaging(handled(plan.then((p) => (parts: number) => mergedRows(p, metricCount, crash, parts)))));
      }
      const [rows] = await settleAll<[number, void]>([
        merged,
        wh.retry('flush: speed state', () => wh.writeSpeedStaging(handled(ready.then(() => speedStateRows(cut.state, metricCount))))),
      ]);
      const written = performance.now();
      await this.d.warehouse.retry('flush: swap', () =>
        this.d.warehouse.swap({ snapshotId: id, rows, batchWatermarkMs: cut.batch.watermark, offsets: cut.positions }, crash));
      const ms = Math.round(performance.now() - started);
      const phases = { captureMs: Math.round(captured - started), planMs: Math.round(planned - captured), writeMs: Math.round(written - planned), swapMs: Math.round(performance.now() - written) };
      this.last = { id, at: new Date(), rows, ms };
      this.lastError = undefined;
      this.d.metrics.flushSeconds.observe(ms / 1000);
      this.d.metrics.lastFlush.set(Date.now() / 1000);
      this.d.metrics.lastFlushRows.set(rows);
      this.d.log.info({ snapshotId: id.toString(), rows, ms, ...phases }, 'snapshot swapped in');
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
  readonly state: SpeedState & { readonly entries: ReadonlyArray<WindowEntry & { readonly memo: RowMemo }> };
  readonly positions: Record<string, string>;
}

/** Entries or keys handled per turn of the event loop while a flush prepares its rows (~10 ms). */
const SLICE = 20_000;

/** p, marked as handled: it is awaited later (after other awaits), and a failure before then must
 * not count as an unhandled rejection. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}


/** Each key's speed part (windows the batch does not cover, summed), for the pushdown merge. */
async function speedParts(cut: Cut, metricCount: number): Promise<Array<[Key, readonly Metric[]]>> {
  const parts: Array<[Key, readonly Metric[]]> = [];
  await eachSpeedPart(cut, metricCount, (key, part) => { parts.push([key, part]); });
  return parts;
}

/** The merge plan, in one pass over the cut's entries: each key's speed part and where it goes
 * among the batch rows (looked up in the batch only for keys whose entry does not remember it
 * from a flush with this snapshot: RowMemo). */
async function planInSlices(cut: Cut, metricCount: number): Promise<MergePlan<BatchSnapshot>> {
  const planner = new MergePlanner(cut.batch);
  await eachSpeedPart(cut, metricCount, (key, part, first) => planner.add(key, part, first.memo));
  return planner.plan();
}

type CutEntry = Cut['state']['entries'][number];

/** emit(key, part, first entry of the key) for every key of the cut with a speed part, SLICE
 * entries a turn of the event loop. */
async function eachSpeedPart(cut: Cut, metricCount: number, emit: (key: Key, part: readonly Metric[], first: CutEntry) => void): Promise<void> {
  const summer = new SpeedPartSummer<CutEntry>(metricCount, cut.batch.watermark, emit);
  const { entries } = cut.state;
  for (let from = 0; from < entries.length; from += SLICE) {
    if (from > 0) await turn();
    const to = Math.min(entries.length, from + SLICE);
    for (let i = from; i < to; i++) summer.add(entries[i] as CutEntry);
  }
  summer.end();
}
