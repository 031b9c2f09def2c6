import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bestRows } from '../../src/serving/reads.js';

/** Sort-based oracle: every index, largest value first, ties by lower index; the first n. */
function oracle(values: readonly bigint[], n: number): number[] {
  const idx = values.map((_, i) => i);
  idx.sort((a, b) => {
    const va = values[a] as bigint;
    const vb = values[b] as bigint;
    return va === vb ? a - b : va > vb ? -1 : 1;
  });
  return idx.slice(0, Math.max(0, n));
}

const col = (values: readonly bigint[]) => BigInt64Array.from(values);

describe('bestRows', () => {
  test('bestRows returns the indices of the n largest values, largest first', () => {
    const values = [5n, 1n, 9n, -3n, 7n, 2n];
    assert.deepEqual([...bestRows(col(values), 3)], [2, 4, 0]);
    assert.deepEqual([...bestRows(col(values), 3)], oracle(values, 3));
  });

  test('bestRows returns every index when n exceeds the length', () => {
    const values = [3n, -1n, 10n];
    assert.deepEqual([...bestRows(col(values), 10)], [2, 0, 1]);
  });

  test('bestRows returns nothing for n of zero or less, or an empty column', () => {
    assert.equal(bestRows(col([1n, 2n]), 0).length, 0);
    assert.equal(bestRows(col([1n, 2n]), -4).length, 0);
    assert.equal(bestRows(col([]), 5).length, 0);
  });

  test('bestRows compares int64 values exactly, beyond 2^53 and at the extremes', () => {
    const values = [9007199254740993n, 9007199254740992n, -9223372036854775808n, 9223372036854775807n, 9007199254740994n];
    assert.deepEqual([...bestRows(col(values), 4)], [3, 4, 0, 1]);
  });

  test('bestRows lists equal values lower index first', () => {
    assert.deepEqual([...bestRows(col([4n, 4n, 4n, 4n]), 4)], [0, 1, 2, 3]);
  });

  test('bestRows agrees with a full sort for distinct values', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 200 }),
        fc.integer({ min: -1, max: 220 }),
        (values, n) => {
          assert.deepEqual([...bestRows(col(values), n)], oracle(values, n));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('bestRows picks the n largest values even with many ties', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -5n, max: 5n }), { maxLength: 100 }), fc.integer({ min: 0, max: 110 }), (values, n) => {
        const got = [...bestRows(col(values), n)];
        const want = oracle(values, n);
        assert.equal(got.length, want.length);
        assert.equal(new Set(got).size, got.length, 'indices are distinct');
        assert.deepEqual(got.map((i) => values[i]), want.map((i) => values[i]), 'the same values, largest first');
        for (let k = 1; k < got.length; k++) {
          const a = got[k - 1] as number;
          const b = got[k] as number;
          if (values[a] === values[b]) assert.ok(a < b, 'equal values are listed lower index first');
        }
      }),
      { numRuns: 300 },
    );
  });
});
