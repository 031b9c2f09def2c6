import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BatchSnapshot } from '../../src/batch/snapshot.js';
import { planMerge } from '../../src/merge.js';
import type { Key } from '../../src/speed/decode.js';
import { OPEN_WINDOW } from '../../src/speed/decode.js';
import { copyBinaryOf, mergedRows, speedStateRows } from '../../src/snapshot/rows.js';
import type { Cell } from '../../src/warehouse/bulk.js';
import { copyRowLine } from '../../src/warehouse/bulk.js';

type ColumnType = 'text' | 'int4' | 'int8';

/** Reads COPY binary data back into rows (the test's own reader of the format). */
function decodeBinary(chunks: Buffer[], types: ColumnType[]): Cell[][] {
  const b = Buffer.concat(chunks);
  assert.equal(b.subarray(0, 11).toString('latin1'), 'PGCOPY\n\xff\r\n\0');
  assert.equal(b.readInt32BE(11), 0);
  assert.equal(b.readInt32BE(15), 0);
  let pos = 19;
  const rows: Cell[][] = [];
  for (;;) {
    const n = b.readInt16BE(pos);
    pos += 2;
    if (n === -1) break;
    assert.equal(n, types.length);
    const row: Cell[] = [];
    for (const t of types) {
      const len = b.readInt32BE(pos);
      pos += 4;
      if (len === -1) { row.push(null); continue; }
      if (t === 'text') row.push(b.toString('utf8', pos, pos + len));
      else if (t === 'int4') { assert.equal(len, 4); row.push(b.readInt32BE(pos)); }
      else { assert.equal(len, 8); row.push(b.readBigInt64BE(pos)); }
      pos += len;
    }
    rows.push(row);
  }
  assert.equal(pos, b.length, 'nothing after the trailer');
  return rows;
}

const lines = (rows: Iterable<readonly Cell[]>) => [...rows].map(copyRowLine).join('');

const INT64 = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }), // around the 2^53 edge of the number path
  fc.constantFrom(0n, -1n, 9n, 10n, -10n, 2n ** 53n, -(2n ** 53n), 2n ** 53n - 1n, 2n ** 63n - 1n, -(2n ** 63n)),
);
/** An int64 as the speed store holds it: a number while it is a safe integer, else a BigInt. */
const held = (v: bigint): number | bigint => (v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v);

const KEY = fc.option(fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom('a\tb', 'c\nd', 'e\rf', 'g\\h', '\\N', 'Zürich', '🚀')), { nil: null });

test('the merged rows in binary COPY data are exactly the merged rows', () => {
  fc.assert(fc.property(
    fc.array(fc.tuple(KEY, INT64, INT64, fc.boolean()), { maxLength: 200 }),
    fc.array(fc.tuple(KEY, fc.oneof(fc.bigInt({ min: -1000n, max: 1000n }), INT64), fc.boolean()), { maxLength: 50 }),
    fc.integer({ min: 1, max: 3 }),
    (batchRows, speedRows, parts) => {
      const b = BatchSnapshot.builder(2, 4);
      const seen = new Set<Key>();
      for (const [k, x, y, asNumber] of batchRows) {
        if (seen.has(k)) continue; // duplicates are summed by the builder (and could overflow): tested there
        seen.add(k);
        b.add(k, asNumber && Number.isSafeInteger(Number(x)) ? [Number(x), y] : [x, y]);
      }
      const snap = b.build(undefined);
      // speed parts as a flush makes them: numbers while safe integers (or BigInts all the same)
      const speed = new Map<Key, Array<number | bigint>>();
      for (const [k, v, asHeld] of speedRows) speed.set(k, asHeld ? [held(v), held(v / -2n)] : [v, v / -2n]);
      const plan = planMerge(snap, speed);
      let expected: string;
      try {
        expected = lines(mergedRows(plan, 2, () => undefined)[0]?.cells() ?? []);
      } catch (err) {
        // a merged key beyond int64: the COPY text refuses it the same way
        assert.equal((err as { code?: string }).code, 'LS_INT64_OVERFLOW');
        assert.throws(() => [...copyBinaryOf(plan, 2)], (e: Error) => (e as { code?: string }).code === 'LS_INT64_OVERFLOW' && e.message === (err as Error).message);
        return;
      }
      assert.equal(lines(decodeBinary([...copyBinaryOf(plan, 2)], ['text', 'int8', 'int8'])), expected);
      // cut into parts (written side by side): together, the same rows; each part valid alone
      const split = mergedRows(plan, 2, () => undefined, parts);
      assert.equal(split.length, parts);
      assert.equal(split.reduce((n, r) => n + r.rows, 0), plan.rows);
      assert.equal(split.map((r) => lines(decodeBinary([...r.copyBinary()], ['text', 'int8', 'int8']))).join(''), expected);
      assert.equal(split.map((r) => lines(r.cells())).join(''), expected);
    },
  ), { numRuns: 300 });
});

