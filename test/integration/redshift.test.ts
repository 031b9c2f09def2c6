// The redshift profile against PostgreSQL: bulk writes as multi-row INSERT chunks within
// Redshift's limits, identical to the COPY path; and a statement Redshift would refuse fails here
// too, before it is sent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BIND_PARAMS, MAX_STATEMENT_BYTES } from '../../src/warehouse/redshift-rules.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { Service } from '../../src/service.js';
import { BROKERS, createBatchTable, DATABASE_URL, freshDb, freshTopic, startService, tableRows, uid, type BatchRow } from '../helpers/harness.js';

test('a snapshot over one statement\'s limits is written in several INSERTs, none over 65,535 parameters or 16 MB, with contents identical to COPY', async (t) => {
  const rows: BatchRow[] = Array.from({ length: 30_000 }, (_, i) => [`key-${i}`, i, i % 7, 1, 2]);
  // 300 keys of 60 KB (Redshift's VARCHAR holds at most 65,535 bytes): 18 MB of values, so the
  // byte limit splits statements too
  for (let i = 0; i < 300; i++) rows.push([`${String(i).padStart(4, '0')}${'x'.repeat(60 * 1024)}`, i, 0, 0, 0]);
  const dbRs = await freshDb(t);
  const dbPg = await freshDb(t);
  await createBatchTable(dbRs, rows);
  await createBatchTable(dbPg, rows);
  const topic = await freshTopic(t, 1);
  const rs = await startService(t, dbRs, topic, { WAREHOUSE_DIALECT: 'redshift' });
  const pgs = await startService(t, dbPg, topic, { WAREHOUSE_DIALECT: 'postgres' });
  await rs.service.flushNow();
  await pgs.service.flushNow();

  const inserts = rs.statements.filter((s) => /^INSERT INTO "[^"]+"\."serving_layer_next"/.test(s.text));
  assert.ok(inserts.length >= 4, `${inserts.length} INSERT statements`);
  let total = 0;
  for (const s of inserts) {
    assert.ok(s.values.length <= MAX_BIND_PARAMS, `${s.values.length} parameters`);
    const bytes = Buffer.byteLength(s.text) + s.values.reduce<number>((a, v) => a + (v === null ? 0 : Buffer.byteLength(String(v))), 0);
    assert.ok(bytes <= MAX_STATEMENT_BYTES, `${bytes} bytes`);
    total += s.values.length / 5;
  }
  assert.equal(total, rows.length);
  assert.ok(!rs.statements.some((s) => /\bCOPY\b/.test(s.text)), 'no COPY under the redshift profile');
  assert.ok(pgs.statements.some((s) => /^COPY .*serving_layer_next.* FROM STDIN/.test(s.text)), 'the postgres profile used COPY');

  const a = await tableRows(dbRs, 'serving_layer');
  const b = await tableRows(dbPg, 'serving_layer');
  assert.equal(a.length, rows.length);
  assert.deepEqual(a, b);
});

test('under the redshift profile a statement Redshift refuses fails before it is sent, with the rule named', async (t) => {
  const db = await freshDb(t);
  await createBatchTable(db, [['a', 1, 0, 0, 0]]);
  const topic = await freshTopic(t, 1);
  const watermark = 'SELECT max(d)::bigint FROM generate_series(1, 3) AS d';
  const pgs = await startService(t, db, topic, { WAREHOUSE_DIALECT: 'postgres', BATCH_WATERMARK_SQL: watermark });
  assert.equal(pgs.service.batch.snapshot.watermark, 3, 'PostgreSQL runs it');

  const db2 = await freshDb(t);
  await createBatchTable(db2, [['a', 1, 0, 0, 0]]);
  const cfg = loadConfig({
    KAFKA_BROKERS: BROKERS.join(','), WAREHOUSE_URL: DATABASE_URL, SPEED_TOPIC: topic, KAFKA_GROUP_ID: `g_${uid()}`,
    BATCH_TABLE: db2.t('batch_layer'), SERVING_TABLE: db2.t('serving_layer'), PORT: '0', HOST: '127.0.0.1',
    WAREHOUSE_DIALECT: 'redshift', BATCH_WATERMARK_SQL: watermark, LOG_LEVEL: 'silent',
  });
  const rs = new Service(cfg, createLogger('silent'), { defaultMetrics: false });
  t.after(() => rs.stop());
  await rs.start(); // starts; the batch load fails and readiness says why
  const r = rs.readiness();
  assert.equal(r.ready, false);
  assert.match(r.notReady.join(' '), /batch layer not loaded yet \(last error: warehouse statement failed: statement Redshift does not accept \(generate_series\)/);
});
