import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Interner } from '../../src/speed/intern.js';

describe('Interner', () => {
  test('interner gives exactly what UTF-8 decoding gives, for any bytes, through growth and restarts', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.string({ maxLength: 8 }).map((s) => new Uint8Array(Buffer.from(s)))), { maxLength: 300 }),
      fc.integer({ min: 1, max: 64 }),
      (keys, max) => {
        const interner = new Interner(max, 2);
        let sizeAfterFirst = 0;
        for (let round = 0; round < 2; round++) {
          if (round === 1) sizeAfterFirst = interner.size;
          for (const k of keys) {
            // the key sits inside a larger buffer, as a record key sits inside its record
            const b = Buffer.concat([Buffer.from('{"k":"'), k, Buffer.from('"}')]);
            assert.equal(interner.get(b, 6, 6 + k.length), Buffer.from(k).toString('utf8'));
          }
        }
        assert.ok(interner.size <= max);
        const distinctAscii = new Set(keys.filter((k) => k.every((c) => c < 0x80)).map((k) => Buffer.from(k).toString('latin1'))).size;
        // with no restart, the second pass finds every key and adds nothing
        if (distinctAscii <= max) assert.equal(interner.size, sizeAfterFirst);
      },
    ));
  });

  test('interner gives the same string object for a key seen before, and tells apart keys of one hash slot', () => {
    const interner = new Interner(1 << 10, 2);
    const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
    const first = keys.map((k) => interner.get(Buffer.from(k), 0, k.length));
    assert.equal(interner.size, 500);
    keys.forEach((k, i) => {
      const again = interner.get(Buffer.from(`xx${k}`), 2, 2 + k.length);
      assert.equal(again, k);
      assert.ok(Object.is(again, first[i]));
    });
    assert.equal(interner.size, 500, 'nothing added on the second pass');
  });

  test('interner holds the empty key once', () => {
    const interner = new Interner();
    const b = Buffer.from('{"location":""}');
    for (let i = 0; i < 1000; i++) assert.equal(interner.get(b, 13, 13), '');
    assert.equal(interner.size, 1);
  });

  test('interner refuses an initial size that is not a power of two', () => {
    assert.throws(() => new Interner(16, 3), RangeError);
  });

  test('interner decodes a non-ASCII key every time and keeps it out of the table', () => {
    const interner = new Interner();
    const b = Buffer.from('Zürich');
    assert.equal(interner.get(b, 0, b.length), 'Zürich');
    assert.equal(interner.get(Buffer.from([0x61, 0xff, 0x62]), 0, 3), 'a\ufffdb');
    assert.equal(interner.size, 0);
  });
});
