// npm run produce: Spark-format updates to a real Kafka topic, which the real service consumes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { BROKERS, createBatchTable, freshDb, freshTopic, startService, waitFor } from '../helpers/harness.js';

const ROOT = new URL('../..', import.meta.url).pathname;

function run(cmd: string, args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (status) => resolve({ status, out }));
  });
}

test('npm run produce writes Spark-format updates that the service consumes and serves', async (t) => {
  const db = await freshDb(t);
  await createBatchTable(db, []);
  const topic = await freshTopic(t, 2);
  const r = await run('npm', ['run', '--silent', 'produce', '--', '--rate', '300', '--duration', '2s', '--topic', topic, '--brokers', BROKERS.join(',')]);
  assert.equal(r.status, 0, r.out);
  const sent = Number(/"sent":(\d+),"seconds"/.exec(r.out)?.[1]);
  assert.ok(sent >= 450 && sent <= 700, `about 600 records in 2 s at 300/s: ${sent}\n${r.out}`);

  const admin = new kafkajs.Kafka({ brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  assert.equal(offsets.reduce((n, o) => n + Number(o.high), 0), sent);
  assert.ok(offsets.every((o) => Number(o.high) > 0), 'keyed records spread over both partitions');

  const svc = await startService(t, db, topic);
  await waitFor(() => Object.values(svc.service.consumer.positions()).reduce((n, o) => n + Number(o), 0) === sent);
  const top = (await svc.get('/v1/top?limit=5')).json as { items: Array<{ location: string | null; count_id: number }> };
  assert.equal(top.items.length, 5);
  assert.equal(top.items[0]?.location, 'London', 'the busiest demo key');
  const nullKey = (await svc.get('/v1/counts?nullKey=true')).json as { items: unknown[] };
  assert.equal(nullKey.items.length, 1, 'the NULL location is produced and served');
  const rejected = await svc.get('/metrics');
  assert.doesNotMatch(rejected.text, /lambda_serving_speed_updates_rejected_total\{/, 'no malformed record by default');
});
