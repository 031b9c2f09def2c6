// The decoder's fast path (a byte scanner for Spark's flat to_json records) must decide every
// record exactly as the general path (JSON.parse + lossless re-parse) does: same update, or the
// same rejection with the same detail. These tests run both on the same bytes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Decoder, type Decoded, type RawRecord } from '../../src/speed/decode.js';
import { TWEET_VIEW, type View } from '../../src/view.js';

const VERSIONED: View = { ...TWEET_VIEW, versionField: 'seq' };
const FIELDS = ['location', 'count(id)', 'sum(followers_count)', 'sum(favorite_count)', 'sum(retweet_count)', 'window', 'seq', 'other', 'avg(x)'];

function pair(view: View) {
  return { fast: new Decoder(view, 1 << 16), general: new Decoder(view, 1 << 16, { scan: false }) };
}

/** Metrics as BigInts: the fast path gives safe integers as numbers, the general path BigInts. */
const show = (d: Decoded) => JSON.stringify(d.kind === 'update' ? { ...d, metrics: d.metrics.map((v) => BigInt(v)) } : d, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v === Infinity ? 'Inf' : v === -Infinity ? '-Inf' : v));

function assertSame(view: View, value: Buffer, timestamp = '1764115200123'): void {
  const { fast, general } = pair(view);
  const rec: RawRecord = { key: null, value, timestamp };
  assert.equal(show(fast.decode(rec)), show(general.decode(rec)), `record ${JSON.stringify(value.toString('latin1'))}`);
}

// ---------- generators of Spark-like records, valid and not ----------

const ws = fc.constantFrom('', '', '', ' ', '\n', '\t', ' \r\n ');
const iso = fc.integer({ min: 0, max: 4_000_000_000_000 }).map((ms) => new Date(ms).toISOString());
const stringValue = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)),
  fc.constantFrom('"São Paulo"', '"東京"', '"a\\"b"', '"\\u0041"', '"tab\there"', '"x\\\\"', '"😀"', '""'),
);
const intText = fc.oneof(
  fc.integer({ min: -1000, max: 100_000 }).map(String),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
  fc.constantFrom('0', '-0', '999999999999999', '1000000000000000', '9007199254740993', '9223372036854775807', '-9223372036854775808', '9223372036854775808'),
);
const numberValue = fc.oneof(intText, intText, fc.constantFrom('1.5', '1.0', '2e3', '1E2', '-0.0', '01', '-', '1.', '.5', '1e', '5e-1', '12345678901234567890'));
const scalar = fc.oneof(numberValue, numberValue, stringValue, fc.constantFrom('null', 'true', 'false', 'nul', 'tru'));
const windowValue = fc.oneof(
  fc.tuple(iso, iso, ws).map(([s, e, w]) => `{${w}"start"${w}:${w}"${s}",${w}"end":"${e}"${w}}`),
  fc.tuple(iso, fc.integer({ min: 1, max: 86_400_000 })).map(([s, d]) => `{"start":"${s}","end":"${new Date(Date.parse(s) + d).toISOString()}"}`),
  fc.constantFrom('{}', '{"start":"2026-11-26T00:00:00Z"}', '{"end":"x","start":"y"}', '{"start":"2026-11-26T00:00:00Z","end":"2026-11-27T00:00:00Z","start":"2026-11-25T00:00:00Z"}',
    '{"start":"2026-11-26T00:00:00Z","end":"2026-11-27T00:00:00Z","n":1}', '{"start":1,"end":2}', '[]', '"today"', 'null'),
);
const value = fc.oneof(scalar, scalar, scalar, windowValue, fc.constantFrom('{"a":1}', '[1,2]', '{}'));
const field = fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.constantFrom(...FIELDS), fc.string({ maxLength: 6 })), value, ws, ws)
  .map(([name, v, a, b]) => `${JSON.stringify(name)}${a}:${b}${v}`);
/** A record: the key field first most of the time, then any fields, in any order. */
const record = fc.tuple(fc.option(fc.tuple(stringValue, ws), { freq: 1 }), fc.array(field, { maxLength: 8 }), ws, ws)
  .map(([key, fields, a, b]) => `${a}{${[...(key ? [`"location":${key[1]}${key[0]}`] : []), ...fields].join(',')}}${b}`);
/** Valid Spark records: every metric a small integer, sometimes a window. */
const sparkRecord = fc.tuple(fc.string({ maxLength: 10 }), fc.array(fc.integer({ min: -5, max: 1_000_000 }), { minLength: 4, maxLength: 4 }), fc.option(windowValue), fc.integer({ min: 0, max: 1000 }))
  .map(([k, m, w, seq]) => JSON.stringify({ ...(w === null ? {} : { window: '@W' }), location: k, 'count(id)': m[0], 'sum(followers_count)': m[1], 'sum(favorite_count)': m[2], 'sum(retweet_count)': m[3], seq }).replace('"@W"', w ?? 'null'));

