import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Key } from '../../src/speed/decode.js';
import { CopyKeyRowParser } from '../../src/warehouse/copy-out.js';
import { copyRowLine } from '../../src/warehouse/bulk.js';

function parseAll(chunks: Buffer[], width = 2): Array<[Key, bigint[]]> {
  const out: Array<[Key, bigint[]]> = [];
  const values = (ms: ArrayLike<number | bigint>) => Array.from(ms, (v) => BigInt(v));
  const p = new CopyKeyRowParser(width, {
    add: (k, ms) => { out.push([k, values(ms)]); },
    addBytes: (buf, s, e, ms) => { out.push([Buffer.from(buf.subarray(s, e)).toString('utf8'), values(ms)]); },
  });
  for (const c of chunks) p.push(c);
  p.end();
  assert.equal(p.rows, out.length);
  return out;
}

const rows: Array<[Key, bigint[]]> = [
  ['plain', [1n, -2n]],
  [null, [0n, 9223372036854775807n]],
  ['tab\tnew\nline\rback\\slash', [-9223372036854775808n, 9007199254740993n]],
  ['\\N', [123456789012345n, -1234567890123456n]],
  ['', [0n, 0n]],
  ['Zürich 東京 🚀', [42n, 7n]],
];

test('COPY text rows are read back exactly as copyRowLine wrote them, however the stream is cut', () => {
  const text = Buffer.from(rows.map(([k, ms]) => copyRowLine([k, ...ms])).join(''));
  assert.deepEqual(parseAll([text]), rows);
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(parseAll([text.subarray(0, cut), text.subarray(cut)]), rows, `cut at ${cut}`);
  }
  // one byte at a time
  assert.deepEqual(parseAll([...text].map((b) => Buffer.from([b]))), rows);
});

test('a NULL metric reads as 0; PostgreSQL octal and hex escapes in a key are decoded', () => {
  assert.deepEqual(parseAll([Buffer.from('a\\tb\\101\\x42\\\\\t\\N\t5\n')]), [['a\tbAB\\', [0n, 5n]]]);
  // an escaped multi-byte character (octal bytes of "ü")
  assert.deepEqual(parseAll([Buffer.from('Z\\303\\274rich\t1\t2\n')]), [['Zürich', [1n, 2n]]]);
});

test('a malformed COPY row is an error naming the row, not a wrong value', () => {
  assert.throws(() => parseAll([Buffer.from('a\t1\t2\nb\t1\n')]), /row 2 has 2 columns, expected 3/);
  assert.throws(() => parseAll([Buffer.from('a\t1\t2\t3\n')]), /row 1 has more than 3 columns/);
  assert.throws(() => parseAll([Buffer.from('a\t1\t2.5\n')]), /row 1, column 3: "2.5" is not an integer/);
  assert.throws(() => parseAll([Buffer.from('a\t-\t2\n')]), /not an integer/);
  assert.throws(() => parseAll([Buffer.from('a\t\t2\n')]), /not an integer/);
  assert.throws(() => parseAll([Buffer.from('a\t1\t2\nb\t1')]), /the data ends inside a row/);
});
