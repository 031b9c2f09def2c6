// Faults of the dependencies, made for real: the Kafka broker stopped for 30 s, PostgreSQL
// restarted during a flush, a statement timeout. Reads keep answering from memory, /readyz says
// what is degraded, and the view is exact once the dependency is back.
import assert from 'node:assert/strict';
import { execSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import { ADMIN_TOKEN, createBatchTable, DATABASE_URL, freshDb, freshTopic, producer, sparkJson, startService, tableRows, waitFor, type BatchRow } from '../helpers/harness.js';

/** scripts/services.sh, its stdout and stderr together. */
function services(cmd: string): string {
  const r = spawnSync('bash', ['scripts/services.sh', cmd], { encoding: 'utf8', timeout: 180_000 });
  return `${r.stdout}${r.stderr}`;
}

/** Restarts the local PostgreSQL (TEST_PG_RESTART overrides the command). */
function restartPostgres(): void {
  const cmd = process.env.TEST_PG_RESTART ?? `pg_ctlcluster --skip-systemctl-redirect ${readdirSync('/etc/postgresql').sort().at(-1)} main restart -m fast`;
  execSync(cmd, { stdio: 'pipe', timeout: 60_000 });
}

test('with the Kafka broker stopped for 30 s, reads keep answering, /readyz reports it, and the view is exact after the broker returns', async (t) => {
  const status = services('status');
  assert.match(status, /kafka: up/);
  const db = await freshDb(t);
  const topic = await freshTopic(t, 2);
  await createBatchTable(db, [['Quito', 10, 0, 0, 0]]);
  const svc = await startService(t, db, topic);
  const prod = await producer(t, topic);
  await prod.send([{ value: sparkJson({ location: 'Quito', count: 5 }), partition: 0 }]);
  const count = async () => ((await svc.get('/v1/counts/Quito')).json as { count_id: number }).count_id;
  await waitFor(async () => (await count()) === 15);

  const out = services('stop');
  try {
    assert.match(out, /kafka broker: stopping|docker compose/, `this test needs a broker started by scripts/services.sh: ${out}`);
    const stoppedAt = Date.now();
    let degradedSeen = false;
    while (Date.now() - stoppedAt < 30_000) {
      assert.equal(await count(), 15, 'reads answer from memory while Kafka is down');
      const ready = (await svc.get('/readyz')).json as { degraded: string[] };
      if (ready.degraded.some((d) => /kafka/i.test(d))) degradedSeen = true;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(degradedSeen, '/readyz reported Kafka as degraded');
  } finally {
    assert.match(services('start'), /kafka: ready/);
  }
  await prod.send([{ value: sparkJson({ location: 'Quito', count: 7 }), partition: 1 }]);
  await waitFor(async () => (await count()) === 17, 60_000);
  await waitFor(async () => ((await svc.get('/readyz')).json as { degraded: string[] }).degraded.length === 0, 30_000, () => 'still degraded');
  assert.equal((await svc.post('/v1/flush', { authorization: `Bearer ${ADMIN_TOKEN}` })).status, 200);
  assert.deepEqual(await tableRows(db, 'serving_layer'), [['Quito', '17', '0', '0', '0']]);
});

test('PostgreSQL restarted during a flush: reads keep answering, the flush retries, and the swapped table is exact', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  const rows: BatchRow[] = Array.from({ length: 300_000 }, (_, i) => [`key${i}`, i, 1, 2, 3]);
  await createBatchTable(db, rows);
  const svc = await startService(t, db, topic);
  const prod = await producer(t, topic);
  await prod.send([{ value: sparkJson({ location: 'key7', count: 100 }) }]);
  await waitFor(() => svc.service.store.has('key7'));

  const flush = svc.service.flushNow();
  // restart once the bulk write is under way
  await waitFor(async () => {
    const { rows: r } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE (query LIKE 'COPY %serving_layer_next%' OR query LIKE 'INSERT INTO %serving_layer_next%') AND state = 'active'`);
    return r.length > 0;
  }, 20_000);
  restartPostgres();
  assert.equal(((await svc.get('/v1/counts/key7')).json as { count_id: number }).count_id, 107, 'reads answer while the warehouse restarts');
  const result = await flush;
  assert.equal(result.rows, 300_000);
  const retries = (await svc.service.metrics.warehouseRetries.get()).values.find((v) => v.labels.operation === 'flush: bulk write')?.value ?? 0;
  assert.ok(retries >= 1, 'the restart interrupted the bulk write and it was retried');

  const check = new pg.Client({ connectionString: DATABASE_URL });
  await check.connect();
  t.after(() => check.end());
  const { rows: agg } = await check.query(`SELECT count(*)::text AS n, sum(count_id)::text AS s FROM ${db.t('serving_layer')}`);
  const expectedSum = (BigInt(300_000) * BigInt(299_999)) / 2n + 100n;
  assert.deepEqual(agg[0], { n: '300000', s: expectedSum.toString() });
  assert.equal(((await svc.get('/readyz')).json as { degraded: string[] }).degraded.length, 0, 'no longer degraded');
});

test('a statement timeout during a batch load is retried with backoff and the load succeeds once the lock is gone; /readyz reports it meanwhile', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['Lima', 1, 0, 0, 0]]);
  const svc = await startService(t, db, topic, { WAREHOUSE_STATEMENT_TIMEOUT: '300ms' });
  await db.pool.query(`UPDATE ${db.t('batch_layer')} SET count_id = 2`);

  const locker = new pg.Client({ connectionString: DATABASE_URL });
  await locker.connect();
  t.after(() => locker.end());
  await locker.query('BEGIN');
  await locker.query(`LOCK TABLE ${db.t('batch_layer')} IN ACCESS EXCLUSIVE MODE`);
  const load = svc.service.batch.load();
  await waitFor(() => svc.service.warehouse.failing !== undefined, 5_000);
  const ready = (await svc.get('/readyz')).json as { degraded: string[] };
  assert.match(ready.degraded.join(' '), /warehouse: batch load failing since .*statement timeout/);
  assert.equal(((await svc.get('/v1/counts/Lima')).json as { count_id: number }).count_id, 1, 'the previous snapshot answers');
  await new Promise((r) => setTimeout(r, 1000));
  await locker.query('COMMIT');
  await load;
  assert.equal(((await svc.get('/v1/counts/Lima')).json as { count_id: number }).count_id, 2);
  assert.equal(svc.service.warehouse.failing, undefined);
});
