// The batch/speed boundary: the batch declares a watermark W (it holds every event before W);
// speed windows before W are not added again, windows from W on are, a window straddling W is
// reported and not added; when W advances the view stays exact and memory drops what the batch
// absorbed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_TOKEN, freshDb, freshTopic, producer, sparkJson, startService, tableRows, waitFor, type Db } from '../helpers/harness.js';

const day = (d: number) => `2026-11-${String(d).padStart(2, '0')}T00:00:00.000Z`;
const win = (d: number) => ({ start: day(d), end: day(d + 1) });
const KEYS = ['Paris', 'Tokyo', null] as const;
/** events per key and day, as the streaming job counted them */
const events = (k: string | null, d: number) => (k === null ? 3 : k.length) * 10 + d;

async function writeBatch(db: Db, days: number[], watermarkDay: number): Promise<void> {
  await db.pool.query(`DROP TABLE IF EXISTS ${db.t('batch_layer')}`);
  await db.pool.query(`CREATE TABLE ${db.t('batch_layer')} (location text, count_id bigint, sum_followers_count bigint, sum_favorite_count bigint, sum_retweet_count bigint)`);
  for (const k of KEYS) {
    const sum = days.reduce((a, d) => a + events(k, d), 0);
    await db.pool.query(`INSERT INTO ${db.t('batch_layer')} VALUES ($1, $2, 0, 0, 0)`, [k, sum]);
  }
  await db.pool.query(`CREATE TABLE IF NOT EXISTS ${db.t('batch_layer_meta')} (covered_until timestamptz)`);
  await db.pool.query(`DELETE FROM ${db.t('batch_layer_meta')}`);
  await db.pool.query(`INSERT INTO ${db.t('batch_layer_meta')} VALUES ($1)`, [day(watermarkDay)]);
}

test('each window is counted once across the batch watermark, and memory drops windows the batch absorbs', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 2);
  await writeBatch(db, [1, 2], 3); // the batch holds days 1 and 2: W = day 3
  const prod = await producer(t, topic);
  // the streaming job still emits totals for days 1..4
  await prod.send(KEYS.flatMap((k) => [1, 2, 3, 4].map((d) => ({ value: sparkJson({ location: k, count: events(k, d), window: win(d) }) }))));
  // and one window straddling W (noon day 2 to noon day 3) for Paris
  await prod.send([{ value: sparkJson({ location: 'Paris', count: 1000, window: { start: '2026-11-02T12:00:00.000Z', end: '2026-11-03T12:00:00.000Z' } }) }]);
  const svc = await startService(t, db, topic, { BATCH_WATERMARK_SQL: `SELECT covered_until FROM ${db.t('batch_layer_meta')}` });
  const sent = KEYS.length * 4 + 1;
  await waitFor(() => Object.values(svc.service.consumer.positions()).reduce((a, b) => a + Number(b), 0) === sent);

  const merged = async (k: string | null) => {
    const r = await svc.get(k === null ? '/v1/counts?nullKey=true' : `/v1/counts/${k}`);
    return k === null ? (r.json as { items: Array<{ count_id: number }> }).items[0]?.count_id : (r.json as { count_id: number }).count_id;
  };
  const total = (k: string | null, days: number[]) => days.reduce((a, d) => a + events(k, d), 0);
  for (const k of KEYS) assert.equal(await merged(k), total(k, [1, 2, 3, 4]), `key ${k}: batch days 1-2 + speed days 3-4`);
  // days 1 and 2 were never stored (the batch has them); days 3, 4 and the straddling window are
  assert.equal(svc.service.store.windowCount, KEYS.length * 2 + 1);
  const metrics = (await svc.get('/metrics')).text;
  assert.match(metrics, /lambda_serving_straddling_windows 1\b/);
  assert.match(metrics, /lambda_serving_speed_updates_covered_total 6\b/);
  const explain = (await svc.get('/v1/counts/Paris?explain=true')).json as { speed: Array<{ fate: string }>; watermark: string };
  assert.deepEqual(explain.speed.map((s) => s.fate).sort(), ['added', 'added', 'straddling']);
  assert.equal(explain.watermark, day(3));

  await svc.post('/v1/flush', { authorization: `Bearer ${ADMIN_TOKEN}` });
  const expectRows = (days: number[]) => [...KEYS].sort((a, b) => (a === null ? -1 : b === null ? 1 : a < b ? -1 : 1)).map((k) => [k, String(total(k, days)), '0', '0', '0']);
  assert.deepEqual(await tableRows(db, 'serving_layer'), expectRows([1, 2, 3, 4]));

  // the batch job runs again: now it holds days 1-3, W = day 4
  await writeBatch(db, [1, 2, 3], 4);
  await svc.service.batch.load();
  for (const k of KEYS) assert.equal(await merged(k), total(k, [1, 2, 3, 4]), `key ${k} after the handover`);
  assert.equal(svc.service.store.windowCount, KEYS.length * 1, 'day 3 and the straddling window left memory; day 4 stays');
  assert.match((await svc.get('/metrics')).text, /lambda_serving_straddling_windows 0\b/);
  await svc.post('/v1/flush', { authorization: `Bearer ${ADMIN_TOKEN}` });
  assert.deepEqual(await tableRows(db, 'serving_layer'), expectRows([1, 2, 3, 4]));

  // a late total for an absorbed day changes nothing; one for day 4 does
  await prod.send([{ value: sparkJson({ location: 'Tokyo', count: 999, window: win(2) }) }, { value: sparkJson({ location: 'Tokyo', count: events('Tokyo', 4) + 5, window: win(4) }) }]);
  await waitFor(async () => (await merged('Tokyo')) === total('Tokyo', [1, 2, 3, 4]) + 5);
});
