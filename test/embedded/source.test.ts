import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { seededRandom, SparkUpdates } from '../../src/embedded/generator.js';
import { GeneratorSource } from '../../src/embedded/source.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { Decoder } from '../../src/speed/decode.js';
import { SpeedStore } from '../../src/speed/store.js';
import { TWEET_VIEW } from '../../src/view.js';
import { sparkJson, waitFor } from '../helpers/harness.js';

function source(t: { after(fn: () => unknown): void }, rate: number, badEvery = 0) {
  const store = new SpeedStore('totals');
  const metrics = createMetrics(false);
  const src = new GeneratorSource({
    decoder: new Decoder(TWEET_VIEW, 1 << 20), store, metrics, log: createLogger('silent'),
    restore: async () => new Map(), watermark: () => undefined,
    updates: new SparkUpdates({ view: TWEET_VIEW, mode: 'totals', random: seededRandom(5), badEvery }),
    rate, tickMs: 20,
  });
  t.after(() => src.stop());
  return { src, store, metrics };
}

const position = (src: GeneratorSource) => Number(src.positions()['0']);

describe('the in-process speed source', () => {
  test('the generator source applies generated records to the store at about its rate, and nothing after stop', async (t) => {
    const { src, store, metrics } = source(t, 2000, 100);
    await src.start();
    assert.deepEqual(src.status().assigned, [0]);
    assert.equal(src.status().caughtUp, true);
    await waitFor(() => position(src) >= 600, 10_000, () => `position ${position(src)}`);
    assert.ok(store.keyCount > 20);
    const rejected = (await metrics.updatesRejected.get()).values.reduce((a, v) => a + v.value, 0);
    assert.ok(rejected >= 5, `about one in 100 rejected (${rejected})`);
    await src.stop();
    const stoppedAt = position(src);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(position(src), stoppedAt);
    assert.equal(src.status().running, false);
  });

  test('appended records are applied in offset order through the decoder, rejections counted by reason', async (t) => {
    const { src, store, metrics } = source(t, 0);
    await src.start();
    const rec = (json: string | null, key: string | null = null) => ({ key: key === null ? null : Buffer.from(key), value: json === null ? null : Buffer.from(json), timestamp: String(Date.now()) });
    src.append([
      rec(sparkJson({ location: 'Oslo', count: 5 })),
      rec('{"location":"Oslo","count(id)":'),
      rec(sparkJson({ location: 'Oslo', count: 7 })),
      rec(sparkJson({ location: null, count: 2 })),
      rec(null, 'Oslo'),
    ]);
    await waitFor(() => position(src) === 5);
    assert.equal(store.has('Oslo'), false, 'the tombstone removed Oslo');
    assert.equal(store.windows(null)?.values().next().value?.metrics[0], 2n);
    const rejected = (await metrics.updatesRejected.get()).values;
    assert.deepEqual(rejected.map((v) => [v.labels.reason, v.value]), [['bad_json', 1]]);
  });

  test('the generator source reports as lag what is appended but not applied yet', async (t) => {
    const { src } = source(t, 0);
    await src.start();
    const updates = new SparkUpdates({ view: TWEET_VIEW, mode: 'totals', random: seededRandom(9) });
    src.append(Array.from({ length: 20_000 }, () => updates.next()));
    assert.equal(src.status().lag['0'], '20000', 'nothing applied before the event loop turns');
    await waitFor(() => src.status().lag['0'] === '0');
    assert.equal(position(src), 20_000);
  });
});
