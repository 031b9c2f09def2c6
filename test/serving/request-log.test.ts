import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { BatchSnapshot } from '../../src/batch/snapshot.js';
import { createLogger, LazyChildLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { buildApp } from '../../src/serving/app.js';
import { Reads } from '../../src/serving/reads.js';
import { SpeedStore } from '../../src/speed/store.js';
import { TWEET_VIEW } from '../../src/view.js';

function capture(level = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { log: createLogger(level, stream), lines };
}

test('a lazy child logger writes the same lines as a pino child, and is made only when written to', async () => {
  const { log, lines } = capture();
  const lazy = new LazyChildLogger(log, { reqId: 'r1' });
  lazy.debug('below the level'); // info: nothing made, nothing written
  assert.equal((lazy as unknown as { made: unknown }).made, undefined);
  lazy.error({ adminToken: 'secret', n: 1 }, 'failed %s', 'here');
  lazy.info('plain');
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 2);
  assert.deepEqual({ ...lines[0], time: undefined, pid: undefined, hostname: undefined }, {
    level: 50, service: 'lambda-serving', reqId: 'r1', adminToken: '[redacted]', n: 1, msg: 'failed here', time: undefined, pid: undefined, hostname: undefined,
  });
  assert.equal(lines[1]?.msg, 'plain');
  assert.equal(lazy.level, 'info');
});

test('a failed request is logged with its request id; answered reads log nothing', async (t) => {
  const { log, lines } = capture();
  let fail = false;
  const snap = (() => { const b = BatchSnapshot.builder(4); b.add('a', [1n, 2n, 3n, 4n]); return b.build(undefined); })();
  const metrics = createMetrics(false);
  const reads = new Reads(TWEET_VIEW, () => { if (fail) throw new Error('boom'); return snap; }, new SpeedStore('totals'), metrics, 10);
  const app = buildApp({
    view: TWEET_VIEW, reads, metrics, log, adminToken: undefined, maxKeysPerRequest: 10,
    readiness: () => ({ ready: true, degraded: [], notReady: [], detail: {} }),
    flush: async () => ({ snapshotId: '', rows: 0, ms: 0 }),
    stats: async () => { throw new Error('unused'); },
  });
  t.after(() => app.close());
  assert.equal((await app.inject('/v1/counts/a')).statusCode, 200);
  assert.equal((await app.inject('/v1/counts/zzz')).statusCode, 404);
  assert.equal(lines.length, 0);
  fail = true;
  const res = await app.inject('/v1/counts/b');
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.msg, 'request failed');
  assert.equal(lines[0]?.component, 'http');
  assert.equal(typeof lines[0]?.reqId, 'string');
  assert.match(String((lines[0]?.err as { message?: string }).message), /boom/);
});
