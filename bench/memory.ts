// Memory per key: a running Service started on an empty batch table and an empty topic; V8 heap
// + external memory (the batch columns are BigInt64Arrays, outside the V8 heap) measured after
// full GCs, then the batch table is filled (B keys) and reloaded, S speed rows (half of them new
// keys) are consumed from Kafka, and memory is measured again after full GCs. The difference is
// divided by B + S (batch keys + speed keys held). Needs --expose-gc (figure.ts runs with it).
import type { GroupResult } from './figure.js';
import { absolute, createBatchTable, fmtCount, insertBatchRows, runScript, sleep, waitFor, type Options, type Scope } from './lib.js';
import { startService } from './svc.js';

function settled(): { heap: number; external: number } {
  const gc = global.gc;
  if (!gc) throw new Error('memory figure needs node --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

export async function memory(o: Options, scope: Scope): Promise<GroupResult> {
  const schema = await scope.schema();
  await createBatchTable(scope.pool, `${schema}.batch_layer`, 0);
  const topic = await scope.topic(2);
  const svc = await startService(scope, schema, topic);
  await sleep(500); // the consumer's first fetches and kafkajs buffers exist in both measurements
  const before = settled();

  await insertBatchRows(scope.pool, `${schema}.batch_layer`, o.batchKeys);
  const snap = await svc.service.batch.load();
  if (snap.size !== o.batchKeys) throw new Error(`loaded ${snap.size} batch rows, expected ${o.batchKeys}`);
  await sleep(200);
  const batchOnly = settled();
  await runScript('producer.ts', { mode: 'all', topic, batchKeys: o.batchKeys, speedKeys: o.speedKeys });
  await waitFor(() => svc.consumed() >= o.speedKeys && svc.service.store.keyCount === o.speedKeys, 60_000, 'the speed rows');
  await sleep(500);
  const after = settled();

  const keys = o.batchKeys + o.speedKeys;
  const heap = after.heap - before.heap;
  const external = after.external - before.external;
  const perKey = (heap + external) / keys;
  const total = (m: { heap: number; external: number }) => m.heap + m.external;
  const perBatchKey = (total(batchOnly) - total(before)) / o.batchKeys;
  const perSpeedKey = (total(after) - total(batchOnly)) / o.speedKeys;
  return {
    figures: [absolute('memory: heap + external bytes per key', perKey, 'B/key', 200, {
      size: `${fmtCount(o.batchKeys)} batch keys + ${fmtCount(o.speedKeys)} speed keys (half new) in a running Service`,
      note: `V8 heap +${(heap / 1048576).toFixed(1)} MB (${(heap / keys).toFixed(0)} B/key), external +${(external / 1048576).toFixed(1)} MB (${(external / keys).toFixed(0)} B/key), divided by ${keys} keys held; of which batch ${perBatchKey.toFixed(0)} B per batch key, speed ${perSpeedKey.toFixed(0)} B per speed key (one open window each)`,
    })],
  };
}