/** Bytes of a record, sometimes damaged: truncated, a byte changed, or invalid UTF-8 added. */
const bytes = (text: fc.Arbitrary<string>) => fc.tuple(text, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('none', 'none', 'truncate', 'set', 'insert'))
  .map(([t, at, byte, how]) => {
    const b = Buffer.from(t);
    const i = b.length === 0 ? 0 : at % b.length;
    if (how === 'truncate') return b.subarray(0, i);
    if (how === 'set' && b.length > 0) { b[i] = byte; return b; }
    if (how === 'insert') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
    return b;
  });

describe('Decoder fast path', () => {
  test('fast path and JSON.parse path decode generated records identically', () => {
    fc.assert(fc.property(bytes(record), (b) => { assertSame(TWEET_VIEW, b); assertSame(VERSIONED, b); }), { numRuns: 5000 });
  });

  test('fast path and JSON.parse path decode generated Spark records identically', () => {
    fc.assert(fc.property(bytes(sparkRecord), (b) => { assertSame(TWEET_VIEW, b); assertSame(VERSIONED, b); }), { numRuns: 3000 });
  });

  test('fast path agrees on the edge cases it hands over to JSON.parse', () => {
    const cases = [
      '{"location":"a\\u0062","count(id)":1}', // escape in the key
      '{"location":"a","count(id)":1,"location":"b"}', // a field named twice: JSON.parse keeps the last
      '{"location":"a","count(id)":1,"count(id)":2}',
      '{"location":"a","count(id)":9007199254740993}', // beyond 2^53: exact digits
      '{"location":"a","count(id)":1,"other":9007199254740993,"other":1}', // duplicate unknown field
      '{"location":"a","count(id)":1e2}', '{"location":"a","count(id)":1.0}', '{"location":"a","count(id)":-0}',
      '{"location":12,"count(id)":1}', '{"location":12345678901234567890}', // number keys
      '{"location":"a","count(id)":"12"}', // digit strings
      '\uFEFF{"location":"a"}', // a byte order mark is not JSON
      '{"location":"a"} x', '{"location":"a",}', '{,"location":"a"}', '{"location" "a"}', '{"location":"a"}}',
      '{"location":"bad \u0001 control"}',
      '{"location":"a","window":{"start":"2026-11-26T00:00:00Z","end":"2026-11-26T00:00:00Z"}}', // empty window
      '{"location":"a","window":{"start":"2026-11-26T00:00:00Z","end":"2026-11-27T00:00:00Z"},"window":null}',
      '{"location":"a","count(id)":1,"seq":2.0}', '{"location":"a","seq":null}',
    ];
    for (const c of cases) { assertSame(TWEET_VIEW, Buffer.from(c)); assertSame(VERSIONED, Buffer.from(c)); }
    // invalid UTF-8 inside the key string: both paths see the same replacement characters
    for (const bad of [[0xff], [0xc3], [0xe6, 0x9d], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98]]) {
      assertSame(TWEET_VIEW, Buffer.concat([Buffer.from('{"location":"x'), Buffer.from(bad), Buffer.from('","count(id)":3}')]));
    }
  });

  test('fast path learns a field order and still reads records in another order', () => {
    const d = new Decoder(TWEET_VIEW, 4096);
    const a = d.decode({ key: null, value: Buffer.from('{"location":"a","count(id)":1,"sum(retweet_count)":4}'), timestamp: '1' });
    const b = d.decode({ key: null, value: Buffer.from('{"sum(retweet_count)":5,"count(id)":2,"location":"b"}'), timestamp: '2' });
    assert.ok(a.kind === 'update' && b.kind === 'update');
    assert.deepEqual([a.key, a.metrics.map(BigInt)], ['a', [1n, 0n, 0n, 4n]]);
    assert.deepEqual([b.key, b.metrics.map(BigInt), b.version], ['b', [2n, 0n, 0n, 5n], 2n]);
  });

  test('decoder gives each update its own metrics array', () => {
    const d = new Decoder(TWEET_VIEW, 4096);
    const a = d.decode({ key: null, value: Buffer.from('{"location":"a","count(id)":1}'), timestamp: '1' });
    const b = d.decode({ key: null, value: Buffer.from('{"location":"b","count(id)":2}'), timestamp: '1' });
    assert.ok(a.kind === 'update' && b.kind === 'update');
    assert.notEqual(a.metrics, b.metrics);
    assert.deepEqual(a.metrics.map(BigInt), [1n, 0n, 0n, 0n]);
  });
});
