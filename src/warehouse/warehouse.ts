// The warehouse connection: a pg pool, the dialect profile, retries of what is retryable, and the
// few operations the rest of the service needs (stream the batch table, bulk-write a staging
// table, swap it in with a checkpoint). SQL text comes only from ./sql.ts.
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { settleAll } from '../async.js';
import { backoffDelay, errorMessage, isRetryable, LsError } from '../errors.js';
import type { BatchRowSink } from '../batch/snapshot.js';
import type { Logger } from '../log.js';
import type { Key, Metric } from '../speed/decode.js';
import type { View } from '../view.js';
import { detectDialect, PROFILES, type DialectProfile } from './dialect.js';
import { bulkWrite, type Cell, type RowSource, type S3Path } from './bulk.js';
import { CopyKeyRowParser, CopyOut } from './copy-out.js';
import { redactSql, s3Client, type S3Settings } from './s3.js';
import { redshiftViolations } from './redshift-rules.js';
import { parseTable, sibling, speedStateColumns, sql, viewColumns, type TableName } from './sql.js';

/** Test hook: kills the process at a named point of the flush (LS_CRASH_AT); a no-op otherwise. */
export type CrashPoint = (point: string) => void;
const noCrash: CrashPoint = () => undefined;

export interface WarehouseOptions {
  readonly url: string;
  readonly dialect: 'auto' | keyof typeof PROFILES;
  readonly view: View;
  readonly batchTable: string;
  readonly servingTable: string;
  readonly statementTimeoutMs: number;
  readonly log: Logger;
  readonly poolSize?: number;
  /** Called before each retry of an operation (metrics). */
  readonly onRetry?: (what: string) => void;
  /** Sees every statement (and its bind values) before it is sent (tests capture them). */
  readonly onStatement?: (text: string, values: readonly unknown[]) => void;
  /** TLS: disable, require (encrypted, any certificate), verify (certificate checked); undefined: as the URL says. */
  readonly ssl?: 'disable' | 'require' | 'verify';
  /** Client-side limit on one query, ms (0: none). */
  readonly queryTimeoutMs?: number;
  /** Redshift: stage bulk writes in S3 and COPY them in. */
  readonly s3?: S3Settings;
  /** Granted SELECT on each new serving table before it is swapped in (a new table has no grants). */
  readonly readers?: readonly string[];
}

export interface Checkpoint {
  readonly snapshotId: bigint;
  readonly createdAt: Date;
  readonly rows: bigint;
  readonly batchWatermarkMs: bigint | null;
  readonly offsets: Record<string, string>;
}

export interface SwapInfo {
  readonly snapshotId: bigint;
  readonly rows: number;
  readonly batchWatermarkMs: number | undefined;
  readonly offsets: Record<string, string>;
}

const listened = new WeakSet<pg.PoolClient>();

const BIGINT_OID = 20;
const exactTypes = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === BIGINT_OID ? (v: string) => BigInt(v) : pg.types.getTypeParser(oid, format as 'text'),
};

