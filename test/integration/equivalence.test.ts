// The serving table the service writes equals the classic in-warehouse merge (the SQL this
// service replaces) on the same batch table and the same latest speed totals; and where that
// SQL loses the NULL key, the service keeps it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_TOKEN, createBatchTable, freshDb, freshTopic, producer, sparkJson, startService, tableRows, waitFor, type Db, type Tweet } from '../helpers/harness.js';

/** The classic serving-layer SQL, verbatim in shape: copy batch, UPDATE ... FROM for common keys,
 * INSERT ... NOT IN for speed-only keys, drop, rename. */
async function classicMerge(db: Db): Promise<void> {
  const q = (s: string) => db.pool.query(s);
  await q(`CREATE TABLE ${db.t('classic_temp')} AS SELECT * FROM ${db.t('batch_layer')}`);
  await q(`UPDATE ${db.t('classic_temp')} AS s SET
             count_id = s.count_id + sp.count_id,
             sum_followers_count = s.sum_followers_count + sp.sum_followers_count,
             sum_favorite_count = s.sum_favorite_count + sp.sum_favorite_count,
             sum_retweet_count = s.sum_retweet_count + sp.sum_retweet_count
           FROM ${db.t('speed_layer')} AS sp WHERE s.location = sp.location`);
  await q(`INSERT INTO ${db.t('classic_temp')}
           SELECT location, count_id, sum_followers_count, sum_favorite_count, sum_retweet_count
           FROM ${db.t('speed_layer')} WHERE location NOT IN (SELECT location FROM ${db.t('batch_layer')})`);
  await q(`DROP TABLE IF EXISTS ${db.t('classic_serving')}`);
  await q(`ALTER TABLE ${db.t('classic_temp')} RENAME TO classic_serving`);
}

interface Sent { tweet: Tweet; timestamp: number }

/** Latest total per key by version (the record timestamp), computed from what the test sent. */
function latestTotals(sent: Sent[]): Map<string | null, Tweet> {
  const best = new Map<string | null, Sent>();
  for (const s of sent) {
    const cur = best.get(s.tweet.location);
    if (!cur || s.timestamp > cur.timestamp) best.set(s.tweet.location, s);
  }
  return new Map([...best].map(([k, v]) => [k, v.tweet]));
}

