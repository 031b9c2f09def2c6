// int64 arithmetic on BigInt: every sum is checked, nothing wraps or becomes a float.
import { LsError } from './errors.js';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

export function inInt64(v: bigint): boolean {
  return v >= INT64_MIN && v <= INT64_MAX;
}

export function addInt64(a: bigint, b: bigint, what = 'sum'): bigint {
  const s = a + b;
  if (s > INT64_MAX || s < INT64_MIN) throw new LsError('LS_INT64_OVERFLOW', `${what} = ${a} + ${b}`);
  return s;
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
