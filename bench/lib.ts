// Shared helpers of the benchmark: options, figures, the real broker and database (fresh schema,
// topic and consumer group per figure, removed at the end), deterministic data, child processes.
// Nothing here imports the service (./svc.ts does), so load-generator processes start fast.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import kafkajs, { type Message } from 'kafkajs';
import pg from 'pg';

export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const ADMIN_TOKEN = 'bench-admin-token-0123456789';
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

/** What the parent hands every figure. */
export interface Options {
  readonly quick: boolean;
  /** Prefix of every schema, topic and consumer group this run makes (cleaned by prefix at the end). */
  readonly prefix: string;
  readonly batchKeys: number;
  readonly speedKeys: number;
  readonly ingestRecords: number;
  /** Seconds of each HTTP load run. */
  readonly readSeconds: number;
  readonly reps: number;
  /** Also measure a service with MERGE_STRATEGY=pushdown in the flush group (not in --quick). */
  readonly pushdown: boolean;
  /** updates/s the service sustained in the ingest figure (for "half load"); undefined: not measured. */
  readonly maxIngestRate: number | undefined;
  readonly verbose: boolean;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  target: string;
  pass: boolean | null;
  size?: string;
  note?: string;
}

/** A figure compared with a baseline measured in the same run. `target` is ">= x", "<= x" on the
 * ratio, or "reported" (no pass/fail). */
export function figure(name: string, value: number, unit: string, baseline: number | null, target: string, extra: { size?: string; note?: string } = {}): Figure {
  const ratio = baseline === null || baseline === 0 ? null : value / baseline;
  const m = /^ratio (>=|<=) ([\d.]+)$/.exec(target);
  const pass = m && ratio !== null ? (m[1] === '>=' ? ratio >= Number(m[2]) : ratio <= Number(m[2])) : null;
  return { name, value: round(value), unit, baseline: baseline === null ? null : round(baseline), ratio: ratio === null ? null : round(ratio, 3), target, pass, ...extra };
}

