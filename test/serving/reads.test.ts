import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchSnapshot } from '../../src/batch/snapshot.js';
import { createMetrics } from '../../src/metrics.js';
import { Doorkeeper, Reads } from '../../src/serving/reads.js';
import { SpeedStore } from '../../src/speed/store.js';
import { TWEET_VIEW, type View } from '../../src/view.js';

function batchOf(rows: Array<[string | null, bigint[]]>, metricCount = 4): BatchSnapshot {
  const b = BatchSnapshot.builder(metricCount);
  for (const [k, m] of rows) b.add(k, m);
  return b.build(undefined);
}

function update(store: SpeedStore, key: string | null, metrics: bigint[], version: bigint): void {
  store.apply({ kind: 'update', key, window: '', windowStart: -Infinity, windowEnd: Infinity, metrics, version }, 0, Number(version));
}

async function cacheCounts(metrics: ReturnType<typeof createMetrics>): Promise<{ hit: number; miss: number }> {
  const { values } = await metrics.cacheRequests.get();
  const of = (r: string) => values.find((v) => v.labels.result === r)?.value ?? 0;
  return { hit: of('hit'), miss: of('miss') };
}

describe('Doorkeeper', () => {
  test('doorkeeper admits a key on its second sighting, not its first', () => {
    const d = new Doorkeeper(100);
    assert.equal(d.admit('a'), false);
    assert.equal(d.admit('b'), false);
    assert.equal(d.admit('a'), true);
    assert.equal(d.admit('b'), true);
  });

  test('doorkeeper forgets keys once its window of remembered keys is full', () => {
    const d = new Doorkeeper(50);
    assert.equal(d.admit('first'), false);
    for (let i = 0; i < 50; i++) d.admit(`other${i}`);
    assert.equal(d.admit('first'), false, 'remembered before the filter was cleared');
  });

  test('doorkeeper lets few keys seen once through (false positives of the filter)', () => {
    const d = new Doorkeeper(1000);
    let passed = 0;
    for (let i = 0; i < 100_000; i++) if (d.admit(`k${i}`)) passed++;
    assert.ok(passed < 10_000, `${passed} of 100000 distinct keys admitted`);
  });
});

describe('Reads', () => {
  const view: View = TWEET_VIEW;

  test('a merged row is batch + speed, serialised with exact int64 digits and escaped keys', () => {
    const store = new SpeedStore('totals');
    const reads = new Reads(view, () => batchOf([['a"b', [9007199254740993n, 1n, 2n, 3n]], [null, [1n, 1n, 1n, 1n]]]), store, createMetrics(false), 10);
    update(store, 'a"b', [1n, 1n, 1n, 1n], 1n);
    assert.equal(reads.get('a"b')?.json, '{"location":"a\\"b","count_id":9007199254740994,"sum_followers_count":2,"sum_favorite_count":3,"sum_retweet_count":4}');
    assert.equal(reads.get(null)?.json, '{"location":null,"count_id":1,"sum_followers_count":1,"sum_favorite_count":1,"sum_retweet_count":1}');
    assert.deepEqual(JSON.parse(reads.explain('a"b') as string).batch, { count_id: 9007199254740993, sum_followers_count: 1, sum_favorite_count: 2, sum_retweet_count: 3 });
    assert.equal(reads.get('missing'), undefined);
  });

  test('a key read once is merged but not cached; read again, it is cached', async () => {
    const metrics = createMetrics(false);
    const reads = new Reads(view, () => batchOf([['a', [1n, 2n, 3n, 4n]]]), new SpeedStore('totals'), metrics, 10);
    reads.get('a');
    assert.equal(reads.cacheSize, 0);
    reads.get('a');
    assert.equal(reads.cacheSize, 1);
    reads.get('a');
    assert.deepEqual(await cacheCounts(metrics), { hit: 1, miss: 2 });
  });

  test('a cached key never answers older than the speed update just applied', () => {
    const store = new SpeedStore('totals');
    const reads = new Reads(view, () => batchOf([['a', [10n, 0n, 0n, 0n]]]), store, createMetrics(false), 10);
    for (let v = 1n; v <= 20n; v++) {
      reads.get('a');
      reads.get('a');
      update(store, 'a', [v, 0n, 0n, 0n], v);
      assert.equal(reads.get('a')?.metrics[0], 10n + v);
    }
    // a key only in the speed layer, NULL included
    for (const k of ['new', null]) {
      assert.equal(reads.get(k), undefined);
      update(store, k, [5n, 0n, 0n, 0n], 100n);
      assert.equal(reads.get(k)?.metrics[0], 5n);
      reads.get(k);
      update(store, k, [6n, 0n, 0n, 0n], 101n);
      assert.equal(reads.get(k)?.metrics[0], 6n);
    }
  });

  test('a cached key answers from the new batch once the batch is replaced', () => {
    let snap = batchOf([['a', [1n, 0n, 0n, 0n]]]);
    const reads = new Reads(view, () => snap, new SpeedStore('totals'), createMetrics(false), 10);
    reads.get('a');
    reads.get('a');
    assert.equal(reads.cacheSize, 1);
    snap = batchOf([['a', [2n, 0n, 0n, 0n]]]);
    reads.batchReplaced();
    assert.equal(reads.get('a')?.metrics[0], 2n);
  });
});
