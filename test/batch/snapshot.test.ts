import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BatchSnapshot } from '../../src/batch/snapshot.js';
import type { Key } from '../../src/speed/decode.js';

// ASCII keys (looked up char by char) and any other text (looked up through its UTF-8 bytes)
const KEY = fc.oneof(fc.string({ maxLength: 6 }), fc.string({ maxLength: 4, unit: 'grapheme' }), fc.string({ maxLength: 3, unit: 'binary' }));

test('snapshot answers every key it was built from, sums duplicates, and knows no other key', () => {
  fc.assert(fc.property(
    fc.array(fc.tuple(fc.option(KEY, { nil: null }), fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }), fc.boolean()), { maxLength: 3000 }),
    KEY,
    (rows, probe) => {
      const b = BatchSnapshot.builder(2, 4);
      const expected = new Map<Key, bigint[]>();
      for (const [k, v, asNumber] of rows) {
        b.add(k, [asNumber ? Number(v) : v, -v]); // safe-integer numbers take the int32-halves path
        const e = expected.get(k);
        expected.set(k, e ? [(e[0] as bigint) + v, (e[1] as bigint) - v] : [v, -v]);
      }
      const snap = b.build(undefined);
      assert.equal(snap.size, expected.size);
      for (const [k, v] of expected) assert.deepEqual(snap.get(k), v);
      assert.equal(snap.has(probe), expected.has(probe));
      if (!expected.has(null)) assert.equal(snap.get(null), undefined);
      for (let i = 0; i < snap.size; i++) assert.equal(snap.indexOf(snap.keyAt(i)), i);
    },
  ), { numRuns: 200 });
});

test('int64 extremes survive both write paths', () => {
  const b = BatchSnapshot.builder(3);
  b.add('a', [9223372036854775807n, -9223372036854775808n, Number.MAX_SAFE_INTEGER]);
  b.add('b', [-Number.MAX_SAFE_INTEGER, -1, 0]);
  const s = b.build(undefined);
  assert.deepEqual(s.get('a'), [9223372036854775807n, -9223372036854775808n, 9007199254740991n]);
  assert.deepEqual(s.get('b'), [-9007199254740991n, -1n, 0n]);
});

test('a duplicate key whose sum leaves int64 is refused', () => {
  const b = BatchSnapshot.builder(1);
  b.add('a', [9223372036854775807n]);
  assert.throws(() => b.add('a', [1]), /overflows int64/);
});

test('a string with a lone surrogate is no batch key (PostgreSQL text cannot hold one)', () => {
  const b = BatchSnapshot.builder(1);
  b.add('\ufffd', [1n]); // what a lone surrogate would encode to
  const s = b.build(undefined);
  assert.deepEqual(s.get('\ufffd'), [1n]);
  assert.equal(s.get('\ud800'), undefined);
});
