import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LsError } from '../../src/errors.js';
import { INT64_MAX, INT64_MIN } from '../../src/int64.js';
import { Decoder, OPEN_WINDOW, type Key, type Metric, type Tombstone, type Update } from '../../src/speed/decode.js';
import { SpeedStore } from '../../src/speed/store.js';
import { TWEET_VIEW } from '../../src/view.js';

const DAY = 86_400_000;

function upd(key: Key, metrics: bigint[], version: bigint, win?: { start: number; end: number }): Update {
  return win === undefined
    ? { kind: 'update', key, window: OPEN_WINDOW, windowStart: -Infinity, windowEnd: Infinity, metrics, version }
    : { kind: 'update', key, window: `${win.start}/${win.end}`, windowStart: win.start, windowEnd: win.end, metrics, version };
}

function tomb(key: Key, version: bigint): Tombstone {
  return { kind: 'tombstone', key, version };
}

function metricsOf(store: SpeedStore, key: Key, window = OPEN_WINDOW): readonly bigint[] | undefined {
  return store.windows(key)?.get(window)?.metrics;
}

describe('SpeedStore in totals mode', () => {
  test('store keeps the newer total when an older one arrives late', () => {
    const s = new SpeedStore('totals');
    assert.equal(s.apply(upd('London', [20n], 200n), 0, 5), 'applied');
    assert.equal(s.apply(upd('London', [10n], 100n), 0, 6), 'stale');
    assert.deepEqual(metricsOf(s, 'London'), [20n]);
  });

  test('store replaces an older total with a newer one in arrival order', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('London', [10n], 100n), 0, 1);
    assert.equal(s.apply(upd('London', [20n], 200n), 0, 2), 'applied');
    assert.deepEqual(metricsOf(s, 'London'), [20n]);
    assert.equal(s.windows('London')?.get(OPEN_WINDOW)?.version, 200n);
  });

  test('store gives a version tie to the later offset, whatever the arrival order', () => {
    const a = new SpeedStore('totals');
    a.apply(upd('k', [1n], 100n), 0, 10);
    assert.equal(a.apply(upd('k', [2n], 100n), 0, 11), 'applied');
    assert.deepEqual(metricsOf(a, 'k'), [2n]);

    const b = new SpeedStore('totals');
    b.apply(upd('k', [2n], 100n), 0, 11);
    assert.equal(b.apply(upd('k', [1n], 100n), 0, 10), 'stale');
    assert.deepEqual(metricsOf(b, 'k'), [2n]);
  });

  test('store reports a redelivered record as stale and leaves the entry alone', () => {
    const s = new SpeedStore('totals');
    const u = upd('k', [7n], 100n);
    assert.equal(s.apply(u, 3, 42), 'applied');
    const gen = s.generation;
    assert.equal(s.apply(u, 3, 42), 'stale');
    assert.equal(s.generation, gen);
    assert.deepEqual(metricsOf(s, 'k'), [7n]);
  });

  test('store keeps the windows of one key as separate entries', () => {
    const s = new SpeedStore('totals');
    const w1 = { start: 0, end: DAY };
    const w2 = { start: DAY, end: 2 * DAY };
    s.apply(upd('k', [1n], 1n, w1), 0, 1);
    s.apply(upd('k', [2n], 1n, w2), 0, 2);
    s.apply(upd('k', [3n], 1n), 0, 3);
    assert.equal(s.windows('k')?.size, 3);
    assert.equal(s.windowCount, 3);
    assert.equal(s.keyCount, 1);
    assert.deepEqual(metricsOf(s, 'k', `0/${DAY}`), [1n]);
    assert.deepEqual(metricsOf(s, 'k', `${DAY}/${2 * DAY}`), [2n]);
    assert.deepEqual(metricsOf(s, 'k'), [3n]);
  });

  test('store keeps the NULL key apart from the string "null"', () => {
    const s = new SpeedStore('totals');
    s.apply(upd(null, [1n], 1n), 0, 1);
    s.apply(upd('null', [2n], 1n), 0, 2);
    assert.deepEqual(metricsOf(s, null), [1n]);
    assert.deepEqual(metricsOf(s, 'null'), [2n]);
  });

  test('store copies the metrics of an update so later changes to the update do not leak in', () => {
    const s = new SpeedStore('totals');
    const u = upd('k', [5n], 1n);
    s.apply(u, 0, 1);
    u.metrics[0] = 99n;
    assert.deepEqual(metricsOf(s, 'k'), [5n]);
  });

  test('store tombstone removes older entries of the key and leaves other keys', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('k', [1n], 10n, { start: 0, end: DAY }), 0, 1);
    s.apply(upd('k', [2n], 20n), 0, 2);
    s.apply(upd('other', [3n], 10n), 0, 3);
    assert.equal(s.tombstone(tomb('k', 30n)), 'applied');
    assert.equal(s.has('k'), false);
    assert.equal(s.windowCount, 1);
    assert.deepEqual(metricsOf(s, 'other'), [3n]);
  });

  test('store tombstone masks an older total that arrives after it', () => {
    const s = new SpeedStore('totals');
    s.tombstone(tomb('k', 30n));
    assert.equal(s.apply(upd('k', [1n], 29n), 0, 5), 'stale');
    assert.equal(s.apply(upd('k', [1n], 30n), 0, 6), 'stale');
    assert.equal(s.has('k'), false);
  });

  test('store tombstone neither removes nor masks newer totals', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('k', [5n], 40n), 0, 1);
    s.apply(upd('k', [1n], 10n, { start: 0, end: DAY }), 0, 2);
    s.tombstone(tomb('k', 30n));
    assert.deepEqual(metricsOf(s, 'k'), [5n], 'the newer total stays');
    assert.equal(s.windows('k')?.has(`0/${DAY}`), false, 'the older window goes');
    assert.equal(s.apply(upd('k', [8n], 31n, { start: 0, end: DAY }), 0, 3), 'applied');
    assert.deepEqual(metricsOf(s, 'k', `0/${DAY}`), [8n]);
  });

  test('store tombstone of an unknown key is stale but still masks older totals', () => {
    const s = new SpeedStore('totals');
    assert.equal(s.tombstone(tomb('ghost', 50n)), 'stale');
    assert.equal(s.apply(upd('ghost', [1n], 49n), 0, 1), 'stale');
    assert.equal(s.apply(upd('ghost', [1n], 51n), 0, 2), 'applied');
  });

  test('a tombstone does not make later updates stale when versions come from a message field', () => {
    // With VIEW_CONFIG versionField (e.g. a sequence number), updates are ordered by that field
    // while a tombstone's version is the Kafka record timestamp (milliseconds since 1970).
    const decoder = new Decoder({ ...TWEET_VIEW, versionField: 'seq' }, 4096);
    const s = new SpeedStore('totals');
    const first = decoder.decode({ key: null, value: Buffer.from('{"location":"k","count(id)":1,"seq":1}'), timestamp: '1764115200000' });
    const del = decoder.decode({ key: Buffer.from('k'), value: null, timestamp: '1764115201000' });
    const later = decoder.decode({ key: null, value: Buffer.from('{"location":"k","count(id)":7,"seq":2}'), timestamp: '1764115202000' });
    assert.ok(first.kind === 'update' && del.kind === 'tombstone' && later.kind === 'update');
    s.apply(first, 0, 0);
    s.tombstone(del);
    assert.equal(s.has('k'), false);
    assert.equal(s.apply(later, 0, 2), 'applied', 'an update written after the tombstone must not be masked forever');
    assert.deepEqual(metricsOf(s, 'k'), [7n, 0n, 0n, 0n]);
  });
});

