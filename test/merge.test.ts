import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LsError } from '../src/errors.js';
import { INT64_MAX, INT64_MIN } from '../src/int64.js';
import { BatchSnapshot } from '../src/batch/snapshot.js';
import { rowOrder, SpeedPartSummer, mergeAll, mergeRow, MergePlanner, planMerge, speedPart, windowFate, type MergeStats, type RowMemo, type SpeedValues, type SpeedWindow } from '../src/merge.js';
import { OPEN_WINDOW, type Key, type Tombstone, type Update } from '../src/speed/decode.js';
import { SpeedStore, type Mode } from '../src/speed/store.js';

const DAY = 86_400_000;
const isOverflow = (err: unknown): boolean => err instanceof LsError && err.code === 'LS_INT64_OVERFLOW';

function win(start: number, end: number, metrics: bigint[]): SpeedWindow {
  return { window: `${start}/${end}`, start, end, metrics };
}

function open(metrics: bigint[]): SpeedWindow {
  return { window: OPEN_WINDOW, start: -Infinity, end: Infinity, metrics };
}

describe('windowFate', () => {
  test('windowFate adds every window when there is no watermark', () => {
    assert.equal(windowFate({ start: 0, end: DAY }, undefined), 'added');
    assert.equal(windowFate({ start: -Infinity, end: Infinity }, undefined), 'added');
  });

  test('windowFate calls a window that ends at or before the watermark covered', () => {
    assert.equal(windowFate({ start: 0, end: DAY }, DAY), 'covered');
    assert.equal(windowFate({ start: 0, end: DAY }, 2 * DAY), 'covered');
  });

  test('windowFate adds a window that starts at or after the watermark', () => {
    assert.equal(windowFate({ start: DAY, end: 2 * DAY }, DAY), 'added');
    assert.equal(windowFate({ start: 3 * DAY, end: 4 * DAY }, DAY), 'added');
  });

  test('windowFate calls a window that contains the watermark straddling', () => {
    assert.equal(windowFate({ start: 0, end: 2 * DAY }, DAY), 'straddling');
    assert.equal(windowFate({ start: 0, end: DAY + 1 }, DAY), 'straddling');
  });

  test('windowFate adds the open window even when the batch has a watermark', () => {
    // DESIGN.md: merged(k) = batch(k) + speed windows with start >= W "(plus the open window)".
    assert.equal(windowFate({ start: -Infinity, end: Infinity }, DAY), 'added');
  });
});

describe('speedPart', () => {
  test('speedPart sums every window when there is no watermark', () => {
    const s = speedPart([win(0, DAY, [1n, 2n]), win(DAY, 2 * DAY, [10n, 20n]), open([100n, 200n])], 2, undefined);
    assert.deepEqual(s, [111n, 222n]);
  });

  test('speedPart skips covered windows and counts straddling ones without adding them', () => {
    const stats: MergeStats = { straddling: 0 };
    const s = speedPart([win(0, DAY, [1n]), win(DAY / 2, DAY + DAY / 2, [10n]), win(DAY, 2 * DAY, [100n])], 1, DAY, stats);
    assert.deepEqual(s, [100n]);
    assert.equal(stats.straddling, 1);
  });

  test('speedPart returns undefined when no window counts', () => {
    assert.equal(speedPart([], 2, undefined), undefined);
    assert.equal(speedPart([win(0, DAY, [1n, 1n])], 2, DAY), undefined);
  });

  test('speedPart keeps sums above 2^53 exact', () => {
    assert.deepEqual(speedPart([win(0, 1, [2n ** 53n]), win(1, 2, [1n])], 1, undefined), [2n ** 53n + 1n]);
  });

  test('speedPart throws LS_INT64_OVERFLOW when windows sum past int64', () => {
    assert.throws(() => speedPart([win(0, 1, [INT64_MAX]), win(1, 2, [1n])], 1, undefined), isOverflow);
  });
});

describe('mergeRow', () => {
  test('mergeRow returns a copy of the batch row for a key only in the batch', () => {
    const batch = [1n, 2n];
    const m = mergeRow(batch, undefined, 'k');
    assert.deepEqual(m, [1n, 2n]);
    assert.notEqual(m, batch);
  });

  test('mergeRow returns a copy of the speed part for a key only in the speed layer', () => {
    const speed = [3n, 4n];
    const m = mergeRow(undefined, speed, null);
    assert.deepEqual(m, [3n, 4n]);
    assert.notEqual(m, speed);
  });

  test('mergeRow adds the batch row and the speed part for a key in both', () => {
    assert.deepEqual(mergeRow([1n, -2n, 9007199254740993n], [10n, 20n, 1n], 'k'), [11n, 18n, 9007199254740994n]);
  });

  test('mergeRow returns undefined for a key in neither', () => {
    assert.equal(mergeRow(undefined, undefined, 'k'), undefined);
  });

  test('mergeRow throws LS_INT64_OVERFLOW instead of wrapping', () => {
    assert.throws(() => mergeRow([INT64_MAX], [1n], 'k'), isOverflow);
    assert.throws(() => mergeRow([INT64_MIN], [-1n], null), isOverflow);
  });
});

