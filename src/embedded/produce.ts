// A producer of Spark-format speed updates to a real Kafka topic, for demos and load
// (`npm run produce -- --rate N`, `lambda-serving produce`). The records are those of the embedded
// generator: the same keys, skew, windows and running totals.
import kafkajs, { type Message } from 'kafkajs';
import type { SpeedMode } from '../config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { kafkaLogCreator } from '../service.js';
import type { View } from '../view.js';
import { SparkUpdates } from './generator.js';

export interface ProducerOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  /** Records per second. */
  readonly rate: number;
  /** Partitions of the topic if it has to be created. */
  readonly partitions: number;
  readonly view: View;
  readonly mode: SpeedMode;
  /** One malformed record in this many (0: none). */
  readonly badEvery: number;
  /** Stop after this long (undefined: until the signal). */
  readonly durationMs?: number;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

const TICK_MS = 100;
const MAX_BATCH = 10_000;
const REPORT_MS = 10_000;

/** Produces until the signal aborts or the duration ends; returns the number of records sent. */
export async function runProducer(o: ProducerOptions): Promise<number> {
  const kafka = new kafkajs.Kafka({
    clientId: 'lambda-serving-producer',
    brokers: [...o.brokers],
    logLevel: kafkajs.logLevel.WARN,
    logCreator: kafkaLogCreator(o.log.child({ component: 'kafkajs' })),
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
  await ensureTopic(kafka, o);
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  const updates = new SparkUpdates({ view: o.view, mode: o.mode, badEvery: o.badEvery });
  const started = Date.now();
  let sent = 0;
  let reported = { at: started, sent: 0 };
  o.log.info({ topic: o.topic, brokers: o.brokers, rate: o.rate, mode: o.mode }, 'producing Spark-format speed updates; Ctrl-C stops');
  try {
    while (!o.signal?.aborted && (o.durationMs === undefined || Date.now() - started < o.durationMs)) {
      // records due by now at the rate, whatever the send latency was
      const due = Math.min(MAX_BATCH, Math.floor((o.rate * (Date.now() - started)) / 1000) - sent);
      if (due > 0) {
        const messages: Message[] = [];
        for (let i = 0; i < due; i++) {
          const r = updates.next();
          messages.push({ key: r.key, value: r.value, timestamp: r.timestamp });
        }
        await producer.send({ topic: o.topic, messages, acks: -1 });
        sent += due;
      }
      const now = Date.now();
      if (now - reported.at >= REPORT_MS) {
        o.log.info({ sent, perSecond: Math.round(((sent - reported.sent) * 1000) / (now - reported.at)) }, 'produced');
        reported = { at: now, sent };
      }
      await sleep(TICK_MS, o.signal);
    }
  } finally {
    await producer.disconnect().catch((err: unknown) => o.log.warn({ err: errorMessage(err) }, 'producer disconnect failed'));
  }
  o.log.info({ sent, seconds: Math.round((Date.now() - started) / 1000) }, 'producer stopped');
  return sent;
}

async function ensureTopic(kafka: kafkajs.Kafka, o: ProducerOptions): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(o.topic)) {
      await admin.createTopics({ topics: [{ topic: o.topic, numPartitions: o.partitions }], waitForLeaders: true });
      o.log.info({ topic: o.topic, partitions: o.partitions }, 'topic created');
    }
  } finally {
    await admin.disconnect();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
