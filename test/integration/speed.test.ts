// The speed path end to end: out-of-order totals across partitions, freshness over HTTP, and a
// cached key that must not be served stale after its update.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatchTable, freshDb, freshTopic, producer, sparkJson, startService, waitFor } from '../helpers/harness.js';

test('the latest total wins when one key is updated out of order across two partitions', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 2);
  await createBatchTable(db, [['Lisbon', 100, 0, 0, 0]]);
  const prod = await producer(t, topic);
  const base = Date.now() - 10_000;
  // versions 5 (newest) and 3 on partition 1 first, then 1, 2, 4 on partition 0
  const totals: Record<number, number> = { 1: 10, 2: 20, 3: 30, 4: 40, 5: 50 };
  const send = (v: number, partition: number) => ({ value: sparkJson({ location: 'Lisbon', count: totals[v] }), timestamp: String(base + v), partition });
  await prod.send([send(5, 1), send(3, 1)]);
  await prod.send([send(1, 0), send(2, 0), send(4, 0)]);

  const svc = await startService(t, db, topic);
  await waitFor(() => svc.service.consumer.positions()['0'] === '3' && svc.service.consumer.positions()['1'] === '2');
  const r = await svc.get('/v1/counts/Lisbon');
  assert.equal(r.status, 200);
  assert.equal((r.json as { count_id: number }).count_id, 100 + 50, 'batch 100 + the newest total 50');

  // an even older total arriving later still loses; a newer one wins
  await prod.send([send(2, 1)]);
  await waitFor(() => svc.service.consumer.positions()['1'] === '3');
  assert.equal(((await svc.get('/v1/counts/Lisbon')).json as { count_id: number }).count_id, 150);
  await prod.send([{ value: sparkJson({ location: 'Lisbon', count: 60 }), timestamp: String(base + 6), partition: 0 }]);
  await waitFor(async () => ((await svc.get('/v1/counts/Lisbon')).json as { count_id: number }).count_id === 160);
});

test('an update produced to Kafka is visible over HTTP within one second, and a cached key is never served stale after its update', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 2);
  await createBatchTable(db, [['Oslo', 1, 1, 1, 1]]);
  const svc = await startService(t, db, topic);
  const prod = await producer(t, topic);
  const count = async () => ((await svc.get('/v1/counts/Oslo')).json as { count_id: number }).count_id;

  const latencies: number[] = [];
  for (let i = 1; i <= 5; i++) {
    assert.equal(await count(), i === 1 ? 1 : 1 + (i - 1) * 10); // cached now
    const sent = Date.now();
    await prod.send([{ value: sparkJson({ location: 'Oslo', count: i * 10 }), partition: i % 2 }]);
    await waitFor(async () => (await count()) === 1 + i * 10, 1000, () => `update ${i} not visible within 1 s`);
    latencies.push(Date.now() - sent);
  }
  assert.ok(Math.max(...latencies) < 1000, `latencies ${latencies.join(', ')} ms`);

  // Not stale: the moment the store has applied the update, the cached value is gone; the very
  // next read returns the new total.
  assert.equal(await count(), 51);
  const applied = new Promise<void>((resolve) => svc.service.store.onChange((k) => { if (k === 'Oslo') resolve(); }));
  await prod.send([{ value: sparkJson({ location: 'Oslo', count: 70 }) }]);
  await applied;
  assert.equal(await count(), 71);
  const hits = (await svc.service.metrics.cacheRequests.get()).values.find((v) => v.labels.result === 'hit')?.value ?? 0;
  assert.ok(hits > 0, 'reads were served from the cache in between');
});

test('windows of one key are stored apart and all added when no watermark is declared', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['Rome', 1, 0, 0, 0]]);
  const prod = await producer(t, topic);
  const w = (d: number) => ({ start: `2026-11-${String(d).padStart(2, '0')}T00:00:00.000Z`, end: `2026-11-${String(d + 1).padStart(2, '0')}T00:00:00.000Z` });
  await prod.send([
    { value: sparkJson({ location: 'Rome', count: 5, window: w(1) }) },
    { value: sparkJson({ location: 'Rome', count: 7, window: w(2) }) },
    { value: sparkJson({ location: 'Rome', count: 9, window: w(1) }) }, // newer total of window 1
  ]);
  const svc = await startService(t, db, topic);
  await waitFor(() => svc.service.consumer.positions()['0'] === '3');
  const r = await svc.get('/v1/counts/Rome?explain=true');
  const body = r.json as { merged: { count_id: number }; speed: Array<{ fate: string; metrics: { count_id: number } }>; watermark: null };
  assert.equal(body.merged.count_id, 1 + 9 + 7);
  assert.deepEqual(body.speed.map((s) => [s.fate, s.metrics.count_id]).sort(), [['added', 7], ['added', 9]]);
  assert.equal(body.watermark, null);
});