describe('SpeedStore in deltas mode', () => {
  test('store adds increments in deltas mode', () => {
    const s = new SpeedStore('deltas');
    s.apply(upd('k', [1n, 10n], 1n), 0, 1);
    s.apply(upd('k', [2n, -3n], 2n), 0, 2);
    s.apply(upd('k', [4n, 0n], 1n), 1, 7);
    assert.deepEqual(metricsOf(s, 'k'), [7n, 7n]);
    const e = s.windows('k')?.get(OPEN_WINDOW);
    assert.equal(e?.version, 2n, 'the entry keeps the highest version');
    assert.equal(e?.partition, 1);
    assert.equal(e?.offset, 7);
  });

  test('store in deltas mode keeps windows apart', () => {
    const s = new SpeedStore('deltas');
    s.apply(upd('k', [1n], 1n, { start: 0, end: DAY }), 0, 1);
    s.apply(upd('k', [2n], 1n), 0, 2);
    s.apply(upd('k', [3n], 1n, { start: 0, end: DAY }), 0, 3);
    assert.deepEqual(metricsOf(s, 'k', `0/${DAY}`), [4n]);
    assert.deepEqual(metricsOf(s, 'k'), [2n]);
  });

  test('store tombstone in deltas mode removes every entry of the key', () => {
    const s = new SpeedStore('deltas');
    s.apply(upd('k', [1n], 100n), 0, 1);
    s.apply(upd('k', [1n], 100n, { start: 0, end: DAY }), 0, 2);
    assert.equal(s.tombstone(tomb('k', 1n)), 'applied');
    assert.equal(s.has('k'), false);
    assert.equal(s.windowCount, 0);
  });

  test('store throws LS_INT64_OVERFLOW on an overflowing delta and leaves the entry unchanged', () => {
    const s = new SpeedStore('deltas');
    s.apply(upd('k', [1n, INT64_MAX], 1n), 0, 1);
    assert.throws(() => s.apply(upd('k', [1n, 1n], 2n), 0, 2), (err: unknown) => err instanceof LsError && err.code === 'LS_INT64_OVERFLOW');
    // The update was refused as a whole: no metric of it may have been added (a retry of the
    // batch would otherwise add the first metric again).
    assert.deepEqual(metricsOf(s, 'k'), [1n, INT64_MAX]);
  });
});

