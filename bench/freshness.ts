// Freshness at half load: a producer (own process) writes half the service's max ingest rate of
// random speed updates; meanwhile probes are produced one at a time (key probe-<i>, count i+1)
// and timed from just before send() until:
//   baseline: the bare kafkajs eachBatch consumer (same settings as the service's) receives it;
//   service:  GET /v1/counts/probe-<i> answers the new value. A GET is sent as soon as the store
//             reports a change of that key, and every 10 ms besides; the first HTTP answer that
//             shows the value ends the probe.
// Each phase has its own topic and group; the service phase also has the batch loaded.
import kafkajs, { type Producer } from 'kafkajs';
import type { GroupResult } from './figure.js';
import { createBatchTable, figure, fmtCount, kafka, later, percentile, sleep, spawnScript, speedJson, waitFor, withTimeout, type Options, type Scope } from './lib.js';
import { startService } from './svc.js';

interface Phase { latencies: number[]; produced: number }

async function probeProducer(): Promise<Producer> {
  const p = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await p.connect();
  return p;
}

/** Runs the background load, waits until `flowing()` says its records arrive, then probes for
 * `seconds`; `visible` waits for one probe. */
async function underLoad(o: Options, topic: string, rate: number, seconds: number, flowing: () => boolean, visible: (key: string, count: number) => Promise<void>): Promise<Phase> {
  const producer = await probeProducer();
  const load = spawnScript<{ sent: number; rate: number }>('producer.ts', { mode: 'rate', topic, rate, seconds: 600, batchKeys: o.batchKeys, speedKeys: o.speedKeys });
  later(load.result);
  const latencies: number[] = [];
  try {
    await waitFor(flowing, 60_000, 'the load to arrive', 20);
    await sleep(500);
    const end = performance.now() + seconds * 1000;
    for (let i = 0; performance.now() < end; i++) {
      const key = `probe-${i}`;
      const seen = visible(key, i + 1);
      const t0 = performance.now();
      await producer.send({ topic, messages: [{ key, value: speedJson(key, [i + 1, 0, 0, 0]) }], acks: 1 });
      await withTimeout(seen, 30_000, `probe ${key}`);
      latencies.push(performance.now() - t0);
      await sleep(20);
    }
  } finally {
    load.stop();
    await producer.disconnect();
  }
  const produced = await load.result;
  return { latencies, produced: produced.rate };
}

async function bare(o: Options, scope: Scope, rate: number, seconds: number): Promise<Phase> {
  const topic = await scope.topic(2);
  const consumer = kafka.consumer({ groupId: scope.group(), sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const joined = new Promise<void>((r) => consumer.on(consumer.events.GROUP_JOIN, () => r()));
    let waiting: { key: string; resolve: () => void } | undefined;
    let count = 0;
    void later(consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch }) => {
        count += batch.messages.length;
        if (!waiting) return;
        for (const m of batch.messages) {
          if (m.key?.[0] === 0x70 /* p */ && m.key.toString() === waiting.key) { waiting.resolve(); waiting = undefined; break; }
        }
      },
    }));
    await joined;
    const phase = await underLoad(o, topic, rate, seconds, () => count > rate / 4, (key) => new Promise<void>((resolve) => { waiting = { key, resolve }; }));
    if (count === 0) throw new Error('bare consumer received nothing');
    return phase;
  } finally {
    await consumer.disconnect();
  }
}

async function service(o: Options, scope: Scope, rate: number, seconds: number): Promise<Phase> {
  const schema = await scope.schema();
  await createBatchTable(scope.pool, `${schema}.batch_layer`, o.batchKeys);
  const topic = await scope.topic(2);
  const svc = await startService(scope, schema, topic);
  let changed: { key: string; signal: () => void } | undefined;
  svc.service.store.onChange((key) => { if (changed && key === changed.key) changed.signal(); });
  const visible = async (key: string, count: number) => {
    const want = `"count_id":${count},`;
    for (;;) {
      const signal = new Promise<void>((r) => { changed = { key, signal: r }; });
      const res = await fetch(`${svc.url}/v1/counts/${key}`);
      const text = await res.text();
      if (res.status === 200 && text.includes(want)) { changed = undefined; return; }
      await Promise.race([signal, sleep(10)]);
    }
  };
  return underLoad(o, topic, rate, seconds, () => svc.consumed() > rate / 4, visible);
}

export async function freshness(o: Options, scope: Scope): Promise<GroupResult> {
  const rate = o.maxIngestRate === undefined ? 20_000 : Math.round(o.maxIngestRate / 2);
  const seconds = o.quick ? 6 : 20;
  const base = await bare(o, scope, rate, seconds);
  const mine = await service(o, scope, rate, seconds);
  const p = (ph: Phase, q: number) => percentile(ph.latencies, q);
  const size = `${mine.latencies.length} / ${base.latencies.length} probes under ${fmtCount(rate)} updates/s (half the max ingest rate${o.maxIngestRate === undefined ? ': not measured, 20k assumed' : ''})`;
  const note = `producer achieved ${Math.round(mine.produced)}/s (service phase), ${Math.round(base.produced)}/s (baseline phase); max: service ${p(mine, 100).toFixed(1)} ms, bare ${p(base, 100).toFixed(1)} ms`;
  return {
    figures: [
      figure('freshness p50: produce -> visible over HTTP, at half load', p(mine, 50), 'ms', p(base, 50), 'reported', { size, note: 'baseline: produce -> received by the bare consumer' }),
      figure('freshness p99: produce -> visible over HTTP, at half load', p(mine, 99), 'ms', p(base, 99), 'ratio <= 2', { size, note }),
    ],
  };
}