describe('mergeAll', () => {
  test('mergeAll yields batch keys with their speed part, then speed-only keys, the NULL key included', () => {
    const b = BatchSnapshot.builder(1);
    b.add('a', [1n]);
    b.add(null, [2n]);
    b.add('b', [3n]);
    const speed = new Map<Key, bigint[]>([['b', [5n]], [null, [10n]], ['c', [20n]]]);
    const plan = planMerge(b.build(undefined), speed);
    assert.equal(plan.rows, 4);
    const out = [...mergeAll(plan)].map((r) => [r.key, r.metrics]);
    assert.deepEqual(out, [['a', [1n]], [null, [12n]], ['b', [8n]], ['c', [20n]]]);
  });

  test('the plan lists patched rows in row order, and two speed parts of one batch key both count', () => {
    const b = BatchSnapshot.builder(1);
    for (let i = 0; i < 50; i++) b.add(`k${i}`, [BigInt(i)]);
    const p = new MergePlanner(b.build(undefined));
    for (const i of [40, 3, 17, 0, 49]) p.add(`k${i}`, [1000]);
    p.add('k17', [2n ** 60n]); // a second part for k17 (numbers and BigInts mix)
    p.add('new', [5]);
    const plan = p.plan();
    assert.deepEqual([...plan.patched], [0, 3, 17, 40, 49]);
    const merged = new Map([...mergeAll(plan)].map((r) => [r.key, r.metrics[0]]));
    assert.equal(merged.get('k17'), 17n + 1000n + 2n ** 60n);
    assert.equal(merged.get('k40'), 1040n);
    assert.equal(merged.get('k5'), 5n);
    assert.equal(merged.get('new'), 5n);
    assert.equal(plan.rows, 51);
  });

  test('rowOrder sorts row numbers up to 2^31, packed or with a comparator, stably for equal rows', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.nat(20), fc.integer({ min: 0, max: 2 ** 31 - 1 })), { maxLength: 200 }), (rows) => {
      const expected = rows.map((r, i) => [r, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([r]) => r);
      const packed = [...rowOrder(rows)];
      assert.deepEqual(packed.map((i) => rows[i]), expected);
      assert.deepEqual([...packed].sort((a, b) => a - b), rows.map((_, i) => i), 'every index once');
      const compared = [...rowOrder(rows, 4)]; // more than 4 rows: the comparator path
      assert.deepEqual(compared.map((i) => rows[i]), expected);
    }), { numRuns: 300 });
  });

  test('a merged value beyond int64 is refused (LS_INT64_OVERFLOW, naming the key), not wrapped', () => {
    const b = BatchSnapshot.builder(1);
    b.add('x', [1n]);
    b.add('a', [INT64_MAX]);
    const plan = planMerge(b.build(undefined), new Map([['a', [1n]]]));
    assert.throws(() => [...mergeAll(plan)], (err: Error) => isOverflow(err) && /merge of key a/.test(err.message));
  });
});