describe('SpeedStore eviction and partitions', () => {
  test('store evicts windows that end at or before the watermark and keeps the rest', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('a', [1n], 1n, { start: 0, end: DAY }), 0, 1);
    s.apply(upd('a', [2n], 1n, { start: DAY, end: 2 * DAY }), 0, 2);
    s.apply(upd('a', [3n], 1n), 0, 3);
    s.apply(upd('b', [4n], 1n, { start: 0, end: DAY }), 0, 4);
    s.apply(upd(null, [5n], 1n, { start: DAY / 2, end: DAY + DAY / 2 }), 0, 5);
    assert.equal(s.evictBefore(DAY), 2);
    assert.equal(s.windowCount, 3);
    assert.equal(s.has('b'), false, 'a key whose windows are all evicted is gone');
    assert.deepEqual([...(s.windows('a')?.keys() ?? [])].sort(), [OPEN_WINDOW, `${DAY}/${2 * DAY}`].sort());
    assert.ok(s.has(null), 'a window straddling the watermark stays');
  });

  test('store never evicts the open window', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('k', [1n], 1n), 0, 1);
    assert.equal(s.evictBefore(Number.MAX_SAFE_INTEGER), 0);
    assert.deepEqual(metricsOf(s, 'k'), [1n]);
  });

  test('store drops the entries last written from revoked partitions', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('a', [1n], 1n), 0, 1);
    s.apply(upd('b', [2n], 1n), 1, 1);
    s.apply(upd('c', [3n], 1n, { start: 0, end: DAY }), 2, 1);
    s.apply(upd('c', [4n], 1n), 1, 2);
    assert.equal(s.dropPartitions(new Set([1])), 2);
    assert.equal(s.has('a'), true);
    assert.equal(s.has('b'), false);
    assert.equal(s.windows('c')?.size, 1);
    assert.deepEqual(metricsOf(s, 'c', `0/${DAY}`), [3n]);
    assert.equal(s.windowCount, 2);
  });

  test('store clear empties the store and forgets tombstones', () => {
    const s = new SpeedStore('totals');
    s.tombstone(tomb('k', 100n));
    s.apply(upd('j', [1n], 1n), 0, 1);
    s.clear();
    assert.equal(s.keyCount, 0);
    assert.equal(s.windowCount, 0);
    assert.equal(s.apply(upd('k', [1n], 50n), 0, 2), 'applied');
  });
});

