// What the dashboard shows, as one JSON document (GET /v1/stats): the rates and lag over the last
// few minutes, the batch snapshot in use, the last swapped-in warehouse snapshot, rejected
// records by reason. A sampler reads the counters once a second and keeps a short history, so a
// page opened now shows the last minutes at once.
import type { BatchStatus } from '../batch/loader.js';
import type { Mode } from '../config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { FlushStatus } from '../snapshot/flusher.js';
import type { SpeedSource } from '../speed/source.js';
import type { SpeedStore } from '../speed/store.js';
import type { View } from '../view.js';

export interface StatsSources {
  readonly mode: Mode;
  readonly view: View;
  readonly metrics: Metrics;
  readonly speed: () => SpeedSource;
  readonly store: SpeedStore;
  readonly batch: () => BatchStatus;
  readonly flush: () => FlushStatus;
  readonly log: Logger;
}

export interface Stats {
  readonly mode: Mode;
  readonly at: string;
  readonly view: { readonly key: string; readonly metrics: readonly string[] };
  readonly updatesPerSecond: number;
  readonly lag: number;
  /** Oldest first: t (unix ms), applied updates per second, consumer lag (records). */
  readonly series: { readonly t: number[]; readonly updatesPerSecond: number[]; readonly lag: number[] };
  readonly speed: {
    readonly keys: number; readonly windows: number; readonly caughtUp: boolean;
    readonly positions: Record<string, string>; readonly lastError: string | null;
  };
  readonly batch: { readonly loaded: boolean; readonly rows: number; readonly loadedAt: string | null; readonly watermark: string | null; readonly lastError: string | null };
  readonly snapshot: {
    readonly id: string | null; readonly at: string | null; readonly rows: number | null; readonly ms: number | null;
    readonly running: boolean; readonly lastError: string | null;
  };
  readonly rejected: Record<string, number>;
}

interface Sample { readonly t: number; readonly applied: number; readonly rate: number; readonly lag: number }

const nullable = (type: string) => ({ type: [type, 'null'] });

/** JSON schema of GET /v1/stats (response serialisation and the OpenAPI document). */
export const statsSchema = {
  type: 'object',
  required: ['mode', 'at', 'view', 'updatesPerSecond', 'lag', 'series', 'speed', 'batch', 'snapshot', 'rejected'],
  properties: {
    mode: { type: 'string', enum: ['embedded', 'external'], description: 'embedded: in-process PGlite warehouse and speed generator' },
    at: { type: 'string', format: 'date-time' },
    view: { type: 'object', properties: { key: { type: 'string' }, metrics: { type: 'array', items: { type: 'string' } } } },
    updatesPerSecond: { type: 'number', description: 'speed updates applied per second, over the last sample interval' },
    lag: { type: 'integer', description: 'records not yet applied, summed over partitions' },
    series: {
      type: 'object',
      description: 'one point per second, oldest first',
      properties: {
        t: { type: 'array', items: { type: 'integer' }, description: 'unix milliseconds' },
        updatesPerSecond: { type: 'array', items: { type: 'number' } },
        lag: { type: 'array', items: { type: 'integer' } },
      },
    },
    speed: {
      type: 'object',
      properties: {
        keys: { type: 'integer' }, windows: { type: 'integer' }, caughtUp: { type: 'boolean' },
        positions: { type: 'object', additionalProperties: { type: 'string' }, description: 'partition -> next offset to apply' },
        lastError: nullable('string'),
      },
    },
    batch: {
      type: 'object',
      properties: {
        loaded: { type: 'boolean' }, rows: { type: 'integer' }, loadedAt: nullable('string'),
        watermark: { ...nullable('string'), description: 'the batch holds every event before this time' },
        lastError: nullable('string'),
      },
    },
    snapshot: {
      type: 'object',
      description: 'the last merged snapshot swapped into the warehouse',
      properties: {
        id: nullable('string'), at: nullable('string'), rows: nullable('integer'), ms: nullable('integer'),
        running: { type: 'boolean' }, lastError: nullable('string'),
      },
    },
    rejected: { type: 'object', additionalProperties: { type: 'integer' }, description: 'rejected records by reason, since start' },
  },
} as const;

export class StatsSampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly s: StatsSources, private readonly keep = 300) {}

  /** Samples now and then every intervalMs (the timer does not keep the process alive). */
  start(intervalMs = 1000): void {
    this.stop();
    const tick = () => {
      this.sample().catch((err: unknown) => this.s.log.warn({ err: errorMessage(err) }, 'stats sample failed'));
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async sample(): Promise<void> {
    const t = Date.now();
    const applied = counterTotal(await this.s.metrics.updatesApplied.get());
    const prev = this.samples[this.samples.length - 1];
    const rate = prev !== undefined && t > prev.t ? Math.max(0, applied - prev.applied) / ((t - prev.t) / 1000) : 0;
    this.samples.push({ t, applied, rate: Math.round(rate * 10) / 10, lag: this.lag() });
    if (this.samples.length > this.keep) this.samples.splice(0, this.samples.length - this.keep);
  }

  async current(): Promise<Stats> {
    const speed = this.s.speed();
    const status = speed.status();
    const batch = this.s.batch();
    const flush = this.s.flush();
    const rejected: Record<string, number> = {};
    for (const v of (await this.s.metrics.updatesRejected.get()).values) {
      rejected[String(v.labels.reason)] = v.value;
    }
    const last = this.samples[this.samples.length - 1];
    return {
      mode: this.s.mode,
      at: new Date().toISOString(),
      view: { key: this.s.view.keyColumn, metrics: this.s.view.metrics.map((m) => m.column) },
      updatesPerSecond: last?.rate ?? 0,
      lag: this.lag(),
      series: { t: this.samples.map((x) => x.t), updatesPerSecond: this.samples.map((x) => x.rate), lag: this.samples.map((x) => x.lag) },
      speed: { keys: this.s.store.keyCount, windows: this.s.store.windowCount, caughtUp: status.caughtUp, positions: speed.positions(), lastError: status.lastError ?? null },
      batch: { loaded: batch.loaded, rows: batch.rows, loadedAt: batch.loadedAt ?? null, watermark: batch.watermark ?? null, lastError: batch.lastError ?? null },
      snapshot: {
        id: flush.lastSnapshotId ?? null, at: flush.lastFlushAt ?? null, rows: flush.lastRows ?? null, ms: flush.lastMs ?? null,
        running: flush.running, lastError: flush.lastError ?? null,
      },
      rejected,
    };
  }

  private lag(): number {
    let lag = 0;
    for (const l of Object.values(this.s.speed().status().lag)) lag += Number(l);
    return lag;
  }
}

function counterTotal(m: { values: ReadonlyArray<{ value: number }> }): number {
  let n = 0;
  for (const v of m.values) n += v.value;
  return n;
}