test('a large merge is cut into chunks of at most 256 KB', () => {
  const b = BatchSnapshot.builder(1);
  for (let i = 0; i < 50_000; i++) b.add(`key-${i}`, [i * 1_000_003]);
  const plan = planMerge(b.build(undefined), new Map([['key-7', [1n]], ['new', [2n]]]));
  const chunks = [...copyBinaryOf(plan, 1)];
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
  for (const c of chunks) assert.ok(c.length <= 256 * 1024, `${c.length} bytes`);
  const rows = decodeBinary(chunks, ['text', 'int8']);
  assert.equal(rows.length, 50_001);
  assert.deepEqual(rows[7], ['key-7', BigInt(7 * 1_000_003 + 1)]);
  assert.deepEqual(rows[50_000], ['new', 2n]);
});

test('the bulk-write crash point fires once, after the first chunk or 1000 rows', () => {
  const b = BatchSnapshot.builder(1);
  for (let i = 0; i < 2500; i++) b.add(`k${i}`, [i]);
  const plan = planMerge(b.build(undefined), new Map());
  const calls: number[] = [];
  let taken = 0;
  const [rows] = mergedRows(plan, 1, () => calls.push(taken));
  assert.ok(rows);
  for (const _ of rows.cells()) taken++;
  assert.deepEqual(calls, [1000]);
  calls.length = 0;
  taken = 0;
  for (const _ of rows.copyBinary()) taken++;
  assert.deepEqual(calls, [1]);
});

test('the speed state in binary COPY data is exactly its rows', () => {
  fc.assert(fc.property(
    fc.array(fc.record({
      key: KEY, open: fc.boolean(), start: fc.integer({ min: 0, max: 2 ** 42 }), len: fc.integer({ min: 1, max: 2 ** 30 }),
      version: INT64, partition: fc.nat(64), offset: fc.maxSafeNat(), m0: INT64, m1: INT64,
    }), { maxLength: 60 }),
    fc.array(fc.record({ key: fc.string({ maxLength: 5 }), version: INT64, partition: fc.nat(64) }), { maxLength: 5 }),
    (ws, ts) => {
      const state = {
        entries: ws.map((x) => ({
          key: x.key, window: x.open ? OPEN_WINDOW : `${x.start}/${x.start + x.len}`, start: x.open ? -Infinity : x.start, end: x.open ? Infinity : x.start + x.len,
          // values as the store holds them: numbers while safe integers, else BigInts
          metrics: [x.m0, x.m1], values: [x.m0, x.m1].map(held), version: x.version, partition: x.partition, offset: x.offset,
        })),
        tombstones: ts,
      };
      const rows = speedStateRows(state, 2);
      assert.equal(rows.rows, ws.length + ts.length);
      const types: ColumnType[] = ['int4', 'int8', 'text', 'text', 'int8', 'int8', 'int8', 'int8', 'int8'];
      assert.equal(lines(decodeBinary([...rows.copyBinary()], types)), lines(rows.cells()));
    },
  ), { numRuns: 200 });
});

test('no row is lost when the rows fill a chunk exactly before the trailer', () => {
  // 1 metric and 14-byte keys: a row is 2 + 4 + 14 + 12 = 32 bytes, so chunks end exactly full
  // (the first holds 8191 rows after the 19-byte header, the next ones 8192)
  for (const n of [8190, 8191, 8192, 16382, 16383, 16384, 24575]) {
    const b = BatchSnapshot.builder(1, n);
    for (let i = 0; i < n; i++) b.add(`k${String(i).padStart(13, '0')}`, [i]);
    const plan = planMerge(b.build(undefined), []);
    for (const parts of [1, 2]) {
      const sources = mergedRows(plan, 1, () => undefined, parts);
      const decoded = sources.flatMap((s) => decodeBinary([...s.copyBinary()], ['text', 'int8']));
      assert.equal(decoded.length, n, `${n} rows in ${parts} part(s)`);
      assert.deepEqual(decoded[n - 1], [`k${String(n - 1).padStart(13, '0')}`, BigInt(n - 1)]);
    }
  }
});