export class Warehouse {
  readonly pool: pg.Pool;
  readonly batch: TableName;
  readonly serving: TableName;
  readonly staging: TableName;
  readonly previous: TableName;
  readonly checkpoints: TableName;
  readonly speedState: TableName;
  readonly speedStaging: TableName;
  readonly speedPrevious: TableName;
  readonly delta: TableName;
  private profile: DialectProfile | undefined;
  /** The last warehouse operation that failed, until it succeeds again (for /readyz). */
  failing: { what: string; message: string; at: Date } | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: WarehouseOptions) {
    this.log = opts.log;
    this.batch = parseTable(opts.batchTable);
    this.serving = parseTable(opts.servingTable);
    this.staging = sibling(this.serving, '_next');
    this.previous = sibling(this.serving, '_prev');
    this.checkpoints = sibling(this.serving, '_checkpoint');
    this.speedState = sibling(this.serving, '_speed');
    this.speedStaging = sibling(this.serving, '_speed_next');
    this.speedPrevious = sibling(this.serving, '_speed_prev');
    this.delta = sibling(this.serving, '_delta');
    this.pool = new pg.Pool({
      connectionString: opts.url.replace(/^redshift:/, 'postgres:'),
      Client: this.observedClient(),
      max: opts.poolSize ?? (opts.dialect === 'auto' ? undefined : PROFILES[opts.dialect].maxConnections) ?? 4,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      ...(opts.queryTimeoutMs ? { query_timeout: opts.queryTimeoutMs } : {}),
      ...(opts.ssl === undefined ? {} : { ssl: opts.ssl === 'disable' ? false : { rejectUnauthorized: opts.ssl === 'verify' } }),
    });
    // An idle client that loses its connection emits here; without a listener the process dies.
    this.pool.on('error', (err) => this.log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle warehouse connection failed'));
  }

  /** The pg client class of this pool: every statement passes the dialect's check (Redshift:
   * refuse what it would refuse, before sending) and the onStatement hook. */
  private observedClient(): typeof pg.Client {
    const check = (text: string, values: readonly unknown[]) => {
      if (this.profile?.checkStatements) {
        const v = redshiftViolations(text, values.length);
        if (v.length > 0) throw new LsError('LS_WAREHOUSE_QUERY', `statement Redshift does not accept (${v.map((x) => x.rule).join('; ')}): ${redactSql(text).slice(0, 200)}`);
      }
      this.opts.onStatement?.(text, values); // what is actually sent
    };
    const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
    const connect = pg.Client.prototype.connect as unknown as (this: pg.Client) => Promise<unknown>;
    const timeoutMs = this.opts.statementTimeoutMs;
    const log = this.log;
    return class extends pg.Client {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      constructor(...args: any[]) {
        super(...(args as [pg.ClientConfig]));
        // from birth: a client between pg-pool's hands and ours (connecting, or acquired and
        // not yet listened to) that loses its connection must not throw an unhandled 'error'
        this.on('error', (err) => log.debug({ err: err.message, code: (err as { code?: string }).code }, 'warehouse connection error'));
      }

      // statement_timeout is SET as part of connecting (the pool hands the client out only after
      // this), not as a startup parameter: Redshift refuses unknown startup parameters.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      override connect(...args: any[]): any {
        const cb = args[0] as ((err?: Error | null, c?: unknown) => void) | undefined;
        const done = (async () => {
          await connect.call(this);
          if (timeoutMs > 0) await this.query(sql.setStatementTimeout(timeoutMs));
        })();
        if (typeof cb !== 'function') return done.then(() => this);
        done.then(() => cb(null, this), (err: Error) => cb(err));
        return undefined;
      }

      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      override query(...args: any[]): any {
        const [config, values] = args as [unknown, unknown];
        const c = config as { text?: unknown; values?: unknown } | string;
        const text = typeof c === 'string' ? c : c?.text;
        const params: readonly unknown[] = Array.isArray(values) ? values : typeof c === 'object' && Array.isArray(c?.values) ? c.values : [];
        if (typeof text === 'string') check(text, params);
        return query.apply(this, args);
      }
    } as typeof pg.Client;
  }

  /** A pooled client with an error listener: the pool only listens to idle clients, and a
   * checked-out client whose connection dies between statements emits 'error', which without
   * a listener would kill the process. The failing statement reports the error itself. */
  private async checkout(): Promise<pg.PoolClient> {
    const client = await this.pool.connect();
    if (!listened.has(client)) {
      listened.add(client);
      client.on('error', (err) => this.log.warn({ err: err.message, code: (err as { code?: string }).code }, 'warehouse connection failed while checked out'));
    }
    return client;
  }

  get dialect(): DialectProfile {
    if (!this.profile) throw new Error('Warehouse.connect() has not run');
    return this.profile;
  }

  /** Detects the dialect (unless configured) and makes the checkpoint table. Retries. */
  async connect(): Promise<void> {
    await this.retry('connect', async () => {
      const { rows } = await this.pool.query<{ version: string }>(sql.version());
      const version = rows[0]?.version ?? '';
      this.profile = this.opts.dialect === 'auto' ? detectDialect(version, this.opts.url) : PROFILES[this.opts.dialect];
      await this.pool.query(sql.createCheckpointTable(this.checkpoints));
    });
    this.log.info({ dialect: this.dialect.name }, 'warehouse connected');
  }

  /** Runs op; on a retryable error waits (exponential backoff, jitter) and tries again. */
  async retry<T>(what: string, op: () => Promise<T>, attempts = 6, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await op();
        if (this.failing?.what === what) this.failing = undefined;
        return result;
      } catch (err) {
        this.failing = { what, message: errorMessage(err), at: new Date() };
        if (!isRetryable(err) || attempt + 1 >= attempts || signal?.aborted) throw err;
        const delay = backoffDelay(attempt);
        this.opts.onRetry?.(what);
        this.log.warn({ what, attempt: attempt + 1, delayMs: delay, err: errorMessage(err), code: (err as { code?: string }).code }, 'retryable warehouse error; retrying');
        await new Promise((r) => setTimeout(r, delay)); // not unref()d: the caller awaits this work
      }
    }
  }

  /** Streams the batch table, row by row, with bounded memory: COPY TO STDOUT where the dialect
   * has it (parsed as it arrives), else a server-side cursor. The metrics array is reused. */
  async streamBatch(sink: BatchRowSink): Promise<number> {
    return this.dialect.bulkRead === 'copy' ? this.copyBatchOut(sink) : this.cursorBatch(sink);
  }

  private async copyBatchOut(sink: BatchRowSink): Promise<number> {
    const client = await this.checkout();
    let failed = false;
    try {
      const parser = new CopyKeyRowParser(this.opts.view.metrics.length, sink);
      const copy = new CopyOut(sql.copyBatchOut(this.opts.view, this.batch), (buf, s, e) => parser.pushRange(buf, s, e));
      client.query(copy as never);
      await copy.done;
      parser.end();
      return parser.rows;
    } catch (err) {
      failed = true; // after a failed COPY the connection is not trusted again: it is closed
      throw err;
    } finally {
      client.release(failed);
    }
  }

  private async cursorBatch(sink: BatchRowSink): Promise<number> {
    const client = await this.checkout();
    let n = 0;
    try {
      const stream = client.query(new QueryStream(sql.selectBatch(this.opts.view, this.batch), [], { batchSize: 10_000, rowMode: 'array', types: exactTypes } as never));
      for await (const raw of stream as AsyncIterable<unknown[]>) {
        const key = raw[0] === null || raw[0] === undefined ? null : String(raw[0]);
        const metrics: bigint[] = [];
        for (let m = 1; m < raw.length; m++) {
          const v = raw[m];
          const big = v === null || v === undefined ? 0n : typeof v === 'bigint' ? v : BigInt(v as string | number);
          // a numeric column may hold more than int64 does: refused, never wrapped
          if (BigInt.asIntN(64, big) !== big) throw new LsError('LS_BATCH_LOAD', `batch row ${n + 1}, column ${m + 1}: ${big} is outside int64`);
          metrics.push(big);
        }
        sink.add(key, metrics);
        n++;
      }
      return n;
    } finally {
      client.release();
    }
  }

  /** About how many rows the batch table holds, from the catalog's statistics (no scan); undefined
   * when it has none (never analyzed) or they cannot be read. Sizes the first load's buffers. */
  async estimateBatchRows(): Promise<number | undefined> {
    try {
      const { rows } = await this.pool.query({ ...sql.estimateRows(this.batch), rowMode: 'array' } as pg.QueryArrayConfig);
      const n = Number(rows[0]?.[0]);
      return Number.isFinite(n) && n > 0 ? Math.round(n) : undefined;
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'no row estimate for the batch table');
      return undefined;
    }
  }

  /** Runs the configured watermark query; returns ms since epoch, or undefined for NULL/no row. */
  async watermark(query: string): Promise<number | undefined> {
    const { rows } = await this.pool.query({ text: query, rowMode: 'array', types: exactTypes } as pg.QueryArrayConfig);
    const v = rows[0]?.[0];
    if (v === null || v === undefined) return undefined;
    if (v instanceof Date) return v.getTime();
    if (typeof v === 'bigint' || typeof v === 'number') return Number(v);
    const ms = Date.parse(String(v));
    if (Number.isNaN(ms)) throw new LsError('LS_BATCH_LOAD', `BATCH_WATERMARK_SQL returned "${String(v)}", not a timestamp or epoch milliseconds`);
    return ms;
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    const { rows } = await this.pool.query({ text: sql.latestCheckpoint(this.checkpoints), values: [this.serving.name], types: exactTypes });
    const r = rows[0] as { snapshot_id: bigint; created_at: Date; row_count: bigint; batch_watermark_ms: bigint | null; kafka_offsets: string } | undefined;
    if (!r) return undefined;
    return { snapshotId: r.snapshot_id, createdAt: r.created_at, rows: r.row_count, batchWatermarkMs: r.batch_watermark_ms, offsets: JSON.parse(r.kafka_offsets) };
  }

  /** Removes what a crashed flush may have left: the staging table and the previous table. */
  async cleanLeftovers(): Promise<void> {
    await this.retry('clean leftovers', async () => {
      for (const t of [this.staging, this.previous, this.speedStaging, this.speedPrevious, this.delta]) await this.pool.query(sql.dropTableIfExists(t));
    });
  }

  /** Writes the staging serving table of one snapshot: (re)created (while the caller may still be
   * preparing the rows), then bulk-written from the parts `rows` gives, side by side on their own
   * connections where the dialect copies (the warehouse parses them in parallel). */
  async writeStaging(rows: Promise<(parts: number) => RowSource[]>): Promise<number> {
    await this.cleanup;
    const view = this.opts.view;
    await this.withClient(async (client) => {
      await client.query(sql.dropTableIfExists(this.staging));
      await client.query(sql.createStaging(view, this.staging, this.dialect));
    });
    const parts = (await rows)(this.dialect.bulkWrite === 'copy' ? COPY_PARTS : 1);
    const written = await settleAll(parts.map((part) => this.withClient((client) => bulkWrite(client, this.dialect, this.staging, viewColumns(view), part, this.s3Path()))));
    await this.withClient(async (client) => {
      for (const r of this.opts.readers ?? []) await client.query(sql.grantSelect(this.staging, r));
    });
    return written.reduce((a, b) => a + b, 0);
  }

  /** Writes the staging speed-state table (what the checkpoint refers to): (re)created, then
   * bulk-written once `speedState` is there. A flush runs it beside writeStaging/writePushdown,
   * on its own connection where the pool has two. */
  async writeSpeedStaging(speedState: Promise<RowSource>): Promise<void> {
    await this.cleanup;
    await this.withClient(async (client) => {
      await client.query(sql.dropTableIfExists(this.speedStaging));
      await client.query(sql.createSpeedState(this.opts.view, this.speedStaging, this.dialect));
    });
    const rows = await speedState; // no connection held idle meanwhile
    await this.withClient((client) => bulkWrite(client, this.dialect, this.speedStaging, speedStateColumns(this.opts.view), rows, this.s3Path()));
  }

  private async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }

  private s3: S3Path | undefined;

  private s3Path(): S3Path | undefined {
    if (!this.opts.s3) return undefined;
    this.s3 ??= { settings: this.opts.s3, client: s3Client(this.opts.s3) };
    return this.s3;
  }

  /** Pushdown flush: ships only the speed part (one row per key) and builds the staging serving
   * table in the warehouse with one INSERT ... SELECT ... FULL OUTER JOIN against the batch
   * table. Returns the rows of the new table. */
  async writePushdown(speed: Iterable<readonly [Key, readonly Metric[]]>): Promise<number> {
    await this.cleanup;
    const view = this.opts.view;
    return this.withClient(async (client) => {
      await client.query(sql.dropTableIfExists(this.delta));
      await client.query(sql.createDelta(view, this.delta, this.dialect));
      await bulkWrite(client, this.dialect, this.delta, ['ls_key', 'ls_key_null', ...view.metrics.map((m) => m.column)], deltaRows(speed), this.s3Path());
      await client.query(sql.dropTableIfExists(this.staging));
      await client.query(sql.createStaging(view, this.staging, this.dialect));
      const res = await client.query(sql.insertMergedPushdown(view, this.staging, this.batch, this.delta));
      for (const r of this.opts.readers ?? []) await client.query(sql.grantSelect(this.staging, r));
      await client.query(sql.dropTableIfExists(this.delta));
      return res.rowCount ?? 0;
    });
  }

  /** The batch row of one key (duplicates summed), or undefined if the batch does not hold it. */
  async lookupBatch(key: Key): Promise<bigint[] | undefined> {
    const { rows } = await this.pool.query({ text: sql.selectBatchKey(this.opts.view, this.batch, key === null), values: key === null ? [] : [key], rowMode: 'array', types: exactTypes } as pg.QueryArrayConfig);
    const r = rows[0] as unknown[] | undefined;
    if (!r || BigInt(r[r.length - 1] as bigint) === 0n) return undefined;
    return r.slice(0, -1).map((v) => (v === null ? 0n : BigInt(v as bigint)));
  }

  /** The top rows of the serving table as last swapped in. */
  async servingTop(metric: string, limit: number): Promise<Array<[Key, bigint[]]>> {
    const { rows } = await this.pool.query({ text: sql.selectServingTop(this.opts.view, this.serving, metric, limit), rowMode: 'array', types: exactTypes } as pg.QueryArrayConfig);
    return (rows as unknown[][]).map((r) => [r[0] === null ? null : String(r[0]), r.slice(1).map((v) => BigInt(v as bigint))]);
  }

  /** Streams the checkpointed speed state of one partition. */
  async streamSpeedState(partition: number, onRow: (row: unknown[]) => void): Promise<number> {
    const exists = await this.pool.query(sql.tableExists(this.speedState));
    if (!exists.rowCount) return 0;
    const client = await this.checkout();
    let n = 0;
    try {
      const stream = client.query(new QueryStream(sql.selectSpeedState(this.opts.view, this.speedState), [partition], { batchSize: 10_000, rowMode: 'array', types: exactTypes } as never));
      for await (const raw of stream as AsyncIterable<unknown[]>) {
        onRow(raw);
        n++;
      }
      return n;
    } finally {
      client.release();
    }
  }

  /** The swap, in one transaction: serving -> previous, staging -> serving (the same for the
   * speed-state table), and the checkpoint row. The previous tables are dropped afterwards,
   * outside it: on Redshift a DROP inside would fail readers that are already running. */
  async swap(info: SwapInfo, crash: CrashPoint = noCrash): Promise<void> {
    await this.cleanup;
    const client = await this.checkout();
    try {
      await client.query('BEGIN');
      if (this.dialect.lockTimeout) await client.query(sql.setLockTimeout(10_000));
      for (const [live, next, prev] of [[this.serving, this.staging, this.previous], [this.speedState, this.speedStaging, this.speedPrevious]] as const) {
        await client.query(sql.dropTableIfExists(prev));
        const exists = await client.query(sql.tableExists(live));
        if (exists.rowCount) await client.query(sql.renameTable(live, prev.name));
        await client.query(sql.renameTable(next, live.name));
      }
      await client.query(sql.insertCheckpoint(this.checkpoints).text, [
        info.snapshotId.toString(), this.serving.name, new Date(), info.rows,
        info.batchWatermarkMs === undefined ? null : Math.trunc(info.batchWatermarkMs), JSON.stringify(info.offsets),
      ]);
      await client.query(sql.pruneCheckpoints(this.checkpoints), [this.serving.name, (info.snapshotId - 100n).toString()]);
      crash('swap-before-commit');
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => this.log.warn({ err: e.message }, 'rollback after failed swap failed'));
      throw err;
    } finally {
      client.release();
    }
    crash('swap-after-commit');
    // The previous tables go in the background: a DROP waits for readers still on them, which
    // must not hold up the flush. The next write waits for it (a leftover is dropped at start).
    this.cleanup = this.dropPrevious().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'could not drop the previous serving tables; the next flush drops them'));
  }

  private cleanup: Promise<void> = Promise.resolve();

  private async dropPrevious(): Promise<void> {
    await this.pool.query(sql.dropTableIfExists(this.previous));
    await this.pool.query(sql.dropTableIfExists(this.speedPrevious));
  }


  async close(): Promise<void> {
    await this.cleanup;
    this.s3?.client.destroy();
    await this.pool.end();
  }
}

function* deltaRows(speed: Iterable<readonly [Key, readonly Metric[]]>): Generator<readonly Cell[]> {
  for (const [key, metrics] of speed) yield [key ?? '', key === null ? 'true' : 'false', ...metrics];
}

/** Parts of a staging table COPYed side by side: with the speed state beside them, three
 * connections of the pool's four. */
const COPY_PARTS = 2;

