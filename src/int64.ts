// int64 arithmetic on BigInt: every sum is checked, nothing wraps or becomes a float.
import { LsError } from './errors.js';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/** Number.MAX_SAFE_INTEGER and its negative, as BigInts: the int64 values a JS number holds exactly. */
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
export const MIN_SAFE = -MAX_SAFE;

export function inInt64(v: bigint): boolean {
  return v >= INT64_MIN && v <= INT64_MAX;
}

export function addInt64(a: bigint, b: bigint, what = 'sum'): bigint {
  const s = a + b;
  if (s > INT64_MAX || s < INT64_MIN) throw new LsError('LS_INT64_OVERFLOW', `${what} = ${a} + ${b}`);
  return s;
}

/** a + b of two int64 values given as numbers (safe integers) or BigInts: a number while the sum
 * is a safe integer, else a BigInt (a double sum of two safe integers is at least 2^53 exactly
 * when the true sum is, so no rounded sum passes as safe); refused beyond int64. A BigInt operand
 * with a safe sum gives a number too. */
export function addMetric(a: number | bigint, b: number | bigint, what = 'sum'): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') {
    const s = a + b;
    if (Number.isSafeInteger(s)) return s;
  }
  const s = addInt64(BigInt(a), BigInt(b), what);
  return s >= MIN_SAFE && s <= MAX_SAFE ? Number(s) : s;
}

/** Adds b into a, element-wise, in place. */
export function addInto(a: bigint[], b: readonly bigint[], what = 'sum'): void {
  for (let i = 0; i < a.length; i++) a[i] = addInt64(a[i] as bigint, b[i] as bigint, what);
}

const DIGITS = /^-?\d+$/;

/** Exact parse of a decimal integer literal into an int64; undefined if not one. */
export function parseInt64(text: string): bigint | undefined {
  if (!DIGITS.test(text) || text.length > 20) return undefined;
  const v = BigInt(text);
  return inInt64(v) ? v : undefined;
}
