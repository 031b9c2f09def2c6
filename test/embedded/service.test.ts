// The real service in embedded mode, in this process: PGlite warehouse seeded with a generated
// batch layer, the in-process speed source, HTTP. The merge, flush, swap and reads are the
// service's own code; only where the data comes from is local.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { DEMO_KEYS, seededRandom, SparkUpdates } from '../../src/embedded/generator.js';
import type { GeneratorSource } from '../../src/embedded/source.js';
import type { Stats } from '../../src/serving/stats.js';
import { TWEET_VIEW } from '../../src/view.js';
import { startEmbeddedService } from '../helpers/embedded.js';
import { defer, waitFor } from '../helpers/harness.js';

test('the embedded service swaps in a snapshot equal to its merged reads, through the INSERT bulk path', async (t) => {
  const { service, embedded } = await startEmbeddedService(t, { EMBEDDED_RATE: '0', FLUSH_INTERVAL: '1h' });
  assert.equal(service.warehouse.dialect.name, 'embedded');
  assert.equal(service.warehouse.dialect.bulkWrite, 'insert');
  assert.equal(service.batch.status().rows, DEMO_KEYS.length);
  assert.equal(service.batch.status().watermark, new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000).toISOString());

  const updates = new SparkUpdates({ view: TWEET_VIEW, mode: 'totals', random: seededRandom(11) });
  (service.consumer as GeneratorSource).append(Array.from({ length: 2000 }, () => updates.next()));
  await waitFor(() => service.consumer.positions()['0'] === '2000');
  const flushed = await service.flushNow();
  assert.equal(flushed.rows, DEMO_KEYS.length);

  const db = new pg.Client(embedded.warehouseUrl);
  await db.connect();
  defer(t, () => db.end());
  const { rows } = await db.query<{ location: string | null; count_id: string; sum_followers_count: string }>(
    'SELECT location, count_id::text, sum_followers_count::text FROM serving_layer');
  assert.equal(rows.length, DEMO_KEYS.length);
  let withSpeed = 0;
  for (const r of rows) {
    const merged = service.reads.get(r.location);
    assert.ok(merged, `key ${r.location} is served`);
    assert.equal(r.count_id, String(merged.metrics[0]), `count_id of ${r.location}`);
    assert.equal(r.sum_followers_count, String(merged.metrics[1]));
    if (service.store.has(r.location)) withSpeed++;
  }
  assert.ok(withSpeed > 20, `the snapshot holds speed parts (${withSpeed} keys)`);
  const cp = await db.query<{ snapshot_id: string; row_count: string; kafka_offsets: string }>('SELECT snapshot_id::text, row_count::text, kafka_offsets FROM serving_layer_checkpoint');
  assert.deepEqual(cp.rows, [{ snapshot_id: flushed.snapshotId, row_count: String(DEMO_KEYS.length), kafka_offsets: '{"0":"2000"}' }]);
});

test('GET /v1/stats reports rates, lag, the batch watermark, the last snapshot and rejections by reason', async (t) => {
  const svc = await startEmbeddedService(t, { EMBEDDED_RATE: '1000', FLUSH_INTERVAL: '1s' });
  await waitFor(() => svc.service.flusher.status().lastSnapshotId !== undefined && Number(svc.service.consumer.positions()['0']) > 3000, 20_000);
  await waitFor(async () => ((await (await fetch(`${svc.url}/v1/stats`)).json()) as Stats).series.t.length >= 3, 10_000);
  const res = await fetch(`${svc.url}/v1/stats`);
  assert.equal(res.status, 200);
  const s = (await res.json()) as Stats;
  assert.equal(s.mode, 'embedded');
  assert.deepEqual(s.view, { key: 'location', metrics: TWEET_VIEW.metrics.map((m) => m.column) });
  assert.ok(s.updatesPerSecond > 300 && s.updatesPerSecond < 3000, `about 1000/s: ${s.updatesPerSecond}`);
  assert.equal(s.series.t.length, s.series.updatesPerSecond.length);
  assert.equal(s.series.t.length, s.series.lag.length);
  assert.ok(s.lag >= 0);
  assert.equal(s.batch.loaded, true);
  assert.equal(s.batch.rows, DEMO_KEYS.length);
  assert.match(s.batch.watermark ?? '', /T00:00:00\.000Z$/);
  assert.match(s.snapshot.id ?? '', /^\d+$/);
  assert.equal(s.snapshot.rows, DEMO_KEYS.length);
  assert.ok(Number.isInteger(s.snapshot.ms));
  assert.ok((s.rejected.bad_metric ?? 0) + (s.rejected.bad_json ?? 0) + (s.rejected.missing_key ?? 0) >= 2, JSON.stringify(s.rejected));
  assert.ok(s.speed.keys > 20);
});
