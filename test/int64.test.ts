import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LsError } from '../src/errors.js';
import fc from 'fast-check';
import { addInt64, addInto, addMetric, inInt64, INT64_MAX, INT64_MIN, parseInt64 } from '../src/int64.js';

const isOverflow = (err: unknown): boolean => err instanceof LsError && err.code === 'LS_INT64_OVERFLOW';

describe('int64 bounds', () => {
  test('int64 bounds are -2^63 and 2^63-1', () => {
    assert.equal(INT64_MIN, -9223372036854775808n);
    assert.equal(INT64_MAX, 9223372036854775807n);
    assert.ok(inInt64(INT64_MAX) && inInt64(INT64_MIN));
    assert.ok(!inInt64(INT64_MAX + 1n) && !inInt64(INT64_MIN - 1n));
  });
});

describe('addInt64', () => {
  test('addInt64 adds exactly up to the bounds', () => {
    assert.equal(addInt64(INT64_MAX - 1n, 1n), INT64_MAX);
    assert.equal(addInt64(INT64_MIN + 1n, -1n), INT64_MIN);
    assert.equal(addInt64(INT64_MAX, INT64_MIN), -1n);
    assert.equal(addInt64(9007199254740993n, 1n), 9007199254740994n);
  });

  test('addInt64 throws LS_INT64_OVERFLOW past INT64_MAX', () => {
    assert.throws(() => addInt64(INT64_MAX, 1n), isOverflow);
    assert.throws(() => addInt64(INT64_MAX / 2n + 1n, INT64_MAX / 2n + 1n), isOverflow);
  });

  test('addInt64 throws LS_INT64_OVERFLOW below INT64_MIN', () => {
    assert.throws(() => addInt64(INT64_MIN, -1n), isOverflow);
    assert.throws(() => addInt64(INT64_MIN, INT64_MIN), isOverflow);
  });

  test('addInt64 names what overflowed in the error message and is not retryable', () => {
    assert.throws(() => addInt64(INT64_MAX, 2n, 'count_id of London'), (err: unknown) => {
      assert.ok(err instanceof LsError);
      assert.match(err.message, /count_id of London/);
      assert.match(err.message, /9223372036854775807 \+ 2/);
      assert.equal(err.retryable, false);
      return true;
    });
  });
});

describe('addInto', () => {
  test('addInto adds element-wise in place', () => {
    const a = [1n, -2n, INT64_MAX - 5n];
    addInto(a, [10n, 2n, 5n]);
    assert.deepEqual(a, [11n, 0n, INT64_MAX]);
  });

  test('addInto throws LS_INT64_OVERFLOW when one element overflows', () => {
    assert.throws(() => addInto([0n, INT64_MAX], [0n, 1n]), isOverflow);
  });
});

describe('parseInt64', () => {
  test('parseInt64 parses integer literals exactly, beyond 2^53', () => {
    assert.equal(parseInt64('0'), 0n);
    assert.equal(parseInt64('-0'), 0n);
    assert.equal(parseInt64('42'), 42n);
    assert.equal(parseInt64('-17'), -17n);
    assert.equal(parseInt64('9007199254740993'), 9007199254740993n);
    assert.equal(parseInt64('9223372036854775807'), INT64_MAX);
    assert.equal(parseInt64('-9223372036854775808'), INT64_MIN);
    assert.equal(parseInt64('00000000000000000007'), 7n);
  });

  test('parseInt64 rejects values outside int64', () => {
    assert.equal(parseInt64('9223372036854775808'), undefined);
    assert.equal(parseInt64('-9223372036854775809'), undefined);
    assert.equal(parseInt64('99999999999999999999'), undefined);
    assert.equal(parseInt64('123456789012345678901234567890'), undefined);
  });

  test('parseInt64 rejects anything that is not a plain decimal integer', () => {
    for (const bad of ['', '-', '+5', '1.5', '1e3', '0x10', ' 5', '5 ', 'abc', '12a', '1_000', 'Infinity', 'NaN', '١٢']) {
      assert.equal(parseInt64(bad), undefined, `"${bad}" is not an int64 literal`);
    }
  });
});

describe('addMetric', () => {
  const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
  const held = (v: bigint): number | bigint => (v >= -SAFE && v <= SAFE ? Number(v) : v);
  const INT64 = fc.oneof(
    fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
    fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }),
    fc.constantFrom(0n, 1n, -1n, SAFE, -SAFE, SAFE + 1n, -SAFE - 1n, INT64_MAX, INT64_MIN),
  );

  test('addMetric is the exact int64 sum, a number exactly when it is a safe integer, and refuses overflow', () => {
    fc.assert(fc.property(INT64, INT64, fc.boolean(), fc.boolean(), (a, b, aHeld, bHeld) => {
      const x = aHeld ? held(a) : a;
      const y = bHeld ? held(b) : b;
      const sum = a + b;
      if (!inInt64(sum)) {
        assert.throws(() => addMetric(x, y, 'what'), (err: unknown) => isOverflow(err) && /what/.test((err as Error).message));
        return;
      }
      const s = addMetric(x, y);
      assert.equal(BigInt(s), sum);
      assert.equal(typeof s, sum >= -SAFE && sum <= SAFE ? 'number' : 'bigint');
    }), { numRuns: 2000 });
  });

  test('addMetric does not round two safe numbers whose sum passes 2^53', () => {
    assert.equal(addMetric(Number.MAX_SAFE_INTEGER, 2), SAFE + 2n);
    assert.equal(addMetric(-Number.MAX_SAFE_INTEGER, -2), -SAFE - 2n);
    assert.equal(addMetric(Number.MAX_SAFE_INTEGER, 0), Number.MAX_SAFE_INTEGER);
  });
});
