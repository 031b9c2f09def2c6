// Exactly once across kill -9: the service runs as a child process while a producer sends a known
// stream of updates; it is killed with SIGKILL at random moments and at each dangerous point of
// the flush, and restarted each time. At the end serving_layer and the HTTP answers equal what
// was sent, computed independently, for every key: nothing counted twice, nothing lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { ADMIN_TOKEN, BROKERS, createBatchTable, freshDb, freshTopic, httpGet, spawnService, tableRows, uid, waitFor, type Db } from '../helpers/harness.js';

const KEYS: Array<string | null> = [...Array.from({ length: 40 }, (_, i) => `k${i}`), null];
const BATCH: Array<[string | null, number, number, number, number]> = KEYS.slice(0, 30).map((k, i) => [k, 1000 + i, i, 0, 1]);

type Metrics4 = [bigint, bigint, bigint, bigint];

/** Sends updates in the background; remembers only what the broker acknowledged. */
class Load {
  readonly acked: Array<{ key: string | null; m: Metrics4; ts: number }> = [];
  private running = true;
  private seq = 0;
  private readonly done: Promise<void>;

  constructor(private readonly send: (msgs: kafkajs.Message[]) => Promise<void>, private readonly mode: 'deltas' | 'totals') {
    this.done = this.loop();
  }

  private readonly totals = new Map<string | null, Metrics4>();