describe('MergePlanner row memos', () => {
  /** The batch, counting its key lookups. */
  function counted(batch: BatchSnapshot): { batch: BatchSnapshot; lookups: () => number } {
    let n = 0;
    const wrapped = Object.create(batch) as BatchSnapshot;
    wrapped.indexOf = (key: Key) => { n++; return batch.indexOf(key); };
    return { batch: wrapped, lookups: () => n };
  }
  const build = (keys: Key[]) => {
    const b = BatchSnapshot.builder(1);
    keys.forEach((k, i) => b.add(k, [BigInt(i)]));
    return b.build(undefined);
  };

  test('a key planned against a snapshot before is not looked up again in it, and the plan is the same', () => {
    const speed: Array<[Key, bigint[]]> = [['b', [1n]], ['zz', [2n]], [null, [3n]], ['d', [4n]]];
    const memos: RowMemo[] = speed.map(() => ({ memoBatch: -1, memoRow: -1 }));
    const { batch, lookups } = counted(build(['a', 'b', null, 'c', 'd']));
    const plan = (ms?: RowMemo[]) => {
      const p = new MergePlanner(batch);
      speed.forEach(([k, s], i) => p.add(k, s, ms?.[i]));
      return [...mergeAll(p.plan())].map((r) => `${r.key}=${r.metrics.join(',')}`);
    };
    const expected = plan();
    assert.equal(lookups(), 4);
    assert.deepEqual(plan(memos), expected);
    assert.equal(lookups(), 8, 'the first plan with memos looks every key up');
    assert.deepEqual(plan(memos), expected);
    assert.equal(lookups(), 8, 'the second finds every row (and every absent key) in the memos');
    assert.deepEqual(memos.map((m) => m.memoRow), [1, -1, 2, 4]);

    // another snapshot (other rows, other id): the memos are not used, and are renewed
    const other = counted(build(['d', 'zz', 'b']));
    const p = new MergePlanner(other.batch);
    speed.forEach(([k, s], i) => p.add(k, s, memos[i]));
    assert.deepEqual([...mergeAll(p.plan())].map((r) => `${r.key}=${r.metrics.join(',')}`), ['d=4', 'zz=3', 'b=3', 'null=3']);
    assert.equal(other.lookups(), 4);
    assert.deepEqual(memos.map((m) => m.memoRow), [2, 1, -1, 0]);
  });

  test('a key updated while a flush plans keeps what that flush learnt of its row', () => {
    const { batch, lookups } = counted(build(['hot', 'cold']));
    const s = new SpeedStore('totals');
    const u = (key: string, version: bigint): Update => ({ kind: 'update', key, window: OPEN_WINDOW, windowStart: -Infinity, windowEnd: Infinity, metrics: [1n], version });
    s.apply(u('hot', 1n), 0, 0);
    s.apply(u('cold', 1n), 0, 1);
    const perFlush: number[] = [];
    for (let r = 0; r < 4; r++) {
      const before = lookups();
      const cut = s.cut();
      s.apply(u('hot', BigInt(r + 2)), 0, r + 2); // consumed during the flush: the store copies the entry
      const p = new MergePlanner(batch);
      const summer = new SpeedPartSummer<(typeof cut.entries)[number]>(1, undefined, (k, sp, first) => p.add(k, sp, first.memo));
      for (const e of cut.entries) summer.add(e);
      summer.end();
      assert.equal(p.plan().patched.length, 2);
      perFlush.push(lookups() - before);
    }
    assert.deepEqual(perFlush, [2, 0, 0, 0]);
  });

});

// ---- Property: the merged view does not depend on the order updates arrive in. ----

const METRICS = 2;
const KEYS: Key[] = [null, 'a', 'b', 'c'];
const WINDOWS = [
  { id: OPEN_WINDOW, start: -Infinity, end: Infinity },
  { id: `0/${DAY}`, start: 0, end: DAY },
  { id: `${DAY}/${2 * DAY}`, start: DAY, end: 2 * DAY },
];

type Event =
  | { readonly kind: 'update'; readonly key: Key; readonly w: number; readonly metrics: bigint[]; readonly version: bigint; readonly partition: number; readonly offset: bigint }
  | { readonly kind: 'tombstone'; readonly key: string; readonly version: bigint };

const metricArb = fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n });
const updateArb = fc.record({
  kind: fc.constant('update' as const),
  key: fc.constantFrom(...KEYS),
  w: fc.integer({ min: 0, max: WINDOWS.length - 1 }),
  metrics: fc.array(metricArb, { minLength: METRICS, maxLength: METRICS }),
  version: fc.bigInt({ min: 0n, max: 6n }), // a small range, so version ties happen
  partition: fc.integer({ min: 0, max: 2 }),
});
const tombstoneArb = fc.record({
  kind: fc.constant('tombstone' as const),
  key: fc.constantFrom('a', 'b', 'c'), // a tombstone's key is the record key: never NULL
  version: fc.bigInt({ min: 0n, max: 6n }),
});
const batchArb = fc.array(fc.tuple(fc.constantFrom(...KEYS), fc.array(metricArb, { minLength: METRICS, maxLength: METRICS })), { maxLength: 4 })
  .map((rows) => new Map<Key, bigint[]>(rows));

/** Offsets are unique (a Kafka position is), assigned in generation order. */
function withOffsets(events: ReadonlyArray<Omit<Extract<Event, { kind: 'update' }>, 'offset'> | Extract<Event, { kind: 'tombstone' }>>): Event[] {
  return events.map((e, i) => (e.kind === 'update' ? { ...e, offset: BigInt(i) } : e));
}

