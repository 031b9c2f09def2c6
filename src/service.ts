// The service: builds every component from a Config and owns the lifecycle.
// start(): warehouse (dialect, checkpoint table, leftovers of a crashed flush) -> first batch
// load (retried in the background if the warehouse is down) -> speed source (the Kafka consumer;
// in embedded mode an in-process generator) -> HTTP -> schedules. stop(), in reverse: HTTP intake, consumer, final flush, pools, logger.
// Both are idempotent and safe to call concurrently (the in-flight promise is shared).
import { writeSync } from 'node:fs';
import kafkajs from 'kafkajs';
import type { FastifyInstance } from 'fastify';
import { BatchLoader } from './batch/loader.js';
import { describeConfig, type Config } from './config.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { buildApp, type Readiness } from './serving/app.js';
import { StatsSampler } from './serving/stats.js';
import { Reads } from './serving/reads.js';
import { Flusher } from './snapshot/flusher.js';
import { SpeedConsumer } from './speed/consumer.js';
import type { SpeedSource, SpeedSourceFactory } from './speed/source.js';
import { Decoder, OPEN_WINDOW, type Key } from './speed/decode.js';
import { windowFate } from './merge.js';
import { SpeedStore } from './speed/store.js';
import { Warehouse } from './warehouse/warehouse.js';

const { logLevel } = kafkajs;

export class Service {
  readonly metrics: Metrics;
  readonly store: SpeedStore;
  readonly warehouse: Warehouse;
  readonly batch: BatchLoader;
  readonly reads: Reads;
  readonly flusher: Flusher;
  /** The speed source: the Kafka consumer, or what opts.speedSource built. */
  readonly consumer: SpeedSource;
  readonly stats: StatsSampler;
  readonly app: FastifyInstance;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private shuttingDown = false;
  private started = false;
  private consumerStart: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private changedSinceFlush = false;

