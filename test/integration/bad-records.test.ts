// Every kind of bad speed record is rejected with a reason, counted, copied to the dead-letter
// topic, and skipped, while the good records around it are applied.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { BROKERS, createBatchTable, freshDb, freshTopic, producer, sparkJson, startService, uid, waitFor } from '../helpers/harness.js';

test('each bad record kind is counted and skipped while good records around it are applied', async (t) => {
  const db = await freshDb(t);
  const topic = await freshTopic(t, 1);
  const dlq = await freshTopic(t, 1);
  await createBatchTable(db, [['good', 1, 0, 0, 0]]);
  const prod = await producer(t, topic);
  const good = (n: number) => ({ value: sparkJson({ location: `good${n}`, count: n }) });
  const bad: Array<[string, { key?: string | null; value: string | null }]> = [
    ['bad_json', { value: '{"location":"x",' }],
    ['not_object', { value: '[1,2,3]' }],
    ['missing_key', { value: '{"count(id)":1}' }],
    ['bad_key', { value: '{"location":{"a":1},"count(id)":1}' }],
    ['bad_metric', { value: '{"location":"x","count(id)":1.5}' }],
    ['bad_metric', { value: '{"location":"x","count(id)":"many"}' }],
    ['metric_out_of_range', { value: '{"location":"x","count(id)":9223372036854775808}' }],
    ['bad_window', { value: '{"location":"x","count(id)":1,"window":{"start":"yesterday","end":"today"}}' }],
    ['oversize', { value: `{"location":"${'x'.repeat(3000)}","count(id)":1}` }],
    ['tombstone_without_key', { key: null, value: null }],
  ];
  const messages = [good(1)];
  bad.forEach(([, m], i) => messages.push(m as { value: string }, good(i + 2)));
  await prod.send(messages);

  const svc = await startService(t, db, topic, { DEAD_LETTER_TOPIC: dlq, MAX_RECORD_BYTES: '2048' });
  await waitFor(() => svc.service.consumer.positions()['0'] === String(messages.length), 15_000);

  // every good record applied
  for (let n = 1; n <= bad.length + 1; n++) {
    const r = await svc.get(`/v1/counts/good${n}`);
    assert.equal(r.status, 200, `good${n}`);
    assert.equal((r.json as { count_id: number }).count_id, n);
  }
  assert.equal((await svc.get('/v1/counts/x')).status, 404, 'nothing of the bad records was applied');

  // counted by reason, in the Prometheus text too
  const expected = new Map<string, number>();
  for (const [reason] of bad) expected.set(reason, (expected.get(reason) ?? 0) + 1);
  const metrics = (await svc.get('/metrics')).text;
  for (const [reason, n] of expected) {
    assert.match(metrics, new RegExp(`lambda_serving_speed_updates_rejected_total\\{reason="${reason}"\\} ${n}\\b`), reason);
  }

  // copied to the dead-letter topic with the reason in a header
  const kafka = new kafkajs.Kafka({ brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `dlq_${uid()}` });
  t.after(() => consumer.disconnect());
  await consumer.connect();
  await consumer.subscribe({ topic: dlq, fromBeginning: true });
  const reasons: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => { reasons.push(String(message.headers?.['ls-reason'])); } });
  await waitFor(() => reasons.length === bad.length, 15_000, () => reasons.join(','));
  assert.deepEqual(reasons.sort(), bad.map(([r]) => r).sort());

  // and the consumer is still running: a later good record is applied
  await prod.send([{ value: sparkJson({ location: 'after', count: 3 }) }]);
  await waitFor(async () => (await svc.get('/v1/counts/after')).status === 200);
});
