// The HTTP contract: 400 for bad parameters with a message, 404 for unknown keys and routes, 401
// for a flush without the token, and the read routes' shapes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_TOKEN, createBatchTable, freshDb, freshTopic, producer, sparkJson, startService, waitFor } from '../helpers/harness.js';

test('HTTP routes answer 400 for bad parameters, 404 for unknown keys, 401 for a flush without the token', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['a', 5, 1, 1, 1], ['b', 9, 1, 1, 1], ['c', 7, 1, 1, 1], [null, 8, 0, 0, 0]]);
  const svc = await startService(t, db, topic, { MAX_KEYS_PER_REQUEST: '3' });
  const prod = await producer(t, topic);
  await prod.send([{ value: sparkJson({ location: 'd', count: 20 }) }]);
  await waitFor(() => svc.service.store.has('d'));

  const bad = [
    '/v1/top?metric=nope',
    '/v1/top?limit=0',
    '/v1/top?limit=abc',
    '/v1/top?limit=100000',
    '/v1/top?unknown=1',
    '/v1/counts',
    '/v1/counts?key=a&key=b&key=c&key=d',
    '/v1/counts/a?explain=maybe',
    '/v1/counts/a?foo=bar',
  ];
  for (const path of bad) {
    const r = await svc.get(path);
    assert.equal(r.status, 400, `${path}: ${r.text}`);
    assert.equal((r.json as { error: string }).error, 'Bad Request');
    assert.ok(((r.json as { message: string }).message ?? '').length > 10, `${path} has a message`);
  }
  const metrics = (await svc.get('/metrics')).text;
  assert.match(metrics, /lambda_serving_http_bad_requests_total\{route="\/v1\/top",status="400"\} 5/);

  const unknown = await svc.get('/v1/counts/zzz');
  assert.equal(unknown.status, 404);
  assert.match((unknown.json as { message: string }).message, /zzz/);
  assert.equal((await svc.get('/v2/nothing')).status, 404);

  assert.equal((await svc.post('/v1/flush')).status, 401);
  assert.equal((await svc.post('/v1/flush', { authorization: 'Bearer wrong-token-wrong-token' })).status, 401);
  assert.equal((await svc.post('/v1/flush', { authorization: ADMIN_TOKEN })).status, 401, 'token without the Bearer scheme');
  const ok = await svc.post('/v1/flush', { authorization: `Bearer ${ADMIN_TOKEN}` });
  assert.equal(ok.status, 200);
  const body = ok.json as { snapshotId: string; rows: number; ms: number };
  assert.equal(body.rows, 5);
  assert.match(body.snapshotId, /^\d+$/);
  assert.ok(Number.isInteger(body.ms));

  // shapes of the good answers
  assert.deepEqual((await svc.get('/v1/counts/d')).json, { location: 'd', count_id: 20, sum_followers_count: 0, sum_favorite_count: 0, sum_retweet_count: 0 });
  assert.deepEqual((await svc.get('/v1/counts?key=a&key=zzz&nullKey=true')).json, {
    items: [{ location: 'a', count_id: 5, sum_followers_count: 1, sum_favorite_count: 1, sum_retweet_count: 1 }, { location: null, count_id: 8, sum_followers_count: 0, sum_favorite_count: 0, sum_retweet_count: 0 }],
    missing: ['zzz'],
  });
  const top = (await svc.get('/v1/top?metric=count_id&limit=3')).json as { metric: string; items: Array<{ location: string | null; count_id: number }> };
  assert.equal(top.metric, 'count_id');
  assert.deepEqual(top.items.map((i) => [i.location, i.count_id]), [['d', 20], ['b', 9], [null, 8]]);
  const explain = (await svc.get('/v1/counts/a?explain=true')).json as { merged: { count_id: number }; batch: { count_id: number }; speed: unknown[] };
  assert.equal(explain.merged.count_id, 5);
  assert.equal(explain.batch.count_id, 5);
  assert.deepEqual(explain.speed, []);
  const encoded = await svc.get(`/v1/counts/${encodeURIComponent('a b/ü')}`);
  assert.equal(encoded.status, 404, 'a key with spaces, slashes and non-ASCII is one key');

  assert.equal((await svc.get('/healthz')).status, 200);
  const ready = await svc.get('/readyz');
  assert.equal(ready.status, 200);
  assert.equal((ready.json as { status: string }).status, 'ready');
});

test('POST /v1/flush is refused when no ADMIN_TOKEN is configured', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['a', 1, 1, 1, 1]]);
  const svc = await startService(t, db, topic, { ADMIN_TOKEN: '' });
  const r = await svc.post('/v1/flush', { authorization: 'Bearer anything-at-all-here' });
  assert.equal(r.status, 403);
  assert.match((r.json as { message: string }).message, /ADMIN_TOKEN/);
});
