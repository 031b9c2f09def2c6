// The batch side: periodic reloads reach the reads (through the cache), and a failed reload keeps
// serving the previous snapshot and says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatchTable, freshDb, freshTopic, startService, waitFor } from '../helpers/harness.js';

test('batch_layer is reloaded every BATCH_RELOAD_INTERVAL and a cached value is replaced by the reloaded one', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['Berlin', 3, 0, 0, 0]]);
  const svc = await startService(t, db, topic, { BATCH_RELOAD_INTERVAL: '300ms' });
  const count = async () => ((await svc.get('/v1/counts/Berlin')).json as { count_id: number }).count_id;
  assert.equal(await count(), 3);
  assert.equal(await count(), 3); // now cached
  await db.pool.query(`UPDATE ${db.t('batch_layer')} SET count_id = 33 WHERE location = 'Berlin'`);
  await waitFor(async () => (await count()) === 33, 5_000);
  await db.pool.query(`INSERT INTO ${db.t('batch_layer')} VALUES ('Madrid', 4, 0, 0, 0)`);
  await waitFor(async () => (await svc.get('/v1/counts/Madrid')).status === 200, 5_000);
});

test('a failed batch reload keeps serving the previous snapshot and says so in /readyz', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['Vienna', 8, 0, 0, 0]]);
  const svc = await startService(t, db, topic);
  await db.pool.query(`ALTER TABLE ${db.t('batch_layer')} RENAME TO batch_layer_gone`);
  await assert.rejects(svc.service.batch.load(), /batch_layer/);

  const r = await svc.get('/v1/counts/Vienna');
  assert.equal(r.status, 200);
  assert.equal((r.json as { count_id: number }).count_id, 8);
  const ready = await svc.get('/readyz');
  assert.equal(ready.status, 200, 'still serving: degraded, not down');
  const body = ready.json as { status: string; degraded: string[]; batch: { lastError: string; rows: number } };
  assert.equal(body.status, 'degraded');
  assert.match(body.degraded.join(' '), /batch reload failing, serving the snapshot of/);
  assert.equal(body.batch.rows, 1);
  assert.match((await svc.get('/metrics')).text, /lambda_serving_batch_load_failures_total 1\b/);

  await db.pool.query(`ALTER TABLE ${db.t('batch_layer_gone')} RENAME TO batch_layer`);
  await svc.service.batch.load();
  assert.equal(((await svc.get('/readyz')).json as { status: string }).status, 'ready');
});

test('the service is not ready until the batch layer has been loaded once', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  // no batch table yet: start must not fail, readiness must say why
  const started = startService(t, db, topic, { BATCH_RELOAD_INTERVAL: '200ms' });
  const outcome = await Promise.race([started.then(() => 'ready'), new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
  assert.equal(outcome, 'waiting');
  await createBatchTable(db, [['Prague', 2, 0, 0, 0]]);
  const svc = await started;
  assert.equal(((await svc.get('/v1/counts/Prague')).json as { count_id: number }).count_id, 2);
});
