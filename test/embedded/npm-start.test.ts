// A newcomer's first minute: `npm start` in a clean environment (no configuration at all) builds,
// starts embedded, serves merged reads and writes snapshots to its embedded warehouse.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { defer, httpGet, waitFor } from '../helpers/harness.js';

const ROOT = new URL('../..', import.meta.url).pathname;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** The fields of the first JSON log line whose msg starts with `msg`. */
function logLine(out: string, msg: string): Record<string, unknown> | undefined {
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o.msg === 'string' && o.msg.startsWith(msg)) return o;
    } catch {
      continue; // a partial line: read again on the next poll
    }
  }
  return undefined;
}

test('npm start with no configuration is ready, serves a non-empty top and writes a snapshot to the embedded warehouse within 60 s', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'ls-home-'));
  defer(t, () => rmSync(home, { recursive: true, force: true }));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  // the default port, unless something else on this machine holds it
  if (!(await portFree(3000))) env.PORT = '0';
  const started = Date.now();
  const child = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  defer(t, async () => {
    // the whole process group (npm, sh, node): end what is still running
    try { process.kill(-(child.pid as number), 'SIGKILL'); } catch { /* already gone */ }
    await exited;
  });
  const left = () => 60_000 - (Date.now() - started);
  const why = () => `output so far:\n${out.slice(-3000)}`;

  await waitFor(() => logLine(out, 'lambda-serving started') !== undefined, left(), why);
  const url = String(logLine(out, 'lambda-serving started')?.url).replace('0.0.0.0', '127.0.0.1');
  assert.match(String(logLine(out, 'embedded mode:')?.msg), /KAFKA_BROKERS=.*WAREHOUSE_URL=redshift:\/\//, 'one line says how to use real Kafka and Redshift');

  await waitFor(async () => (await httpGet(`${url}/readyz`))?.status === 200, left(), why);
  let top: { items: Array<{ location: string | null; count_id: number }> } | undefined;
  await waitFor(async () => {
    const r = await httpGet(`${url}/v1/top?metric=count_id&limit=5`);
    top = r?.status === 200 ? JSON.parse(r.text) : undefined;
    return (top?.items.length ?? 0) > 0;
  }, left(), why);
  assert.equal(top?.items.length, 5);

  const warehouseUrl = String(logLine(out, 'embedded warehouse (PGlite) listening')?.url);
  const db = new pg.Client(warehouseUrl);
  await db.connect();
  defer(t, () => db.end().catch(() => undefined)); // the warehouse goes away with the process
  let snapshot: { snapshot_id: string; row_count: string } | undefined;
  await waitFor(async () => {
    const r = await db.query<{ snapshot_id: string; row_count: string }>('SELECT snapshot_id::text, row_count::text FROM serving_layer_checkpoint ORDER BY snapshot_id DESC LIMIT 1');
    snapshot = r.rows[0];
    return snapshot !== undefined;
  }, left(), why);
  const rows = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM serving_layer');
  assert.equal(rows.rows[0]?.n, snapshot?.row_count, 'the serving table holds the snapshot the checkpoint names');
  assert.ok(Number(snapshot?.row_count) > 100);
  assert.ok(Date.now() - started < 60_000, `all within 60 s (${Date.now() - started} ms)`);
  await db.end();

  // and a signal stops it cleanly: final flush, warehouse closed
  process.kill(-(child.pid as number), 'SIGTERM');
  await waitFor(() => logLine(out, 'stopped') !== undefined, 20_000, why);
});
