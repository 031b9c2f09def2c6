import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEMO_KEYS, generateBatch, seededRandom, SparkUpdates, ZipfKeys } from '../../src/embedded/generator.js';
import { createMetrics } from '../../src/metrics.js';
import { applyRecord } from '../../src/speed/apply.js';
import { Decoder, type Key } from '../../src/speed/decode.js';
import { SpeedStore } from '../../src/speed/store.js';
import { TWEET_VIEW } from '../../src/view.js';

const HOUR = 3_600_000;

/** A clock that moves 7 ms per record, from 10:00 UTC: a few hundred records cross no window. */
function clock(start = Date.UTC(2026, 10, 26, 10)) {
  let now = start;
  return () => (now += 7);
}

function storeOf(mode: 'totals' | 'deltas', records: number, seed = 42): SpeedStore {
  const updates = new SparkUpdates({ view: TWEET_VIEW, mode, random: seededRandom(seed), now: clock() });
  const store = new SpeedStore(mode);
  const deps = { decoder: new Decoder(TWEET_VIEW, 1 << 20), store, metrics: createMetrics(false) };
  for (let i = 0; i < records; i++) {
    const outcome = applyRecord(deps, updates.next(), 0, i);
    assert.equal(outcome, 'applied', `record ${i} is a valid update`);
  }
  return store;
}

function sums(store: SpeedStore): Map<Key, string> {
  const out = new Map<Key, string>();
  for (const key of store.keyList()) {
    const total = [0n, 0n, 0n, 0n];
    for (const w of store.windowsOf(key) ?? []) w.metrics.forEach((v, m) => { total[m] = (total[m] as bigint) + v; });
    out.set(key, total.join(','));
  }
  return out;
}

describe('the demo data generator', () => {
  test('generated records decode as Spark updates whose totals and deltas streams agree', () => {
    // the same seed as running totals (replacing) and as increments (adding): the same state
    const totals = storeOf('totals', 3000);
    const deltas = storeOf('deltas', 3000);
    assert.deepEqual(sums(totals), sums(deltas));
    assert.ok(totals.keyCount > 20, `many keys (${totals.keyCount})`);
  });

  test('generated records carry an hour-long window and a record timestamp version', () => {
    const updates = new SparkUpdates({ view: TWEET_VIEW, mode: 'totals', random: seededRandom(1), now: () => Date.UTC(2026, 10, 26, 10, 30) });
    const rec = updates.next();
    const value = JSON.parse(String(rec.value)) as Record<string, unknown>;
    assert.deepEqual(value.window, { start: '2026-11-26T10:00:00.000Z', end: '2026-11-26T11:00:00.000Z' });
    assert.ok('location' in value && 'count(id)' in value && 'sum(followers_count)' in value);
    assert.equal(rec.timestamp, String(Date.UTC(2026, 10, 26, 10, 30)));
    assert.equal(rec.key === null ? null : String(rec.key), value.location, 'the record key is the location');
    const d = new Decoder(TWEET_VIEW, 1 << 20).decode(rec);
    assert.equal(d.kind, 'update');
    if (d.kind === 'update') assert.equal(d.windowEnd - d.windowStart, HOUR);
  });

  test('keys are skewed: the busiest key gets many times the median key, and the NULL key appears', () => {
    const zipf = new ZipfKeys(DEMO_KEYS, seededRandom(7));
    const counts = new Map<Key, number>();
    for (let i = 0; i < 50_000; i++) {
      const k = DEMO_KEYS[zipf.pickIndex()] as Key;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const sorted = [...counts.values()].sort((a, b) => b - a);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    assert.ok((sorted[0] as number) > 20 * median, `top ${sorted[0]} vs median ${median}`);
    assert.ok((counts.get(null) ?? 0) > 1000, 'the NULL location is common');
    assert.equal(counts.get('London'), sorted[0], 'rank 0 is the busiest');
  });

  test('one record in badEvery is malformed and rejected with a reason, the others apply', () => {
    const updates = new SparkUpdates({ view: TWEET_VIEW, mode: 'totals', random: seededRandom(3), now: clock(), badEvery: 10 });
    const decoder = new Decoder(TWEET_VIEW, 1 << 20);
    const reasons: string[] = [];
    for (let i = 0; i < 60; i++) {
      const d = decoder.decode(updates.next());
      if (d.kind === 'rejected') reasons.push(d.reason);
    }
    assert.deepEqual(reasons.sort(), ['bad_json', 'bad_json', 'bad_metric', 'bad_metric', 'missing_key', 'missing_key']);
  });

  test('the generated batch layer has a row per demo key, NULL included, counts following the skew', () => {
    const rows = generateBatch(TWEET_VIEW, { seed: 1, events: 1_000_000 });
    assert.equal(rows.length, DEMO_KEYS.length);
    assert.ok(rows.some(([k]) => k === null));
    const count = (key: Key) => rows.find(([k]) => k === key)?.[1][0] as bigint;
    assert.ok(count('London') > 10n * count('Hyderabad'));
    for (const [, m] of rows) assert.ok(m.every((v) => v >= 0n) && m.length === 4);
    assert.deepEqual(generateBatch(TWEET_VIEW, { seed: 1, events: 1_000_000 }), rows, 'the same seed, the same batch');
  });
});
