// Warehouse readers never see a missing or half-written serving table while snapshots swap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createBatchTable, DATABASE_URL, defer, freshDb, freshTopic, producer, sparkJson, startService, waitFor, type BatchRow } from '../helpers/harness.js';

test('while 20 flushes run, a reader looping over serving_layer never errors and always sees one complete snapshot', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 2);
  const rows: BatchRow[] = Array.from({ length: 20_000 }, (_, i) => [`k${i}`, (i % 97) + 1, 0, 0, 0]);
  await createBatchTable(db, rows);
  const base = { count: rows.length, sum: rows.reduce((a, r) => a + Number(r[1]), 0) };
  const svc = await startService(t, db, topic);
  const prod = await producer(t, topic);

  // snapshot i holds the batch plus i new speed-only keys; the expected (count, sum) of each
  const expected = new Set<string>();
  const pair = (count: number, sum: number) => `${count}/${sum}`;
  let added = 0;
  expected.add(pair(base.count, base.sum));
  await svc.service.flushNow();

  const reader = new pg.Client({ connectionString: DATABASE_URL });
  await reader.connect();
  t.after(() => reader.end());
  const seen = new Map<string, number>();
  const errors: string[] = [];
  let reading = true;
  let reads = 0;
  const loop = (async () => {
    while (reading) {
      try {
        const r = await reader.query(`SELECT count(*)::text AS c, sum(count_id)::text AS s FROM ${db.t('serving_layer')}`);
        const key = pair(Number(r.rows[0].c), Number(r.rows[0].s));
        seen.set(key, (seen.get(key) ?? 0) + 1);
        reads++;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  })();

  for (let i = 1; i <= 20; i++) {
    const c = 1000 + i;
    await prod.send([{ value: sparkJson({ location: `new${i}`, count: c }), partition: i % 2 }]);
    await waitFor(() => svc.service.store.has(`new${i}`));
    added += c;
    expected.add(pair(base.count + i, base.sum + added));
    const readsBefore = reads;
    const f = await svc.service.flushNow();
    assert.equal(f.rows, base.count + i);
    // give the reader a turn on the new snapshot before the next flush
    await waitFor(() => reads > readsBefore + 2, 10_000);
  }
  reading = false;
  await loop;

  assert.deepEqual(errors, [], 'reader errors');
  assert.ok(reads > 40, `only ${reads} reads`);
  for (const k of seen.keys()) assert.ok(expected.has(k), `reader saw ${k}, not one of the 21 snapshots`);
  assert.ok(seen.has(pair(base.count + 20, base.sum + added)), 'the last snapshot was seen');
  assert.ok(seen.size >= 15, `reader saw ${seen.size} distinct snapshots`);
  // no leftovers: only the serving table, the checkpoint table and the checkpointed speed state remain
  const { rows: tables } = await db.pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [db.schema]);
  assert.deepEqual(tables.map((r) => r.table_name), ['batch_layer', 'serving_layer', 'serving_layer_checkpoint', 'serving_layer_speed']);
});

test('readers named in SERVING_READERS can read every swapped-in serving table', async (t) => {
  const db = await freshDb(t);
  const role = `reader_${db.schema}`;
  await db.pool.query(`CREATE ROLE ${role} LOGIN`);
  defer(t, async () => { await db.pool.query(`DROP OWNED BY ${role}`); await db.pool.query(`DROP ROLE ${role}`); });
  await db.pool.query(`GRANT USAGE ON SCHEMA ${db.schema} TO ${role}`);
  await createBatchTable(db, [['a', 1, 0, 0, 0]]);
  const topic = await freshTopic(t, 1);
  const svc = await startService(t, db, topic, { SERVING_READERS: role });
  const reader = new pg.Client({ connectionString: DATABASE_URL.replace('postgres@', `${role}@`) });
  await reader.connect();
  defer(t, () => reader.end());
  for (let i = 0; i < 3; i++) {
    await svc.service.flushNow();
    const r = await reader.query(`SELECT count(*)::int AS n FROM ${db.t('serving_layer')}`);
    assert.equal(r.rows[0].n, 1);
  }
  await assert.rejects(reader.query(`SELECT 1 FROM ${db.t('batch_layer')}`), /permission denied/);
});