  private async loop(): Promise<void> {
    const base = Date.now();
    while (this.running) {
      const batch: Array<{ key: string | null; m: Metrics4; ts: number }> = [];
      for (let i = 0; i < 25; i++) {
        const key = KEYS[Math.floor(Math.random() * KEYS.length)] as string | null;
        const inc: Metrics4 = [BigInt(1 + Math.floor(Math.random() * 5)), BigInt(Math.floor(Math.random() * 1000)), 1n, 0n];
        let m = inc;
        if (this.mode === 'totals') {
          const prev = this.totals.get(key) ?? [0n, 0n, 0n, 0n];
          m = prev.map((v, j) => v + (inc[j] as bigint)) as Metrics4;
          this.totals.set(key, m);
        }
        batch.push({ key, m, ts: base + this.seq++ });
      }
      const msgs = batch.map((b) => ({
        value: `{"location":${b.key === null ? 'null' : JSON.stringify(b.key)},"count(id)":${b.m[0]},"sum(followers_count)":${b.m[1]},"sum(favorite_count)":${b.m[2]},"sum(retweet_count)":${b.m[3]}}`,
        timestamp: String(b.ts),
        partition: Math.floor(Math.random() * 2),
      }));
      await this.send(msgs);
      this.acked.push(...batch);
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  /** The speed value per key, computed from what was acknowledged. */
  expected(): Map<string | null, Metrics4> {
    const out = new Map<string | null, Metrics4>();
    if (this.mode === 'deltas') {
      for (const a of this.acked) {
        const prev = out.get(a.key) ?? [0n, 0n, 0n, 0n];
        out.set(a.key, prev.map((v, j) => v + (a.m[j] as bigint)) as Metrics4);
      }
    } else {
      const latest = new Map<string | null, { m: Metrics4; ts: number }>();
      for (const a of this.acked) if ((latest.get(a.key)?.ts ?? -1) < a.ts) latest.set(a.key, a);
      for (const [k, v] of latest) out.set(k, v.m);
    }
    return out;
  }
}

function expectedRows(load: Load): string[][] {
  const speed = load.expected();
  const rows = new Map<string | null, bigint[]>();
  for (const [k, ...m] of BATCH) rows.set(k, m.map(BigInt));
  for (const [k, m] of speed) rows.set(k, (rows.get(k) ?? [0n, 0n, 0n, 0n]).map((v, j) => v + (m[j] as bigint)));
  return [...rows]
    .sort(([a], [b]) => (a === null ? -1 : b === null ? 1 : a < b ? -1 : a > b ? 1 : 0))
    .map(([k, m]) => [k as string, ...m.map(String)]);
}

async function crashRun(t: { after(fn: () => unknown): void; diagnostic(msg: string): void }, db: Db, mode: 'deltas' | 'totals'): Promise<void> {
  const topic = await freshTopic(t, 2);
  const groupId = `crash_${uid()}`;
  await createBatchTable(db, BATCH);
  const kafka = new kafkajs.Kafka({ brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.after(() => producer.disconnect());
  const load = new Load(async (messages) => { await producer.send({ topic, messages, acks: -1 }); }, mode);

  const env = { SPEED_MODE: mode, FLUSH_INTERVAL: '150ms' };
  const plan = ['bulk-write', 'random', 'swap-before-commit', 'random', 'swap-after-commit', 'random', 'random', 'bulk-write', 'random', 'swap-before-commit', 'random', 'swap-after-commit'];
  const killedAt: string[] = [];
  try {
    for (const step of plan) {
      const child = spawnService(t, db, topic, groupId, step === 'random' ? env : { ...env, LS_CRASH_AT: step });
      if (step === 'random') {
        await waitFor(async () => (await httpGet(`${child.url}/healthz`))?.status === 200, 30_000, () => child.output().slice(-2000));
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 1500));
        child.kill('SIGKILL');
      }
      const exit = await Promise.race([child.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
      assert.ok(exit, `${step}: the process did not die: ${child.output().slice(-2000)}`);
      assert.equal(exit.signal, 'SIGKILL', `${step}: ${child.output().slice(-2000)}`);
      if (step !== 'random') assert.match(child.output(), new RegExp(`LS_CRASH_AT ${step}: SIGKILL`));
      killedAt.push(step);
    }
  } finally {
    await load.stop();
  }
  t.diagnostic(`${mode}: ${load.acked.length} updates sent, killed ${killedAt.length} times`);
  assert.ok(load.acked.length > 500, `only ${load.acked.length} updates were sent`);

  // a last, clean run: catch up, flush, compare with what was sent
  const last = spawnService(t, db, topic, groupId, { SPEED_MODE: mode });
  await waitFor(async () => (await httpGet(`${last.url}/readyz`))?.status === 200, 60_000, () => last.output().slice(-3000));
  const flush = await fetch(`${last.url}/v1/flush`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(flush.status, 200, await flush.text());
  const want = expectedRows(load);
  assert.deepEqual(await tableRows(db, 'serving_layer'), want);
  for (const [k, ...m] of want) {
    const path = k === null ? '/v1/counts?nullKey=true' : `/v1/counts/${k}`;
    const body = (await httpGet(last.url + path))?.text ?? '';
    const row = `{"location":${k === null ? 'null' : JSON.stringify(k)},"count_id":${m[0]},"sum_followers_count":${m[1]},"sum_favorite_count":${m[2]},"sum_retweet_count":${m[3]}}`;
    assert.equal(body, k === null ? `{"items":[${row}],"missing":[]}` : row);
  }

  // redelivery: reset the group's Kafka offsets to the start and restart; nothing changes
  last.kill('SIGTERM');
  assert.equal((await last.exited).code, 0);
  const admin = kafka.admin();
  await admin.connect();
  await admin.resetOffsets({ groupId, topic, earliest: true });
  await admin.disconnect();
  const again = spawnService(t, db, topic, groupId, { SPEED_MODE: mode });
  await waitFor(async () => (await httpGet(`${again.url}/readyz`))?.status === 200, 60_000, () => again.output().slice(-3000));
  assert.equal((await fetch(`${again.url}/v1/flush`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
  assert.deepEqual(await tableRows(db, 'serving_layer'), want, 'after the group offsets were reset');
  again.kill('SIGTERM');
  await again.exited;
}

test('deltas mode: killed with SIGKILL 12 times (at random and at each flush point), the served sums equal every increment sent, once', async (t) => {
  const db = await freshDb(t);
  await crashRun(t, db, 'deltas');
});

test('totals mode: killed with SIGKILL 12 times, the served values equal the newest total sent per key', async (t) => {
  const db = await freshDb(t);
  await crashRun(t, db, 'totals');
});
