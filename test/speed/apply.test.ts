import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../src/metrics.js';
import { Applier } from '../../src/speed/apply.js';
import { Decoder, type RawRecord } from '../../src/speed/decode.js';
import { SpeedStore } from '../../src/speed/store.js';
import { TWEET_VIEW } from '../../src/view.js';

const rec = (value: string | null, key: string | null = null, timestamp = '100'): RawRecord =>
  ({ key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value), timestamp });

async function counter(c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, kind?: string): Promise<number> {
  const { values } = await c.get();
  return values.filter((v) => kind === undefined || v.labels.kind === kind).reduce((a, v) => a + v.value, 0);
}

describe('Applier', () => {
  test('applier counts outcomes by kind and adds them to the metrics on publish', async () => {
    const metrics = createMetrics(false);
    const store = new SpeedStore('totals');
    const a = new Applier({ decoder: new Decoder(TWEET_VIEW, 4096), store, metrics, watermark: () => Date.UTC(2026, 0, 2) });
    assert.equal(a.apply(rec('{"location":"x","count(id)":1}', null, '200'), 0, 0), 'applied');
    assert.equal(a.apply(rec('{"location":"x","count(id)":1}', null, '100'), 0, 1), 'stale');
    assert.equal(a.apply(rec('{"location":"y","count(id)":1,"window":{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"}}'), 0, 2), 'covered');
    assert.equal(a.apply(rec(null, 'x', '300'), 0, 3), 'deleted');
    const bad = a.apply(rec('{"count(id)":1}'), 0, 4);
    assert.ok(typeof bad === 'object' && bad.reason === 'missing_key');
    assert.equal(await counter(metrics.updatesApplied), 0, 'nothing is published before publish()');
    a.publish();
    assert.equal(await counter(metrics.updatesApplied, 'update'), 1);
    assert.equal(await counter(metrics.updatesApplied, 'tombstone'), 1);
    assert.equal(await counter(metrics.updatesStale), 1);
    assert.equal(await counter(metrics.updatesCovered), 1);
    a.publish();
    assert.equal(await counter(metrics.updatesApplied, 'update'), 1, 'a count is published once');
    assert.equal((await metrics.speedKeys.get()).values[0]?.value, 0);
  });
});