  constructor(readonly cfg: Config, readonly log: Logger, opts: { defaultMetrics?: boolean; onStatement?: (text: string, values: readonly unknown[]) => void; speedSource?: SpeedSourceFactory } = {}) {
    this.metrics = createMetrics(opts.defaultMetrics ?? true, { straddlingWindows: () => this.countStraddling().n });
    const view = cfg.view;
    this.store = new SpeedStore(cfg.speedMode);
    this.store.onChange(() => { this.changedSinceFlush = true; });
    this.warehouse = new Warehouse({
      url: cfg.warehouseUrl, dialect: cfg.warehouseDialect, view, batchTable: cfg.batchTable, servingTable: cfg.servingTable,
      statementTimeoutMs: cfg.statementTimeoutMs, log: log.child({ component: 'warehouse' }),
      onRetry: (what) => this.metrics.warehouseRetries.inc({ operation: what }),
      queryTimeoutMs: cfg.queryTimeoutMs,
      ...(cfg.s3 ? { s3: cfg.s3 } : {}),
      readers: cfg.servingReaders,
      ...(cfg.warehouseSsl !== undefined ? { ssl: cfg.warehouseSsl } : {}),
      ...(opts.onStatement ? { onStatement: opts.onStatement } : {}),
    });
    this.batch = new BatchLoader(this.warehouse, view.metrics.length, cfg.batchWatermarkSql, log.child({ component: 'batch' }), this.metrics, cfg.mergeStrategy === 'in-process');
    this.reads = new Reads(view, () => this.batch.snapshot, this.store, this.metrics, cfg.cacheMaxEntries, cfg.mergeStrategy === 'pushdown' ? this.warehouse : undefined);
    this.batch.onReplace((snap) => {
      this.changedSinceFlush = true;
      if (snap.watermark !== undefined) {
        const evicted = this.store.evictBefore(snap.watermark);
        if (evicted > 0) log.info({ evicted, watermark: new Date(snap.watermark).toISOString() }, 'speed windows absorbed by the batch dropped');
      }
      this.reportStraddling(snap.watermark);
      this.reads.batchReplaced();
    });
    this.consumer = (opts.speedSource ?? kafkaSource(cfg, log))({
      decoder: new Decoder(view, cfg.maxRecordBytes), store: this.store, log: log.child({ component: 'speed' }), metrics: this.metrics,
      restore: (ps) => this.flusher.exclusive(() => this.restorePartitions(ps)),
      watermark: () => this.batch.snapshot.watermark,
    });
    this.flusher = new Flusher({
      strategy: cfg.mergeStrategy,
      warehouse: this.warehouse, batch: () => this.batch.snapshot, speed: this.store, metricCount: view.metrics.length,
      positions: () => this.consumer.positions(),
      blockedBy: () => this.flushBlockedBy(),
      afterSwap: (positions) => this.consumer.commitForMonitoring(positions),
      log: log.child({ component: 'snapshot' }), metrics: this.metrics,
      ...(cfg.crashAt !== undefined ? { crash: crashAt(cfg.crashAt, log) } : {}),
    });
    this.stats = new StatsSampler({
      mode: cfg.mode, view, metrics: this.metrics, speed: () => this.consumer, store: this.store,
      batch: () => this.batch.status(), flush: () => this.flusher.status(), log: log.child({ component: 'stats' }),
    });
    this.app = buildApp({
      view, reads: this.reads, metrics: this.metrics, log, adminToken: cfg.adminToken, maxKeysPerRequest: cfg.maxKeysPerRequest,
      readiness: () => this.readiness(),
      flush: () => this.flushNow(),
      stats: () => this.stats.current(),
    });
  }

  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** The address HTTP listens on, after start(). */
  get url(): string {
    const a = this.app.server.address();
    if (a === null || typeof a === 'string') throw new Error('not listening');
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async flushNow() {
    const r = await this.flusher.flush();
    this.changedSinceFlush = false;
    return r;
  }

  /** Restores partitions' speed entries from the last checkpoint; returns their next offsets
   * (a partition the checkpoint does not name is absent: read from its start). */
  private async restorePartitions(partitions: number[]): Promise<Map<number, bigint>> {
    const cp = await this.warehouse.latestCheckpoint();
    const out = new Map<number, bigint>();
    for (const p of partitions) {
      const offset = cp?.offsets[String(p)];
      if (offset === undefined) continue;
      const n = await this.restorePartition(p);
      out.set(p, BigInt(offset));
      this.log.info({ partition: p, entries: n, offset, snapshotId: cp?.snapshotId.toString() }, 'partition restored from checkpoint');
    }
    return out;
  }

  private async restorePartition(partition: number): Promise<number> {
    const m = this.cfg.view.metrics.length;
    const n = await this.warehouse.streamSpeedState(partition, (row) => {
      const [part, off, kind, key, start, end, version] = row as [number, bigint, string, string | null, bigint | null, bigint | null, bigint];
      const metrics = (row.slice(7, 7 + m) as bigint[]);
      if (kind === 't') this.store.restoreTombstone({ key, version, partition: part });
      else this.store.restore({
        key, partition: part, offset: Number(off), version, metrics,
        window: start === null ? OPEN_WINDOW : `${start}/${end}`,
        start: start === null ? -Infinity : Number(start), end: end === null ? Infinity : Number(end),
      });
    });
    this.metrics.speedRestored.inc(n);
    return n;
  }

  /** Why a snapshot must not be written now, if it must not. */
  private flushBlockedBy(): string | undefined {
    if (!this.batch.status().loaded) return 'the batch layer has not been loaded yet (a snapshot without it would drop every batch row)';
    if (this.consumer.restoringPartitions > 0) return 'partitions are being restored from the checkpoint';
    // before the first assignment the store is empty: a snapshot now would drop every speed value
    if (this.consumer.status().assigned.length === 0) return 'no speed partitions assigned yet';
    return undefined;
  }

  private countStraddling(): { n: number; sample: { key: Key; window: string } | undefined } {
    const watermark = this.batch.snapshot.watermark;
    let n = 0;
    let sample: { key: Key; window: string } | undefined;
    if (watermark !== undefined) {
      this.store.forEachEntry((w) => {
        if (windowFate(w, watermark) === 'straddling') { n++; sample ??= { key: w.key, window: w.window }; }
      });
    }
    return { n, sample };
  }

  /** Windows straddling the watermark are never added (they would count events twice): say so. */
  private reportStraddling(watermark: number | undefined): void {
    const { n, sample } = this.countStraddling();
    if (n > 0) this.log.warn({ straddling: n, sample, watermark: new Date(watermark as number).toISOString() }, 'speed windows straddle the batch watermark: not added to the merge (the batch holds part of them); align the batch boundary with window ends');
  }

  readiness(): Readiness {
    const batch = this.batch.status();
    const speed = this.consumer.status();
    const flush = this.flusher.status();
    const notReady: string[] = [];
    const degraded: string[] = [];
    if (this.shuttingDown) notReady.push('shutting down');
    if (!batch.loaded) notReady.push(`batch layer not loaded yet${batch.lastError ? ` (last error: ${batch.lastError})` : ''}`);
    if (speed.assigned.length === 0) notReady.push(`no speed partitions assigned to this instance (yet)${speed.lastError ? ` (${speed.lastError})` : ''}`);
    else if (!speed.caughtUp) notReady.push(`speed layer not caught up with the topic${speed.lastError ? ` (${speed.lastError})` : ''}`);
    if (batch.loaded && batch.lastError) degraded.push(`batch reload failing, serving the snapshot of ${batch.loadedAt}: ${batch.lastError}`);
    if (speed.lastError) degraded.push(`kafka: ${speed.lastError}`);
    if (flush.lastError) degraded.push(`last flush failed: ${flush.lastError}`);
    const wh = this.warehouse.failing;
    if (wh) degraded.push(`warehouse: ${wh.what} failing since ${wh.at.toISOString()}: ${wh.message}`);
    return { ready: notReady.length === 0, notReady, degraded, detail: { batch, speed, flush, cacheEntries: this.reads.cacheSize } };
  }

  private async doStart(): Promise<void> {
    this.log.info({ config: describeConfig(this.cfg) }, 'starting lambda-serving');
    await this.warehouse.connect();
    await this.warehouse.cleanLeftovers();
    const cp = await this.warehouse.latestCheckpoint();
    if (cp) this.flusher.setNextSnapshotId(cp.snapshotId + 1n);
    // The first load is awaited when it works; when the warehouse fails, the service still starts
    // (readyz says why) and the schedule keeps trying.
    await this.batch.load().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'first batch load failed; retrying on schedule'));
    this.batch.startSchedule(this.cfg.batchReloadIntervalMs);
    // in the background: a missing topic or a broker that is down must not keep HTTP from serving
    this.consumerStart = this.consumer.start(this.abort.signal).catch((err: unknown) => {
      this.log.error({ err }, 'speed source failed to start');
    });
    await this.app.listen({ port: this.cfg.port, host: this.cfg.host });
    this.flusher.startSchedule(this.cfg.flushIntervalMs);
    this.stats.start();
    this.started = true;
    this.log.info({ url: this.url }, 'lambda-serving started');
  }

  private async doStop(): Promise<void> {
    this.shuttingDown = true;
    await this.starting?.catch(() => undefined); // a failed start still has parts to close
    this.log.info('stopping: HTTP intake, consumer, final flush, pools');
    this.batch.stopSchedule();
    this.stats.stop();
    await this.app.close().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'closing HTTP failed'));
    this.abort.abort();
    await this.consumerStart;
    await this.consumer.stop().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'stopping consumer failed'));
    await this.batch.settle();
    if (this.started && this.changedSinceFlush && this.batch.status().loaded) {
      await this.flusher.flush().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'final flush failed'));
    }
    await this.flusher.stop();
    await this.warehouse.close().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'closing warehouse pool failed'));
    this.log.info('stopped');
  }
}