test('serving_layer equals the classic SQL merge for batch-only, speed-only and common keys, and keeps the NULL key the classic NOT IN loses', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 2);
  // batch: keys only in batch (b*), keys also in speed (c*); no NULL key in batch
  const batch: Array<[string, number, number, number, number]> = [];
  for (let i = 0; i < 300; i++) batch.push([`b${i}`, i, i * 10, i % 7, i % 3]);
  for (let i = 0; i < 200; i++) batch.push([`c${i}`, 1000 + i, 5, 6, 7]);
  await createBatchTable(db, batch);

  // speed: several running totals per key (only the newest counts), for common keys (c*),
  // speed-only keys (s*) and the NULL key; sent out of version order across partitions
  const sent: Sent[] = [];
  const base = Date.now() - 60_000;
  const keys: Array<string | null> = [...Array.from({ length: 200 }, (_, i) => `c${i}`), ...Array.from({ length: 150 }, (_, i) => `s${i}`), null];
  keys.forEach((k, i) => {
    for (let v = 0; v < 3; v++) {
      sent.push({ tweet: { location: k, count: i * 3 + v + 1, followers: (i + 1) * 100 + v, favorites: v, retweets: i % 5 }, timestamp: base + i * 10 + v });
    }
  });
  const shuffled = [...sent].sort((a, b) => ((a.timestamp * 7919) % 13) - ((b.timestamp * 7919) % 13));
  const prod = await producer(t, topic);
  await prod.send(shuffled.map((s, i) => ({ value: sparkJson(s.tweet), timestamp: String(s.timestamp), partition: i % 2 })));

  const svc = await startService(t, db, topic);
  const applied = () => svc.service.consumer.positions();
  await waitFor(() => Object.values(applied()).reduce((a, b) => a + Number(b), 0) === sent.length, 20_000, () => JSON.stringify(applied()));

  const flush = await svc.post('/v1/flush', { authorization: `Bearer ${ADMIN_TOKEN}` });
  assert.equal(flush.status, 200, flush.text);

  // the oracle's speed table: the latest totals, computed independently from what was sent
  const latest = latestTotals(sent);
  await db.pool.query(`CREATE TABLE ${db.t('speed_layer')} (location text, count_id bigint, sum_followers_count bigint, sum_favorite_count bigint, sum_retweet_count bigint)`);
  for (const [k, tw] of latest) {
    await db.pool.query(`INSERT INTO ${db.t('speed_layer')} VALUES ($1, $2, $3, $4, $5)`, [k, tw.count, tw.followers, tw.favorites, tw.retweets]);
  }
  await classicMerge(db);

  const service = await tableRows(db, 'serving_layer');
  const classic = await tableRows(db, 'classic_serving');
  const nullTweet = latest.get(null);
  assert.ok(nullTweet);

  // the difference, explicitly: the classic form lost the NULL key; the service kept it, exactly
  assert.equal(classic.filter((r) => r[0] === null).length, 0, 'classic NOT IN keeps no NULL key');
  const serviceNull = service.filter((r) => r[0] === null);
  assert.deepEqual(serviceNull, [[null, String(nullTweet.count), String(nullTweet.followers), String(nullTweet.favorites), String(nullTweet.retweets)]]);

  // everything else is identical, row for row
  assert.deepEqual(service.filter((r) => r[0] !== null), classic);
  assert.equal(classic.length, 300 + 200 + 150);
  // and the three kinds of key are all present
  for (const k of ['b0', 'c0', 's0']) assert.ok(classic.some((r) => r[0] === k), k);

  // HTTP agrees with the table for a key of each kind
  for (const row of service.slice(0, 5).concat(service.slice(-5))) {
    if (row[0] === null) continue;
    const r = await svc.get(`/v1/counts/${encodeURIComponent(row[0] as string)}`);
    assert.equal(r.text, `{"location":${JSON.stringify(row[0])},"count_id":${row[1]},"sum_followers_count":${row[2]},"sum_favorite_count":${row[3]},"sum_retweet_count":${row[4]}}`);
  }
  const nullRead = await svc.get('/v1/counts?nullKey=true');
  assert.deepEqual(nullRead.json, { items: [{ location: null, count_id: Number(nullTweet.count), sum_followers_count: Number(nullTweet.followers), sum_favorite_count: Number(nullTweet.favorites), sum_retweet_count: Number(nullTweet.retweets) }], missing: [] });
});

test('when the batch holds a NULL key the classic NOT IN inserts no speed-only key at all; the service keeps them all', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  await createBatchTable(db, [['a', 1, 1, 1, 1], [null, 2, 2, 2, 2]]);
  const prod = await producer(t, topic);
  await prod.send([{ value: sparkJson({ location: 'only-speed', count: 5 }) }, { value: sparkJson({ location: null, count: 7 }) }]);
  const svc = await startService(t, db, topic);
  await waitFor(() => svc.service.store.keyCount === 2);
  await svc.service.flushNow();
  await db.pool.query(`CREATE TABLE ${db.t('speed_layer')} AS SELECT 'only-speed'::text AS location, 5::bigint AS count_id, 0::bigint AS sum_followers_count, 0::bigint AS sum_favorite_count, 0::bigint AS sum_retweet_count UNION ALL SELECT NULL, 7, 0, 0, 0`);
  await classicMerge(db);
  const classic = await tableRows(db, 'classic_serving');
  const service = await tableRows(db, 'serving_layer');
  assert.deepEqual(classic, [[null, '2', '2', '2', '2'], ['a', '1', '1', '1', '1']], 'classic lost both the speed-only key and the NULL speed total');
  assert.deepEqual(service, [[null, '9', '2', '2', '2'], ['a', '1', '1', '1', '1'], ['only-speed', '5', '0', '0', '0']]);
});