/** A list of events and a permutation of it. */
function eventsAndPermutation(withTombstones: boolean) {
  const one = withTombstones ? fc.oneof({ arbitrary: updateArb, weight: 4 }, { arbitrary: tombstoneArb, weight: 1 }) : updateArb;
  return fc.array(one, { maxLength: 40 }).map(withOffsets).chain((events) =>
    fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length })));
}

function toUpdate(e: Extract<Event, { kind: 'update' }>): Update {
  const w = WINDOWS[e.w] as (typeof WINDOWS)[number];
  return { kind: 'update', key: e.key, window: w.id, windowStart: w.start, windowEnd: w.end, metrics: e.metrics.slice(), version: e.version };
}

function storeOf(mode: Mode, events: readonly Event[]): SpeedStore {
  const s = new SpeedStore(mode);
  for (const e of events) {
    if (e.kind === 'update') s.apply(toUpdate(e), e.partition, Number(e.offset));
    else s.tombstone({ kind: 'tombstone', key: e.key, version: e.version } satisfies Tombstone);
  }
  return s;
}

/** The merged view, as comparable text: one "key=metrics" line per key, sorted. */
function render(view: ReadonlyMap<Key, readonly bigint[]>): string[] {
  return [...view].map(([k, m]) => `${k === null ? '<NULL>' : JSON.stringify(k)}=${m.join(',')}`).sort();
}

/** The merged view through the code under test: mergeRow(batch, speedPart(store windows)). */
function mergedView(batch: ReadonlyMap<Key, bigint[]>, store: SpeedStore): string[] {
  const view = new Map<Key, bigint[]>();
  const keys = new Set<Key>([...batch.keys(), ...store.keyList()]);
  for (const k of keys) {
    const wins = store.windowsOf(k);
    const sp = wins === undefined ? undefined : speedPart(wins, METRICS, undefined);
    const row = mergeRow(batch.get(k), sp, k);
    if (row !== undefined) view.set(k, row);
  }
  return render(view);
}

/** Independent oracle: per (key, window) the update with the greatest (version, offset), among
 * those newer than the key's latest tombstone (totals); or the sum of all increments (deltas). */
function oracleView(mode: Mode, batch: ReadonlyMap<Key, bigint[]>, events: readonly Event[]): string[] {
  const cells = new Map<string, { key: Key; metrics: bigint[]; version: bigint; offset: bigint }>();
  const cell = (k: Key, w: number) => `${k === null ? 'N' : `s${k}`}|${w}`;
  const tomb = new Map<Key, bigint>();
  for (const e of events) if (e.kind === 'tombstone') tomb.set(e.key, (tomb.get(e.key) ?? -1n) > e.version ? (tomb.get(e.key) as bigint) : e.version);
  for (const e of events) {
    if (e.kind !== 'update') continue;
    const id = cell(e.key, e.w);
    const cur = cells.get(id);
    if (mode === 'deltas') {
      cells.set(id, { key: e.key, metrics: cur === undefined ? e.metrics.slice() : cur.metrics.map((v, i) => v + (e.metrics[i] as bigint)), version: 0n, offset: 0n });
      continue;
    }
    const t = tomb.get(e.key);
    if (t !== undefined && e.version <= t) continue;
    if (cur === undefined || e.version > cur.version || (e.version === cur.version && e.offset > cur.offset)) {
      cells.set(id, { key: e.key, metrics: e.metrics, version: e.version, offset: e.offset });
    }
  }
  const view = new Map<Key, bigint[]>();
  for (const [k, m] of batch) view.set(k, m.slice());
  for (const c of cells.values()) {
    const prev = view.get(c.key) ?? new Array<bigint>(METRICS).fill(0n);
    view.set(c.key, prev.map((v, i) => v + (c.metrics[i] as bigint)));
  }
  return render(view);
}

