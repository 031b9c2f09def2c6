// Test harness for integration tests: every test gets its own PostgreSQL schema and its own Kafka
// topic and consumer group, and registers their cleanup. Talks to the real services started by
// scripts/services.sh (KAFKA_BROKERS / TEST_DATABASE_URL override the defaults).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import kafkajs, { type Message } from 'kafkajs';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { Service } from '../../src/service.js';
import { redshiftViolations } from '../../src/warehouse/redshift-rules.js';

export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const ADMIN_TOKEN = 'test-admin-token-0123456789';
/** The warehouse profile the integration suite runs under (npm test runs it under both). */
export const DIALECT = process.env.TEST_WAREHOUSE_DIALECT ?? 'postgres';

const kafka = new kafkajs.Kafka({ brokers: BROKERS, clientId: 'lambda-serving-test', logLevel: kafkajs.logLevel.NOTHING });

type Cleanup = { after(fn: () => unknown): void };

const stacks = new WeakMap<Cleanup, Array<() => unknown>>();

/** Registers cleanup that runs after the test in reverse order (last started, first stopped). */
export function defer(t: Cleanup, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (!stack) {
    const fns: Array<() => unknown> = [];
    stack = fns;
    stacks.set(t, fns);
    t.after(async () => {
      for (const f of fns.reverse()) await f();
    });
  }
  stack.push(fn);
}

export function uid(): string {
  return randomUUID().replace(/-/g, '').slice(0, 12);
}

export interface Db {
  readonly schema: string;
  readonly pool: pg.Pool;
  /** schema-qualified table name */
  t(name: string): string;
}

/** A fresh schema, dropped after the test. */
export async function freshDb(t: Cleanup): Promise<Db> {
  const schema = `ls_${uid()}`;
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => undefined); // idle clients killed by a PostgreSQL restart in fault tests
  await pool.query(`CREATE SCHEMA ${schema}`);
  defer(t, async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  });
  return { schema, pool, t: (name) => `${schema}.${name}` };
}

export type BatchRow = [string | null, ...Array<bigint | number>];

export async function createBatchTable(db: Db, rows: BatchRow[], name = 'batch_layer'): Promise<void> {
  await db.pool.query(`CREATE TABLE ${db.t(name)} (location text, count_id bigint, sum_followers_count bigint, sum_favorite_count bigint, sum_retweet_count bigint)`);
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    const values: unknown[] = [];
    const tuples = chunk.map((r, j) => {
      values.push(r[0], ...[1, 2, 3, 4].map((m) => String(r[m] ?? 0)));
      return `(${[1, 2, 3, 4, 5].map((c) => `$${j * 5 + c}`).join(',')})`;
    });
    await db.pool.query(`INSERT INTO ${db.t(name)} VALUES ${tuples.join(',')}`, values);
  }
}