describe('SpeedStore change notifications', () => {
  test('store tells its listeners which key changed', () => {
    const s = new SpeedStore('totals');
    const seen: Key[] = [];
    s.onChange((k) => seen.push(k));
    s.apply(upd('a', [1n], 1n), 0, 1);
    s.apply(upd(null, [1n], 1n), 0, 2);
    s.apply(upd('a', [0n], 0n), 0, 3); // stale: no notification
    s.tombstone(tomb('a', 5n));
    s.apply(upd('e', [1n], 1n, { start: 0, end: DAY }), 0, 4);
    s.evictBefore(DAY); // evicts 'e'
    assert.deepEqual(seen, ['a', null, 'a', 'e', 'e']);
  });

  test('store bumps its generation on every change and only then', () => {
    const s = new SpeedStore('totals');
    const g0 = s.generation;
    s.apply(upd('a', [1n], 2n), 0, 1);
    const g1 = s.generation;
    assert.ok(g1 > g0);
    s.apply(upd('a', [1n], 1n), 0, 2);
    assert.equal(s.generation, g1);
  });
});

describe('SpeedStore entries updated in place', () => {
  test('a cut lists the entries of one key next to each other, whatever order they arrived in', () => {
    const s = new SpeedStore('totals');
    const w = (d: number) => ({ start: d * DAY, end: (d + 1) * DAY });
    s.apply(upd('a', [1n, 0n], 1n, w(0)), 0, 1);
    s.apply(upd('b', [1n, 0n], 1n, w(0)), 0, 2);
    s.apply(upd('a', [1n, 0n], 1n, w(1)), 0, 3);
    s.apply(upd(null, [1n, 0n], 1n), 0, 4);
    s.apply(upd('b', [1n, 0n], 1n, w(2)), 0, 5);
    s.apply(upd('a', [1n, 0n], 1n), 0, 6);
    const keys = s.cut().entries.map((e) => e.key);
    assert.equal(keys.length, 6);
    const runs = keys.filter((k, i) => i === 0 || keys[i - 1] !== k);
    assert.equal(new Set(runs).size, runs.length, `keys in runs: ${JSON.stringify(keys)}`);
  });

  test('a cut taken before an update is unaffected by it', () => {
    for (const mode of ['totals', 'deltas'] as const) {
      const s = new SpeedStore(mode);
      s.apply(upd('k', [1n, 2n], 10n), 0, 1);
      s.tombstone(tomb('gone', 5n));
      const cut = s.cut();
      s.apply(upd('k', [7n, 8n], 20n), 1, 2);
      s.apply(upd('new', [3n, 3n], 20n), 1, 3);
      assert.equal(cut.entries.length, 1, mode);
      const e = cut.entries[0];
      assert.deepEqual([e?.metrics, e?.version, e?.partition, e?.offset], [[1n, 2n], 10n, 0, 1], mode);
      assert.deepEqual(metricsOf(s, 'k'), mode === 'totals' ? [7n, 8n] : [8n, 10n], mode);
    }
  });

  test('a cut is not changed by a later tombstone, eviction or partition drop', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('k', [1n], 10n, { start: 0, end: DAY }), 0, 1);
    const cut = s.cut();
    s.evictBefore(DAY);
    s.apply(upd('k', [2n], 11n, { start: 0, end: DAY }), 0, 2);
    s.dropPartitions(new Set([0]));
    assert.deepEqual(cut.entries.map((e) => [e.key, e.metrics, e.version]), [['k', [1n], 10n]]);
  });

  test('store keeps an entry restored from a checkpoint apart from the object it was given', () => {
    const s = new SpeedStore('deltas');
    const saved = { key: 'k', window: OPEN_WINDOW, start: -Infinity, end: Infinity, metrics: [5n], version: 1n, partition: 0, offset: 9 };
    s.restore(saved);
    s.apply(upd('k', [1n], 2n), 0, 10);
    assert.deepEqual(saved.metrics, [5n]);
    assert.equal(saved.offset, 9);
    assert.deepEqual(metricsOf(s, 'k'), [6n]);
  });

  test('an entry read before an update shows the update: readers use entries synchronously', () => {
    const s = new SpeedStore('totals');
    s.apply(upd('k', [1n], 1n), 0, 1);
    const e = s.windows('k')?.get(OPEN_WINDOW);
    s.apply(upd('k', [2n], 2n), 0, 2);
    assert.equal(e, s.windows('k')?.get(OPEN_WINDOW), 'updated in place, not replaced');
    assert.deepEqual(e?.metrics, [2n]);
  });

  test('an overflowing delta leaves the entry and a previous cut unchanged', () => {
    const s = new SpeedStore('deltas');
    s.apply(upd('k', [1n, INT64_MAX - 1n, 3n], 1n), 0, 1);
    const cut = s.cut();
    assert.throws(() => s.apply(upd('k', [5n, 2n, 1n], 2n), 0, 2), (err: unknown) => err instanceof LsError && err.code === 'LS_INT64_OVERFLOW' && /speed k = /.test(err.message));
    assert.deepEqual(metricsOf(s, 'k'), [1n, INT64_MAX - 1n, 3n]);
    assert.equal(s.windows('k')?.get(OPEN_WINDOW)?.offset, 1);
    assert.deepEqual(cut.entries[0]?.metrics, [1n, INT64_MAX - 1n, 3n]);
  });
});