describe('merge properties', () => {
  test('any arrival order of the same totals updates and tombstones gives the same merged view, the latest total per key and window', () => {
    fc.assert(
      fc.property(eventsAndPermutation(true), batchArb, ([events, shuffled], batch) => {
        const expected = oracleView('totals', batch, events);
        const inOrder = mergedView(batch, storeOf('totals', events));
        const permuted = mergedView(batch, storeOf('totals', shuffled));
        assert.deepEqual(inOrder, expected);
        assert.deepEqual(permuted, expected);
      }),
      { numRuns: 300 },
    );
  });

  test('any arrival order of the same deltas gives the same merged view, the sum of the increments', () => {
    fc.assert(
      fc.property(eventsAndPermutation(false), batchArb, ([events, shuffled], batch) => {
        const expected = oracleView('deltas', batch, events);
        assert.deepEqual(mergedView(batch, storeOf('deltas', events)), expected);
        assert.deepEqual(mergedView(batch, storeOf('deltas', shuffled)), expected);
      }),
      { numRuns: 300 },
    );
  });

  test('the merge property oracle tells a stale total apart from a fresh one', () => {
    // Guards the oracle itself: an older total applied last must not win.
    const events = withOffsets([
      { kind: 'update', key: 'a', w: 0, metrics: [5n, 5n], version: 2n, partition: 0 },
      { kind: 'update', key: 'a', w: 0, metrics: [1n, 1n], version: 1n, partition: 0 },
    ]);
    const batch = new Map<Key, bigint[]>([['a', [100n, 100n]]]);
    assert.deepEqual(oracleView('totals', batch, events), ['"a"=105,105']);
    assert.deepEqual(mergedView(batch, storeOf('totals', events)), ['"a"=105,105']);
  });
});

/** The parts a SpeedPartSummer emits for entries fed in two slices (cut at `cut`), with the
 * first entry of each part. */
function partsOf<E extends SpeedValues>(entries: readonly E[], metricCount: number, watermark: number | undefined, cut = entries.length): Array<[Key, Array<number | bigint>, E]> {
  const out: Array<[Key, Array<number | bigint>, E]> = [];
  const summer = new SpeedPartSummer<E>(metricCount, watermark, (k, part, first) => out.push([k, [...part], first]));
  for (const e of entries.slice(0, cut)) summer.add(e);
  for (const e of entries.slice(cut)) summer.add(e);
  summer.end();
  return out;
}

describe('SpeedPartSummer', () => {
  test('SpeedPartSummer sums the added windows of each key, however the entries are sliced', () => {
    const e = (key: Key, start: number, end: number, m: number | bigint) => ({ key, start, end, values: [m] });
    const entries = [e('a', 0, DAY, 1), e('a', DAY, 2 * DAY, 2n), e('a', -Infinity, Infinity, 4), e(null, 0, DAY, 8), e('b', 0, DAY / 2, 16)];
    const watermark = DAY / 2; // [0, DAY) straddles it, [0, DAY/2) is covered by the batch
    for (let cut = 0; cut <= entries.length; cut++) {
      assert.deepEqual(partsOf(entries, 1, watermark, cut).map(([k, p]) => [k, p]), [['a', [6]]], `cut at ${cut}`);
    }
    const all = partsOf(entries, 1, undefined);
    assert.deepEqual(all.map(([k, p]) => [k, p]), [['a', [7]], [null, [8]], ['b', [16]]]);
    // each part comes with its key's first added entry (where the flush finds the key's RowMemo)
    assert.deepEqual(all.map(([, , first]) => first), [entries[0], entries[3], entries[4]]);
  });

  test('SpeedPartSummer hands over a lone window\'s values as they are and never changes an entry', () => {
    const a = { key: 'a', start: 0, end: DAY, values: [1, 2] };
    const b1 = { key: 'b', start: 0, end: DAY, values: [10, 20] };
    const b2 = { key: 'b', start: DAY, end: 2 * DAY, values: [100, 200] };
    const got: Array<readonly (number | bigint)[]> = [];
    const summer = new SpeedPartSummer(2, undefined, (_k, part) => got.push(part));
    for (const e of [a, b1, b2]) summer.add(e);
    summer.end();
    assert.equal(got[0], a.values, 'one window: its own array, not a copy');
    assert.deepEqual(got[1], [110, 220]);
    assert.notEqual(got[1], b1.values);
    assert.deepEqual(b1.values, [10, 20]);
    assert.deepEqual(b2.values, [100, 200]);
  });

  test('SpeedPartSummer sums exactly across 2^53 (numbers become BigInts) and refuses a sum beyond int64', () => {
    const e = (key: Key, start: number, values: Array<number | bigint>) => ({ key, start, end: start + DAY, values });
    const max = Number.MAX_SAFE_INTEGER;
    const out = partsOf([e('a', 0, [max, -max, 5]), e('a', DAY, [1, -1, 2n ** 60n])], 3, undefined);
    assert.deepEqual(out.map(([k, p]) => [k, p]), [['a', [2n ** 53n, -(2n ** 53n), 2n ** 60n + 5n]]]);
    assert.throws(() => partsOf([e('c', 0, [INT64_MAX]), e('c', DAY, [1])], 1, undefined), isOverflow);
    assert.throws(() => partsOf([e('c', 0, [INT64_MIN]), e('c', DAY, [-1])], 1, undefined), isOverflow);
  });
});
