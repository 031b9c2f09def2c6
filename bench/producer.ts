// A load generator in its own process (so it does not share the service's event loop):
//   {"mode":"rate", topic, rate, seconds, batchKeys, speedKeys}: speed updates of random speed keys
//     at `rate` per second for `seconds` (or until SIGTERM), sent every few ms in one batch;
//   {"mode":"all", topic, batchKeys, speedKeys}: each speed row once, as fast as possible.
// Prints {"sent","seconds","rate"} as its last line.
import kafkajs, { type Message } from 'kafkajs';
import { kafka, produceAll, sleep, speedMessage } from './lib.js';

interface Args { mode: 'rate' | 'all'; topic: string; rate: number; seconds: number; batchKeys: number; speedKeys: number }

async function atRate(a: Args): Promise<{ sent: number; seconds: number }> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  let sent = 0;
  let stop = false;
  process.on('SIGTERM', () => { stop = true; });
  const started = performance.now();
  try {
    while (!stop) {
      const elapsed = performance.now() - started;
      if (elapsed >= a.seconds * 1000) break;
      // behind schedule after a slow send: the next batch catches up (bounded)
      const due = Math.min(5000, Math.floor((a.rate * elapsed) / 1000) - sent);
      if (due <= 0) { await sleep(2); continue; }
      const messages: Message[] = [];
      for (let j = 0; j < due; j++) messages.push(speedMessage(Math.floor(Math.random() * a.speedKeys), a.batchKeys, a.speedKeys, sent + j));
      await producer.send({ topic: a.topic, messages, acks: 1 });
      sent += due;
    }
  } finally {
    await producer.disconnect();
  }
  return { sent, seconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2] ?? '{}') as Args;
  const started = performance.now();
  let r: { sent: number; seconds: number };
  if (a.mode === 'all') {
    await produceAll(a.topic, a.speedKeys, (i) => speedMessage(i, a.batchKeys, a.speedKeys));
    r = { sent: a.speedKeys, seconds: (performance.now() - started) / 1000 };
  } else {
    r = await atRate(a);
  }
  process.stdout.write(`${JSON.stringify({ ...r, rate: r.sent / r.seconds })}\n`);
}

await main();