describe('SpeedStore metrics as numbers and BigInts', () => {
  // A metric is held as a JS number while it is a safe integer and as a BigInt beyond 2^53; the
  // values read back must be the exact int64 arithmetic either way, whichever form they came in.
  const SAFE = 2n ** 53n - 1n;
  const value = fc.oneof(
    fc.bigInt({ min: -1000n, max: 1000n }),
    fc.constantFrom(SAFE, SAFE - 1n, SAFE + 1n, SAFE + 2n, -SAFE, -SAFE - 1n, -SAFE - 2n, 2n ** 62n, -(2n ** 62n), INT64_MAX, INT64_MIN, INT64_MAX - 5n),
    fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  );
  /** As a decoder hands it over: a number when safe (the scanner's form) or a BigInt. */
  const asGiven = (v: bigint, asNumber: boolean): Metric => (asNumber && v >= -SAFE && v <= SAFE ? Number(v) : v);
  const ops = fc.array(fc.record({ m: fc.array(value, { minLength: 2, maxLength: 2 }), asNumber: fc.boolean() }), { minLength: 1, maxLength: 30 });

  test('deltas: sums of numbers that leave the safe range are exact', () => {
    const s = new SpeedStore('deltas');
    s.apply(upd('k', [Number(SAFE), -Number(SAFE)] as unknown as bigint[], 1n), 0, 1);
    s.apply(upd('k', [3, -3] as unknown as bigint[], 2n), 0, 2);
    assert.deepEqual(metricsOf(s, 'k'), [SAFE + 3n, -SAFE - 3n]);
    s.apply(upd('k', [-4, 5] as unknown as bigint[], 3n), 0, 3);
    assert.deepEqual(metricsOf(s, 'k'), [SAFE - 1n, -SAFE + 2n]);
  });

  test('deltas: every sum is exact across 2^53 in both directions; an int64 overflow changes nothing', () => {
    fc.assert(fc.property(ops, (list) => {
      const s = new SpeedStore('deltas');
      let model: bigint[] | undefined;
      list.forEach(({ m, asNumber }, i) => {
        const u = upd('k', m.map((v) => asGiven(v, asNumber)) as bigint[], BigInt(i));
        const sums = model?.map((v, j) => v + (m[j] as bigint)) ?? m.slice();
        if (sums.some((v) => v > INT64_MAX || v < INT64_MIN)) {
          assert.throws(() => s.apply(u, 0, i), (err: unknown) => err instanceof LsError && err.code === 'LS_INT64_OVERFLOW');
        } else {
          assert.equal(s.apply(u, 0, i), 'applied');
          model = sums;
        }
        assert.deepEqual(metricsOf(s, 'k'), model);
      });
      assert.deepEqual(s.cut().entries[0]?.metrics, model);
    }), { numRuns: 500 });
  });

  test('totals: the newest total is held exactly, whichever form it came in and whatever form the last one had', () => {
    fc.assert(fc.property(ops, (list) => {
      const s = new SpeedStore('totals');
      list.forEach(({ m, asNumber }, i) => {
        assert.equal(s.apply(upd('k', m.map((v) => asGiven(v, asNumber)) as bigint[], BigInt(i)), 0, i), 'applied');
        assert.deepEqual(metricsOf(s, 'k'), m);
      });
    }));
  });
});