/** A fresh topic, deleted after the test. */
export async function freshTopic(t: Cleanup, partitions = 2): Promise<string> {
  const topic = `speed_${uid()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  defer(t, async () => {
    const a = kafka.admin();
    await a.connect();
    await a.deleteTopics({ topics: [topic] }).catch(() => undefined); // the broker may be gone in fault tests
    await a.disconnect();
  });
  return topic;
}

export interface Producer {
  send(messages: Message[]): Promise<void>;
}

export async function producer(t: Cleanup, topic: string): Promise<Producer> {
  const p = kafka.producer({ allowAutoTopicCreation: false });
  await p.connect();
  defer(t, () => p.disconnect());
  return { send: async (messages) => { await p.send({ topic, messages, acks: -1 }); } };
}

export interface Tweet {
  location: string | null;
  count?: number | bigint;
  followers?: number | bigint;
  favorites?: number | bigint;
  retweets?: number | bigint;
  window?: { start: string; end: string };
}

/** A Spark to_json(struct(*)) value; bigints are written as exact JSON digits. */
export function sparkJson(x: Tweet): string {
  const n = (v: number | bigint | undefined) => String(v ?? 0);
  let s = `{"location":${x.location === null ? 'null' : JSON.stringify(x.location)},"count(id)":${n(x.count)},"sum(followers_count)":${n(x.followers)},"sum(favorite_count)":${n(x.favorites)},"sum(retweet_count)":${n(x.retweets)}`;
  if (x.window) s += `,"window":${JSON.stringify(x.window)}`;
  return `${s}}`;
}

export interface Started {
  readonly service: Service;
  readonly statements: Array<{ text: string; values: readonly unknown[] }>;
  readonly url: string;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; text: string; json: unknown }>;
  post(path: string, headers?: Record<string, string>): Promise<{ status: number; text: string; json: unknown }>;
}

/** Starts the real service in this process against the test's schema and topic; waits until ready. */
export async function startService(t: Cleanup, db: Db, topic: string, env: Record<string, string> = {}): Promise<Started> {
  const cfg = loadConfig({
    KAFKA_BROKERS: BROKERS.join(','),
    WAREHOUSE_URL: DATABASE_URL,
    SPEED_TOPIC: topic,
    KAFKA_GROUP_ID: `group_${uid()}`,
    BATCH_TABLE: db.t('batch_layer'),
    SERVING_TABLE: db.t('serving_layer'),
    FLUSH_INTERVAL: '1h',
    BATCH_RELOAD_INTERVAL: '1h',
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    WAREHOUSE_DIALECT: DIALECT,
    ...env,
  });
  // every statement is captured; under the redshift profile each is checked again at the end
  const statements: Array<{ text: string; values: readonly unknown[] }> = [];
  const service = new Service(cfg, createLogger(cfg.logLevel), { defaultMetrics: false, onStatement: (text, values) => statements.push({ text, values }) });
  defer(t, () => {
    if (cfg.warehouseDialect !== 'redshift') return;
    const bad = statements.flatMap((s) => redshiftViolations(s.text, s.values.length).map((v) => `${v.rule}: ${s.text.slice(0, 120)}`));
    if (bad.length > 0) throw new Error(`statements Redshift would refuse:\n${bad.join('\n')}`);
    if (statements.some((s) => /\bCOPY\b/i.test(s.text))) throw new Error('the redshift profile sent COPY');
  });
  defer(t, () => service.stop());
  await service.start();
  await waitFor(() => service.readiness().ready, 30_000, () => JSON.stringify(service.readiness()));
  const url = service.url;
  const call = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url + path, { method, headers });
    const text = await res.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, text, json };
  };
  return { service, statements, url, get: (p, h) => call('GET', p, h), post: (p, h) => call('POST', p, h) };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, describe?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms${describe ? `: ${describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Rows of a table as text, sorted, NULL key as null: exact digits, no float in between. */
export async function tableRows(db: Db, table: string): Promise<string[][]> {
  const { rows } = await db.pool.query({
    text: `SELECT location, count_id::text, sum_followers_count::text, sum_favorite_count::text, sum_retweet_count::text FROM ${db.t(table)} ORDER BY location NULLS FIRST`,
    rowMode: 'array',
  });
  return rows as string[][];
}

export type { TestContext };

export interface Child {
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

/** A port for a spawned service to listen on: random, and below Linux's ephemeral range
 * (32768-60999). A port picked there can be held at that moment as the local end of an outgoing
 * connection (to Kafka or PostgreSQL), and the service's listen then fails with EADDRINUSE (it
 * failed the crash test's restart under both profiles in a CI rehearsal). */
export function servicePort(): number {
  return 20_000 + Math.floor(Math.random() * 12_000);
}

/** Runs the service as users do, a child process of src/main.ts, with the given environment
 * (on top of the test defaults). Killed at the end of the test if still running. */
export function spawnService(t: Cleanup, db: Db, topic: string, groupId: string, env: Record<string, string> = {}): Child {
  const port = servicePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH,
      KAFKA_BROKERS: BROKERS.join(','),
      WAREHOUSE_URL: DATABASE_URL,
      SPEED_TOPIC: topic,
      KAFKA_GROUP_ID: groupId,
      BATCH_TABLE: db.t('batch_layer'),
      SERVING_TABLE: db.t('serving_layer'),
      FLUSH_INTERVAL: '1h',
      BATCH_RELOAD_INTERVAL: '1h',
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      WAREHOUSE_DIALECT: DIALECT,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  defer(t, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { url: `http://127.0.0.1:${port}`, exited, output: () => out, kill: (s = 'SIGKILL') => { child.kill(s); } };
}

export async function httpGet(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetch(url);
    return { status: res.status, text: await res.text() };
  } catch {
    return undefined; // not listening (yet, or any more)
  }
}
