// The batch side: periodic reloads reach the reads (through the cache), and a failed reload keeps
// serving the previous snapshot and says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchLoader } from '../../src/batch/loader.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { TWEET_VIEW } from '../../src/view.js';
import { Warehouse } from '../../src/warehouse/warehouse.js';
import { createBatchTable, DATABASE_URL, defer, DIALECT, freshDb, freshTopic, startService, waitFor } from '../helpers/harness.js';

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

test('the batch layer arrives in memory exactly: awkward keys, NULLs, int64 extremes, duplicate keys summed', async (t) => {
  const db = await freshDb(t);
  await db.pool.query(`CREATE TABLE ${db.t('batch_layer')} (location text, count_id bigint, sum_followers_count bigint, sum_favorite_count bigint, sum_retweet_count bigint)`);
  const keys = ['tab\there', 'new\nline', 'cr\rhere', 'back\\slash', '\\N', 'N', '', 'Zürich', '東京 🚀', 'trailing\\', `ctl\b\f\v${String.fromCharCode(1)}`];
  const rows: Array<[string | null, ...Array<string | null>]> = [
    ...keys.map((k, i): [string, string, string, string, string] => [k, String(i + 1), '-7', '9223372036854775807', '-9223372036854775808']),
    [null, '5', null, '9007199254740993', '-9007199254740993'],
    ['dup', '1', '2', '3', '4'],
    ['dup', '10', '20', '30', '40'],
  ];
  for (const r of rows) await db.pool.query(`INSERT INTO ${db.t('batch_layer')} VALUES ($1, $2, $3, $4, $5)`, r);
  const statements: string[] = [];
  const log = createLogger('silent');
  const warehouse = new Warehouse({
    url: DATABASE_URL, dialect: DIALECT as 'postgres' | 'redshift', view: TWEET_VIEW, batchTable: db.t('batch_layer'), servingTable: db.t('serving_layer'),
    statementTimeoutMs: 0, log, onStatement: (text) => statements.push(text),
  });
  defer(t, () => warehouse.close());
  await warehouse.connect();
  const loader = new BatchLoader(warehouse, 4, undefined, log, createMetrics(false));
  const snap = await loader.load();

  // the postgres profile reads with COPY TO STDOUT, the redshift one with a cursor
  assert.equal(statements.some((s) => s.startsWith('COPY (SELECT')), warehouse.dialect.bulkRead === 'copy');
  assert.equal(snap.size, keys.length + 2);
  keys.forEach((k, i) => assert.deepEqual(snap.get(k), [BigInt(i + 1), -7n, 9223372036854775807n, -9223372036854775808n], JSON.stringify(k)));
  assert.deepEqual(snap.get(null), [5n, 0n, 9007199254740993n, -9007199254740993n]);
  assert.deepEqual(snap.get('dup'), [11n, 22n, 33n, 44n]);
  assert.equal(snap.get('missing'), undefined);
});

test('a batch value beyond int64 (a numeric column) fails the load with the row named, never wraps', async (t) => {
  const db = await freshDb(t);
  await db.pool.query(`CREATE TABLE ${db.t('batch_layer')} (location text, count_id numeric, sum_followers_count bigint, sum_favorite_count bigint, sum_retweet_count bigint)`);
  await db.pool.query(`INSERT INTO ${db.t('batch_layer')} VALUES ('ok', 1, 0, 0, 0), ('huge', 18446744073709551617, 0, 0, 0)`);
  const log = createLogger('silent');
  const warehouse = new Warehouse({
    url: DATABASE_URL, dialect: DIALECT as 'postgres' | 'redshift', view: TWEET_VIEW, batchTable: db.t('batch_layer'), servingTable: db.t('serving_layer'),
    statementTimeoutMs: 0, log,
  });
  defer(t, () => warehouse.close());
  await warehouse.connect();
  const loader = new BatchLoader(warehouse, 4, undefined, log, createMetrics(false));
  await assert.rejects(loader.load(), /row 2, column 2: 18446744073709551617 is outside int64/);
  assert.equal(loader.snapshot.size, 0, 'nothing half-loaded is served');
});

test('the first load is sized from the catalog\'s row estimate (schema-qualified or not); reloads from the last size', async (t) => {
  const db = await freshDb(t);
  await db.pool.query(`CREATE TABLE ${db.t('batch_layer')} (location text, count_id bigint, sum_followers_count bigint, sum_favorite_count bigint, sum_retweet_count bigint)`);
  const log = createLogger('silent');
  const statements: string[] = [];
  const open = async (batchTable: string, url = DATABASE_URL) => {
    const w = new Warehouse({
      url, dialect: DIALECT as 'postgres' | 'redshift', view: TWEET_VIEW, batchTable, servingTable: db.t('serving_layer'),
      statementTimeoutMs: 0, log, onStatement: (text) => statements.push(text),
    });
    defer(t, () => w.close());
    await w.connect();
    return w;
  };
  const warehouse = await open(db.t('batch_layer'));
  // never analyzed: no estimate (PostgreSQL keeps -1 until VACUUM or ANALYZE)
  assert.equal(await warehouse.estimateBatchRows(), undefined);
  await db.pool.query(`INSERT INTO ${db.t('batch_layer')} SELECT 'k' || i, i, 0, 0, 0 FROM generate_series(1, 5000) AS i`);
  await db.pool.query(`ANALYZE ${db.t('batch_layer')}`);
  assert.equal(await warehouse.estimateBatchRows(), 5000, 'the statement passes this profile\'s checks and reads reltuples');
  // an unqualified name is looked up in the connection's current schema
  const unqualified = await open('batch_layer', `${DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${db.schema}`)}`);
  assert.equal(await unqualified.estimateBatchRows(), 5000);
  assert.equal(await (await open(db.t('no_such_table'))).estimateBatchRows(), undefined);

  const loader = new BatchLoader(warehouse, 4, undefined, log, createMetrics(false));
  statements.length = 0;
  assert.equal((await loader.load()).size, 5000);
  assert.equal(statements.filter((s) => s.includes('reltuples')).length, 1, 'asked once, before the first load');
  await loader.load();
  assert.equal(statements.filter((s) => s.includes('reltuples')).length, 1, 'a reload sizes from the last snapshot');
});
