// Ingest: speed records applied per second by the service's consumer, against a bare kafkajs
// eachBatch consumer that only counts, both reading the same pre-produced topic from the start.
// Rate = records after the first fetched batch / time from the end of that batch to the last
// record, for both (group joins and the first fetch are not part of either rate).
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { SpeedConsumer } from '../src/speed/consumer.js';
import { OPEN_WINDOW, type Decoder, type Update } from '../src/speed/decode.js';
import { SpeedStore } from '../src/speed/store.js';
import type { GroupResult } from './figure.js';
import { createBatchTable, figure, fmtCount, kafka, later, produceAll, speedMessage, waitFor, withTimeout, type Options, type Scope } from './lib.js';
import { counterValue, createService } from './svc.js';

interface Rate { rate: number; records: number; seconds: number; cpuUs: number }

/** The baseline: the same consumer settings as the service (eachBatch, maxWaitTimeInMs 100, one
 * partition at a time), and nothing done per record. */
async function bareConsumer(scope: Scope, topic: string, total: number): Promise<Rate> {
  const consumer = kafka.consumer({ groupId: scope.group(), sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let count = 0;
    let first: { t: number; n: number; cpu: NodeJS.CpuUsage } | undefined;
    let cpu: NodeJS.CpuUsage | undefined;
    let last = 0;
    const done = new Promise<void>((resolve, reject) => {
      later(consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch }) => {
          count += batch.messages.length;
          const now = performance.now();
          first ??= { t: now, n: count, cpu: process.cpuUsage() };
          if (count >= total && last === 0) { last = now; cpu = process.cpuUsage(first.cpu); resolve(); }
        },
      })).catch(reject);
    });
    await withTimeout(done, 600_000, `the bare consumer to receive ${total} records`);
    const f = first as { t: number; n: number };
    const seconds = (last - f.t) / 1000;
    return { rate: (total - f.n) / seconds, records: total - f.n, seconds, cpuUs: cpuMicros(cpu as NodeJS.CpuUsage) / (total - f.n) };
  } finally {
    await consumer.disconnect();
  }
}

/** Records consumed by `positions` (the sum of the next offsets) from the first record to the
 * `total`-th, polled every 2 ms; start() begins consuming. */
async function pollRate(positions: () => number, total: number, start: () => Promise<void>): Promise<Rate> {
  let first: { t: number; n: number; cpu: NodeJS.CpuUsage } | undefined;
  let last = 0;
  let cpu: NodeJS.CpuUsage | undefined;
  const poll = setInterval(() => {
    const c = positions();
    if (c > 0) first ??= { t: performance.now(), n: c, cpu: process.cpuUsage() };
    if (c >= total && last === 0 && first) { last = performance.now(); cpu = process.cpuUsage(first.cpu); }
  }, 2);
  try {
    await start();
    await waitFor(() => last > 0, 600_000, `${total} records to be consumed`);
  } finally {
    clearInterval(poll);
  }
  const f = first as { t: number; n: number };
  const seconds = (last - f.t) / 1000;
  return { rate: (total - f.n) / seconds, records: total - f.n, seconds, cpuUs: cpuMicros(cpu as NodeJS.CpuUsage) / (total - f.n) };
}

/** Not a target: the service's own consumer (SpeedConsumer: its eachBatch loop, slices,
 * positions and heartbeats) with a decoder that hands every record back as a window the batch
 * already holds, so nothing is decoded or stored. Its gap to the bare consumer is what the loop
 * itself costs; the rest of the service's gap is decoding, applying, and the service's heap. */
async function consumerCeiling(scope: Scope, topic: string, total: number): Promise<Rate> {
  const covered: Update = { kind: 'update', key: null, window: OPEN_WINDOW, windowStart: 0, windowEnd: 0, metrics: [], version: 0n };
  const decoder = { decode: () => covered } as unknown as Decoder;
  const consumer = new SpeedConsumer({
    kafka, topic, groupId: scope.group(), deadLetterTopic: undefined, decoder, store: new SpeedStore('totals'),
    log: createLogger('warn'), metrics: createMetrics(false), watermark: () => 1,
  });
  try {
    return await pollRate(() => Object.values(consumer.positions()).reduce((a, b) => a + Number(b), 0), total, () => consumer.start());
  } finally {
    await consumer.stop();
  }
}

function cpuMicros(c: NodeJS.CpuUsage): number {
  return c.user + c.system;
}

export async function ingest(o: Options, scope: Scope): Promise<GroupResult> {
  const schema = await scope.schema();
  await createBatchTable(scope.pool, `${schema}.batch_layer`, o.batchKeys);
  const topic = await scope.topic(2);
  const n = o.ingestRecords;
  await produceAll(topic, n, (j) => speedMessage(j % o.speedKeys, o.batchKeys, o.speedKeys, j));

  const bare = await bareConsumer(scope, topic, n);

  // The service reads the same topic under its own group; its positions are polled every 2 ms
  // from before start() (consumption starts after the batch load, inside start()).
  const svc = createService(scope, schema, topic);
  const { rate, records, seconds, cpuUs } = await pollRate(() => svc.consumed(), n, () => svc.service.start());
  const applied = await counterValue(svc.service.metrics.updatesApplied);
  const stale = await counterValue(svc.service.metrics.updatesStale);
  await svc.service.stop();
  // after the service (stopped), so that its stand-in decoder cannot change how V8 compiled the
  // service's consumer loop before the service was measured
  const ceiling = await consumerCeiling(scope, topic, n);
  const size = `${fmtCount(n)} records over ${fmtCount(o.speedKeys)} keys, 2 partitions, batch ${fmtCount(o.batchKeys)} keys loaded`;
  return {
    figures: [figure('ingest: speed updates applied/s', rate, 'updates/s', bare.rate, 'ratio >= 0.8', {
      size,
      note: `baseline: bare kafkajs eachBatch consumer counting the same topic (${Math.round(bare.records)} records in ${bare.seconds.toFixed(2)} s); service: ${records} records in ${seconds.toFixed(2)} s, applied ${applied}, stale ${stale}; CPU of the process per record: service ${cpuUs.toFixed(1)} us, bare ${bare.cpuUs.toFixed(1)} us`,
    }), figure('ingest: the service consumer applying nothing (bound)', ceiling.rate, 'records/s', bare.rate, 'reported', {
      size,
      note: `the service's SpeedConsumer loop with a decoder that returns every record as already in the batch: nothing decoded or stored (${ceiling.records} records in ${ceiling.seconds.toFixed(2)} s, CPU ${ceiling.cpuUs.toFixed(1)} us a record); the gap to the bare consumer is what the loop itself costs, before any record is decoded`,
    })],
    info: { maxIngestRate: rate },
  };
}