/** LS_CRASH_AT: a test hook that kills the process (SIGKILL, no cleanup) at a named flush point. */
function crashAt(point: string, log: Logger) {
  return (p: string) => {
    if (p !== point) return;
    log.warn({ point }, 'LS_CRASH_AT: killing the process');
    log.flush();
    writeSync(2, `LS_CRASH_AT ${point}: SIGKILL\n`); // synchronous: the test reads it after the kill
    process.kill(process.pid, 'SIGKILL');
  };
}

/** The speed source of external mode: a kafkajs consumer of SPEED_TOPIC. */
function kafkaSource(cfg: Config, log: Logger): SpeedSourceFactory {
  return (deps) => new SpeedConsumer({
    ...deps,
    kafka: new kafkajs.Kafka({
      clientId: cfg.kafkaClientId,
      brokers: [...cfg.kafkaBrokers],
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(log.child({ component: 'kafkajs' })),
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
    }),
    topic: cfg.speedTopic, groupId: cfg.kafkaGroupId, deadLetterTopic: cfg.deadLetterTopic,
    sessionTimeoutMs: cfg.kafkaSessionTimeoutMs,
  });
}

/** Routes kafkajs's own log lines to pino. */
export function kafkaLogCreator(log: Logger) {
  return () => ({ level, log: entry }: { level: number; log: { message: string } & Record<string, unknown> }) => {
    const { message, timestamp: _t, logger: _l, ...rest } = entry;
    if (level <= logLevel.ERROR) log.error(rest, message);
    else if (level === logLevel.WARN) log.warn(rest, message);
    else if (level === logLevel.INFO) log.info(rest, message);
    else log.debug(rest, message);
  };
}
