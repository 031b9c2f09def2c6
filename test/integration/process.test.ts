// The service as users run it: a child process started from src/main.ts, stopped by signals.
// Secrets (the warehouse password, the admin token) never reach its log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { BROKERS, createBatchTable, freshDb, freshTopic, producer, servicePort, sparkJson, uid, waitFor } from '../helpers/harness.js';

const PASSWORD = `pw-${uid()}`;
const TOKEN = `token-${uid()}-${uid()}`;

test('SIGTERM stops the service gracefully with a final flush, and no secret appears in its log', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['Kyiv', 4, 0, 0, 0]]);
  const port = servicePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH,
      KAFKA_BROKERS: BROKERS.join(','),
      // trust auth accepts any password: the point is that it is never logged
      WAREHOUSE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:5432/test`,
      SPEED_TOPIC: topic,
      KAFKA_GROUP_ID: `g_${uid()}`,
      BATCH_TABLE: db.t('batch_layer'),
      SERVING_TABLE: db.t('serving_layer'),
      FLUSH_INTERVAL: '1h',
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_TOKEN: TOKEN,
      LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 30_000, () => out.slice(-2000));
  const prod = await producer(t, topic);
  await prod.send([{ value: sparkJson({ location: 'Kyiv', count: 6 }) }]);
  await waitFor(async () => (await (await fetch(`${base}/v1/counts/Kyiv`)).json() as { count_id: number }).count_id === 10);
  // a flush with a wrong token is logged nowhere with the token either
  assert.equal((await fetch(`${base}/v1/flush`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401);

  child.kill('SIGTERM');
  const code = await exited;
  assert.equal(code, 0, out.slice(-3000));
  assert.match(out, /"msg":"stopped"/);
  // the final flush wrote the speed update into serving_layer
  const { rows } = await db.pool.query(`SELECT count_id::text FROM ${db.t('serving_layer')} WHERE location = 'Kyiv'`);
  assert.deepEqual(rows, [{ count_id: '10' }]);
  assert.ok(!out.includes(PASSWORD), 'warehouse password in the log');
  assert.ok(!out.includes(TOKEN), 'admin token in the log');
  assert.match(out, /postgres:\/\/postgres@127\.0\.0\.1:5432\/test/, 'the URL is logged without its password');
});

test('a second signal forces the process to exit at once', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['a', 1, 0, 0, 0]]);
  const port = servicePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH, KAFKA_BROKERS: BROKERS.join(','), WAREHOUSE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      SPEED_TOPIC: topic, KAFKA_GROUP_ID: `g_${uid()}`, BATCH_TABLE: db.t('batch_layer'), SERVING_TABLE: db.t('serving_layer'),
      PORT: String(port), HOST: '127.0.0.1', SHUTDOWN_TIMEOUT: '60s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, 30_000);
  // two different signals: the kernel would merge two pending SIGTERMs into one
  child.kill('SIGTERM');
  child.kill('SIGINT');
  assert.equal(await exited, 130);
  assert.match(out, /second signal: exiting now/);
});