/** An absolute figure with a bound on the value itself. */
export function absolute(name: string, value: number, unit: string, max: number, extra: { size?: string; note?: string } = {}): Figure {
  return { name, value: round(value), unit, baseline: null, ratio: null, target: `value <= ${max}`, pass: value <= max, ...extra };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** (Math.abs(x) >= 100 ? 0 : digits);
  return Math.round(x * f) / f;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

export function fmtCount(n: number): string {
  return n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

/** p, or a rejection after ms (a lost probe or a broker outage must fail the figure, not hang it). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, pollMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

// ---------- deterministic data (the same rows in Kafka, in PostgreSQL and in the oracles) ----------

export const METRIC_COLUMNS = ['count_id', 'sum_followers_count', 'sum_favorite_count', 'sum_retweet_count'] as const;
export const TABLE_DDL = `(location text, ${METRIC_COLUMNS.map((c) => `${c} bigint`).join(', ')})`;

/** Batch keys are k0..k(B-1). Speed key i (0 <= i < S): the first half are batch keys spread over
 * the batch, the second half new keys kB, kB+1, ...: "half of them new". */
export function speedKeyIndex(i: number, batchKeys: number, speedKeys: number): number {
  const half = Math.floor(speedKeys / 2);
  return i < half ? i * speedStep(batchKeys, speedKeys) : batchKeys + (i - half);
}

function speedStep(batchKeys: number, speedKeys: number): number {
  return Math.max(1, Math.floor(batchKeys / Math.max(1, Math.floor(speedKeys / 2))));
}

/** Every key a read may ask for (all exist): batch keys, then the new speed keys. */
export function keySpace(batchKeys: number, speedKeys: number): number {
  return batchKeys + (speedKeys - Math.floor(speedKeys / 2));
}

export function speedMetrics(i: number): number[] {
  return [(i % 1000) + 1, (i * 7) % 100_000, i % 7, i % 5];
}

export function speedJson(key: string, m: readonly number[]): string {
  return `{"location":"${key}","count(id)":${m[0]},"sum(followers_count)":${m[1]},"sum(favorite_count)":${m[2]},"sum(retweet_count)":${m[3]}}`;
}

/** Speed row i as a Kafka message, keyed by its key (the streaming job partitions by key). */
export function speedMessage(i: number, batchKeys: number, speedKeys: number, seq = i): Message {
  const key = `k${speedKeyIndex(i, batchKeys, speedKeys)}`;
  return { key, value: speedJson(key, speedMetrics(seq)) };
}

export async function createBatchTable(db: pg.Pool, table: string, rows: number): Promise<void> {
  await db.query(`CREATE TABLE ${table} ${TABLE_DDL}`);
  await insertBatchRows(db, table, rows);
}

/** Batch rows k0..k(rows-1), generated inside PostgreSQL. */
export async function insertBatchRows(db: pg.Pool, table: string, rows: number): Promise<void> {
  if (rows > 0) await db.query(`INSERT INTO ${table} SELECT 'k' || i, i % 1000, (i * 3) % 100000, i % 77, i % 13 FROM generate_series(0, ${rows - 1}) AS i`);
  await db.query(`VACUUM ANALYZE ${table}`); // hint bits set and statistics known before anything is timed
}

/** The speed rows of speedMessage(i) for i in [0, S), as a warehouse table (the classic layout). */
export async function createSpeedTable(db: pg.Pool, table: string, batchKeys: number, speedKeys: number): Promise<void> {
  const half = Math.floor(speedKeys / 2);
  const step = speedStep(batchKeys, speedKeys);
  await db.query(`CREATE TABLE ${table} ${TABLE_DDL}`);
  await db.query(`INSERT INTO ${table} SELECT 'k' || (CASE WHEN i < ${half} THEN i * ${step} ELSE ${batchKeys} + i - ${half} END),
      (i % 1000) + 1, (i * 7) % 100000, i % 7, i % 5 FROM generate_series(0, ${speedKeys - 1}) AS i`);
  await db.query(`VACUUM ANALYZE ${table}`);
}

// ---------- the real broker and database, with cleanup ----------

export const kafka = new kafkajs.Kafka({ brokers: BROKERS, clientId: 'lambda-serving-bench', logLevel: kafkajs.logLevel.NOTHING });

/** Resources of one figure: removed by close(), in reverse order. */
export class Scope {
  private readonly closers: Array<() => Promise<unknown>> = [];
  private n = 0;
  readonly pool: pg.Pool;

  constructor(readonly prefix: string) {
    this.pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    this.pool.on('error', (err) => process.stderr.write(`bench pool: ${err.message}\n`));
  }

  name(what: string): string {
    return `${this.prefix}_${what}${++this.n}`;
  }

  defer(fn: () => Promise<unknown>): void {
    this.closers.push(fn);
  }

  async schema(): Promise<string> {
    const schema = this.name('s');
    await this.pool.query(`CREATE SCHEMA ${schema}`);
    this.defer(() => this.pool.query(`DROP SCHEMA ${schema} CASCADE`));
    return schema;
  }

  async topic(partitions = 2): Promise<string> {
    const topic = this.name('t');
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
    this.defer(() => deleteTopics([topic]));
    return topic;
  }

  /** A consumer group name; the group is deleted at close (after its consumers stopped). */
  group(): string {
    const group = this.name('g');
    this.defer(() => deleteGroups([group]));
    return group;
  }

  async close(): Promise<void> {
    for (const fn of this.closers.reverse()) {
      await fn().catch((err: Error) => process.stderr.write(`bench cleanup: ${err.message}\n`));
    }
    await this.pool.end();
  }
}

export async function deleteTopics(topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try { await admin.deleteTopics({ topics }); } finally { await admin.disconnect(); }
}

/** Deletes consumer groups; a group whose members have not left yet (a session still open) is
 * retried for up to 20 s. Throws naming the groups it could not delete. */
export async function deleteGroups(groups: string[]): Promise<void> {
  if (groups.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    let left = groups;
    for (let attempt = 0; ; attempt++) {
      const existing = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
      left = left.filter((g) => existing.has(g));
      if (left.length === 0) return;
      try {
        await admin.deleteGroups(left);
        return;
      } catch (err) {
        if (attempt >= 10) throw new Error(`could not delete consumer groups ${left.join(', ')}: ${(err as Error).message}`);
        await sleep(2000);
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** Everything a run left behind (a figure that crashed skips its own cleanup): by prefix. */
export async function sweep(prefix: string): Promise<string[]> {
  const removed: string[] = [];
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  try {
    const { rows } = await pool.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [`${prefix}%`]);
    for (const r of rows) { await pool.query(`DROP SCHEMA ${r.nspname} CASCADE`); removed.push(r.nspname); }
  } finally {
    await pool.end();
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) { await admin.deleteTopics({ topics }); removed.push(...topics); }
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) { await deleteGroups(groups); removed.push(...groups); }
  } finally {
    await admin.disconnect();
  }
  return removed;
}

/** Produces messages as fast as the broker takes them: batches of 5000, a few in flight. */
export async function produceAll(topic: string, count: number, make: (i: number) => Message): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < count; i += 5000) {
      const messages: Message[] = [];
      for (let j = i; j < Math.min(count, i + 5000); j++) messages.push(make(j));
      const p: Promise<unknown> = producer.send({ topic, messages, acks: 1 }).then(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    await producer.disconnect();
  }
}

// ---------- child processes ----------

export interface ChildResult { code: number | null; stdout: string; stderr: string; ms: number }

/** Runs a command; stdout to a file (e.g. /dev/null) or captured. */
export function run(cmd: string, args: string[], opts: { stdoutTo?: string } = {}): Promise<ChildResult> {
  const started = performance.now();
  const fd = opts.stdoutTo === undefined ? undefined : openSync(opts.stdoutTo, 'w');
  const child = spawn(cmd, args, { stdio: ['ignore', fd ?? 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => { stdout += d; });
  child.stderr?.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (fd !== undefined) closeSync(fd);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** psql with one command; throws on failure; returns the wall time in ms (psql start included). */
export async function psql(command: string, stdoutTo?: string): Promise<number> {
  const r = await run('psql', [DATABASE_URL, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', command], stdoutTo === undefined ? {} : { stdoutTo });
  if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr.trim()}`);
  return r.ms;
}

/** Runs bench/<script> with tsx in a child process; its last stdout line is JSON. */
export function runScript<T>(script: string, arg: unknown): Promise<T> {
  return spawnScript<T>(script, arg).result;
}

/** runScript that can also be asked to stop early (SIGTERM; the script still prints its result). */
export function spawnScript<T>(script: string, arg: unknown): { result: Promise<T>; stop(): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(script, import.meta.url).pathname, JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const result = new Promise<T>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) { reject(new Error(`${script} exited ${code}: ${stderr.trim().slice(-2000)}`)); return; }
      resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
    });
  });
  return { result, stop: () => { if (child.exitCode === null) child.kill('SIGTERM'); } };
}

export interface Worker {
  call<T>(job: unknown): Promise<T>;
  close(): Promise<void>;
}

/** A long-lived bench/<script> process (tsx) answering one JSON line per JSON line sent: started
 * once per figure, so its start-up is not paid per run. */
export function startWorker(script: string): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(script, import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.resolve(JSON.parse(line));
    }
  });
  const exited = new Promise<void>((resolve) => child.on('close', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${script} exited ${code}: ${stderr.trim().slice(-2000)}`));
    resolve();
  }));
  return {
    call: <T>(job: unknown) => new Promise<T>((resolve, reject) => {
      waiting.push({ resolve: resolve as (v: unknown) => void, reject });
      child.stdin.write(`${JSON.stringify(job)}\n`);
    }),
    close: async () => { child.stdin.end(); await exited; },
  };
}

/** A promise awaited later: its rejection must not count as unhandled (and crash the figure
 * before its cleanup) in the meantime. */
export function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

export function runId(): string {
  return randomBytes(3).toString('hex');
}