describe('SpeedStore cuts (copy on write)', () => {
  const show = (entries: readonly { key: Key; window: string; metrics: readonly bigint[]; version: bigint; partition: number; offset: number }[]) =>
    entries.map((e) => `${e.key}|${e.window}|${e.metrics.join(',')}|${e.version}|${e.partition}|${e.offset}`);
  const op = fc.oneof(
    fc.record({ kind: fc.constant('update' as const), key: fc.constantFrom('a', 'b', 'c'), w: fc.integer({ min: 0, max: 2 }), m: fc.integer({ min: -5, max: 5 }), version: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant('restore' as const), key: fc.constantFrom('a', 'b'), w: fc.integer({ min: 0, max: 2 }), m: fc.integer({ min: -5, max: 5 }) }),
    fc.record({ kind: fc.constant('tombstone' as const), key: fc.constantFrom('a', 'b', 'c'), version: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant('evict' as const), at: fc.integer({ min: 0, max: 3 }) }),
    fc.constant({ kind: 'cut' as const }),
  );

  test('every cut keeps what the store held when it was taken, through later updates, restores, removals and cuts', () => {
    for (const mode of ['totals', 'deltas'] as const) {
      fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const s = new SpeedStore(mode);
        const cuts: Array<{ cut: ReturnType<SpeedStore['cut']>; then: string[] }> = [];
        ops.forEach((o, i) => {
          const win = (w: number) => (w === 0 ? undefined : { start: w * DAY, end: (w + 1) * DAY });
          if (o.kind === 'update') s.apply(upd(o.key, [BigInt(o.m)], BigInt(o.version), win(o.w)), 0, i);
          else if (o.kind === 'restore') {
            const w = win(o.w);
            s.restore({ key: o.key, window: w === undefined ? OPEN_WINDOW : `${w.start}/${w.end}`, start: w?.start ?? -Infinity, end: w?.end ?? Infinity, metrics: [BigInt(o.m)], version: 1n, partition: 1, offset: i });
          } else if (o.kind === 'tombstone') s.tombstone(tomb(o.key, BigInt(o.version)));
          else if (o.kind === 'evict') s.evictBefore(o.at * DAY);
          else { const cut = s.cut(); cuts.push({ cut, then: show(cut.entries) }); }
        });
        for (const c of cuts) assert.deepEqual(show(c.cut.entries), c.then);
        // and the store itself is what a fresh cut shows
        const now = s.cut();
        assert.equal(now.entries.length, s.windowCount);
      }));
    }
  });
});
