// int64 end to end: values above 2^53 travel from batch_layer and from Kafka through HTTP JSON and
// into serving_layer with every digit; an overflow past int64 is an error, never a wrap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_TOKEN, createBatchTable, freshDb, freshTopic, producer, sparkJson, startService, tableRows, waitFor } from '../helpers/harness.js';

const TWO_53 = 2n ** 53n;
const MAX = 2n ** 63n - 1n;

test('values above 2^53 round-trip exactly from batch_layer and Kafka through HTTP JSON and serving_layer', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [
    ['big', TWO_53 + 1n, MAX - 10n, -(2n ** 62n) - 3n, 1n],
    ['max', MAX, 0n, 0n, 0n],
  ]);
  const prod = await producer(t, topic);
  await prod.send([
    { value: sparkJson({ location: 'big', count: 2n, followers: 7n, favorites: 0n, retweets: TWO_53 + 5n }) },
    { value: sparkJson({ location: 'speedbig', count: MAX - 1n, followers: TWO_53 + 3n, favorites: 1n, retweets: 1n }) },
  ]);
  const svc = await startService(t, db, topic);
  await waitFor(() => svc.service.store.keyCount === 2);

  const big = await svc.get('/v1/counts/big');
  // the raw JSON text carries the exact digits (JSON.parse would round them; compare text)
  assert.equal(big.text, `{"location":"big","count_id":${TWO_53 + 3n},"sum_followers_count":${MAX - 3n},"sum_favorite_count":${-(2n ** 62n) - 3n},"sum_retweet_count":${TWO_53 + 6n}}`);
  assert.equal((await svc.get('/v1/counts/speedbig')).text, `{"location":"speedbig","count_id":${MAX - 1n},"sum_followers_count":${TWO_53 + 3n},"sum_favorite_count":1,"sum_retweet_count":1}`);
  assert.equal((await svc.get('/v1/counts/max')).text, `{"location":"max","count_id":${MAX},"sum_followers_count":0,"sum_favorite_count":0,"sum_retweet_count":0}`);

  const f = await svc.post('/v1/flush', { authorization: `Bearer ${ADMIN_TOKEN}` });
  assert.equal(f.status, 200, f.text);
  assert.deepEqual(await tableRows(db, 'serving_layer'), [
    ['big', String(TWO_53 + 3n), String(MAX - 3n), String(-(2n ** 62n) - 3n), String(TWO_53 + 6n)],
    ['max', String(MAX), '0', '0', '0'],
    ['speedbig', String(MAX - 1n), String(TWO_53 + 3n), '1', '1'],
  ]);
  const { rows } = await db.pool.query(`SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'serving_layer' AND column_name = 'count_id'`, [db.schema]);
  assert.equal(rows[0].data_type, 'bigint');
});

test('a merged value past int64 is a clear error on read and on flush, and the previous serving table stays', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['max', MAX, 0n, 0n, 0n], ['ok', 1n, 0n, 0n, 0n]]);
  const svc = await startService(t, db, topic);
  await svc.service.flushNow();
  const prod = await producer(t, topic);
  await prod.send([{ value: sparkJson({ location: 'max', count: 1n }) }]);
  await waitFor(() => svc.service.store.has('max'));

  const r = await svc.get('/v1/counts/max');
  assert.equal(r.status, 500);
  assert.equal((r.json as { code: string }).code, 'LS_INT64_OVERFLOW');
  assert.match((r.json as { message: string }).message, /overflows int64/);
  assert.equal((await svc.get('/v1/counts/ok')).status, 200, 'other keys still answer');

  const f = await svc.post('/v1/flush', { authorization: `Bearer ${ADMIN_TOKEN}` });
  assert.equal(f.status, 500);
  assert.match(f.text, /overflows int64/);
  assert.deepEqual(await tableRows(db, 'serving_layer'), [['max', String(MAX), '0', '0', '0'], ['ok', '1', '0', '0', '0']]);
  assert.match((await svc.get('/readyz')).text, /last flush failed/);
});
