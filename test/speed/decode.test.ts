import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Decoder, OPEN_WINDOW, REJECT_REASONS, type Decoded, type RawRecord, type RejectReason, type Update } from '../../src/speed/decode.js';
import { TWEET_VIEW, type View } from '../../src/view.js';

const MAX_BYTES = 4096;
const TS = '1764115200123';

function rec(value: string | null, key: string | null = null, timestamp = TS): RawRecord {
  return { key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value), timestamp };
}

const decoder = new Decoder(TWEET_VIEW, MAX_BYTES);

function update(d: Decoded): Update {
  assert.equal(d.kind, 'update', `expected an update, got ${JSON.stringify(d, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  return d as Update;
}

function rejection(d: Decoded): RejectReason {
  assert.equal(d.kind, 'rejected', `expected a rejection, got kind ${d.kind}`);
  return (d as { reason: RejectReason }).reason;
}

const LONDON = '{"location":"London","count(id)":12,"sum(followers_count)":3456,"sum(favorite_count)":7,"sum(retweet_count)":1}';

describe('Decoder: valid records', () => {
  test('decoder reads a Spark to_json record into key, exact metrics and the record timestamp as version', () => {
    const u = update(decoder.decode(rec(LONDON, 'London')));
    assert.equal(u.key, 'London');
    assert.deepEqual(u.metrics.map(BigInt), [12n, 3456n, 7n, 1n]);
    assert.equal(u.version, 1764115200123n);
    assert.equal(u.window, OPEN_WINDOW);
  });

  test('decoder puts a record without a window struct in the open window', () => {
    const u = update(decoder.decode(rec(LONDON)));
    assert.equal(u.window, OPEN_WINDOW);
    assert.equal(u.windowStart, -Infinity);
    assert.equal(u.windowEnd, Infinity);
  });

  test('decoder counts an absent or null metric as zero', () => {
    const u = update(decoder.decode(rec('{"location":"Paris","count(id)":3,"sum(followers_count)":null}')));
    assert.deepEqual(u.metrics.map(BigInt), [3n, 0n, 0n, 0n]);
  });

  test('decoder accepts metrics written as decimal-digit strings', () => {
    const u = update(decoder.decode(rec('{"location":"Paris","count(id)":"9223372036854775807","sum(followers_count)":"-5"}')));
    assert.deepEqual(u.metrics.map(BigInt), [9223372036854775807n, -5n, 0n, 0n]);
  });

  test('decoder uses the configured version field instead of the record timestamp', () => {
    const view: View = { ...TWEET_VIEW, versionField: 'seq' };
    const d = new Decoder(view, MAX_BYTES);
    assert.equal(update(d.decode(rec('{"location":"Oslo","count(id)":1,"seq":42}'))).version, 42n);
    assert.equal(update(d.decode(rec('{"location":"Oslo","count(id)":1,"seq":"17"}'))).version, 17n);
    assert.equal(update(d.decode(rec('{"location":"Oslo","count(id)":1,"seq":9007199254740993}'))).version, 9007199254740993n);
  });

  test('decoder turns a window struct into a window id, start and end', () => {
    const value = '{"location":"London","count(id)":5,"window":{"start":"2026-11-26T00:00:00Z","end":"2026-11-27T00:00:00Z"}}';
    const u = update(decoder.decode(rec(value)));
    const start = Date.UTC(2026, 10, 26);
    const end = Date.UTC(2026, 10, 27);
    assert.equal(u.windowStart, start);
    assert.equal(u.windowEnd, end);
    assert.equal(u.window, `${start}/${end}`);
  });

  test('decoder reads the window from a configured window field', () => {
    const view: View = { ...TWEET_VIEW, windowField: 'w' };
    const d = new Decoder(view, MAX_BYTES);
    const u = update(d.decode(rec('{"location":"x","w":{"start":"2026-01-01T00:00:00.000Z","end":"2026-01-01T01:00:00.000Z"}}')));
    assert.equal(u.windowEnd - u.windowStart, 3_600_000);
  });

  test('decoder keeps an explicit null key as the NULL key', () => {
    const u = update(decoder.decode(rec('{"location":null,"count(id)":4}')));
    assert.equal(u.key, null);
    assert.deepEqual(u.metrics.map(BigInt), [4n, 0n, 0n, 0n]);
  });

  test('decoder takes the key from the value, not from the record key', () => {
    assert.equal(update(decoder.decode(rec('{"location":"Rome","count(id)":1}', 'Paris'))).key, 'Rome');
  });

  test('decoder keeps integers above 2^53 exact', () => {
    const value = '{"location":"big","count(id)":9007199254740993,"sum(followers_count)":9223372036854775807,"sum(favorite_count)":-9223372036854775808,"sum(retweet_count)":-9007199254740993}';
    const u = update(decoder.decode(rec(value)));
    assert.deepEqual(u.metrics.map(BigInt), [9007199254740993n, 9223372036854775807n, -9223372036854775808n, -9007199254740993n]);
  });

  test('decoder decodes a null value with a record key as a tombstone', () => {
    const d = decoder.decode(rec(null, 'London', '77'));
    assert.deepEqual(d, { kind: 'tombstone', key: 'London', version: 77n });
  });
});

describe('Decoder: rejections', () => {
  const versioned = new Decoder({ ...TWEET_VIEW, versionField: 'seq' }, MAX_BYTES);
  const cases: Array<{ reason: RejectReason; name: string; record: RawRecord; d?: Decoder }> = [
    { reason: 'oversize', name: 'a value larger than the limit', record: rec(`{"location":"${'x'.repeat(MAX_BYTES)}"}`) },
    { reason: 'oversize', name: 'a key and value larger than the limit together', record: rec(`{"location":"${'y'.repeat(MAX_BYTES - 100)}"}`, 'k'.repeat(200)) },
    { reason: 'bad_json', name: 'truncated JSON', record: rec('{"location":"London","count(id)":') },
    { reason: 'bad_json', name: 'text that is not JSON', record: rec('location=London') },
    { reason: 'not_object', name: 'a JSON array', record: rec('[1,2,3]') },
    { reason: 'not_object', name: 'a JSON number', record: rec('42') },
    { reason: 'not_object', name: 'a JSON null value', record: rec('null') },
    { reason: 'missing_key', name: 'a record without the key field', record: rec('{"count(id)":1}') },
    { reason: 'bad_key', name: 'a boolean key', record: rec('{"location":true,"count(id)":1}') },
    { reason: 'bad_key', name: 'an object key', record: rec('{"location":{"city":"x"},"count(id)":1}') },
    { reason: 'bad_key', name: 'a fractional number key', record: rec('{"location":1.5,"count(id)":1}') },
    { reason: 'bad_metric', name: 'a fractional metric', record: rec('{"location":"a","count(id)":1.5}') },
    { reason: 'bad_metric', name: 'a non-numeric string metric', record: rec('{"location":"a","count(id)":"abc"}') },
    { reason: 'bad_metric', name: 'a boolean metric', record: rec('{"location":"a","count(id)":true}') },
    { reason: 'bad_metric', name: 'an object metric', record: rec('{"location":"a","sum(retweet_count)":{}}') },
    { reason: 'metric_out_of_range', name: 'a metric of 2^63', record: rec('{"location":"a","count(id)":9223372036854775808}') },
    { reason: 'metric_out_of_range', name: 'a metric below -2^63', record: rec('{"location":"a","count(id)":-9223372036854775809}') },
    { reason: 'metric_out_of_range', name: 'a string metric of 2^63', record: rec('{"location":"a","count(id)":"9223372036854775808"}') },
    { reason: 'bad_window', name: 'a window that is a string', record: rec('{"location":"a","window":"today"}') },
    { reason: 'bad_window', name: 'a window with an unparseable start', record: rec('{"location":"a","window":{"start":"yesterday","end":"2026-11-27T00:00:00Z"}}') },
    { reason: 'bad_window', name: 'a window without an end', record: rec('{"location":"a","window":{"start":"2026-11-26T00:00:00Z"}}') },
    { reason: 'bad_window', name: 'a window that ends before it starts', record: rec('{"location":"a","window":{"start":"2026-11-27T00:00:00Z","end":"2026-11-26T00:00:00Z"}}') },
    { reason: 'bad_version', name: 'a record without the version field', record: rec('{"location":"a","count(id)":1}'), d: versioned },
    { reason: 'bad_version', name: 'a fractional version', record: rec('{"location":"a","count(id)":1,"seq":2.5}'), d: versioned },
    { reason: 'bad_version', name: 'a non-numeric version', record: rec('{"location":"a","count(id)":1,"seq":"v2"}'), d: versioned },
    { reason: 'tombstone_without_key', name: 'a null value without a record key', record: rec(null, null) },
    { reason: 'tombstone_without_key', name: 'a null value with an empty record key', record: rec(null, '') },
  ];

  for (const c of cases) {
    test(`decoder rejects ${c.name} as ${c.reason}`, () => {
      const d = (c.d ?? decoder).decode(c.record);
      assert.equal(rejection(d), c.reason);
      assert.ok(d.kind === 'rejected' && d.detail.length > 0, 'a rejection carries a detail');
    });
  }

  test('decoder rejection cases cover every reject reason', () => {
    assert.deepEqual(new Set(cases.map((c) => c.reason)), new Set(REJECT_REASONS));
  });

  test('decoder accepts a record exactly at the size limit', () => {
    const head = '{"location":"';
    const tail = '"}';
    const value = head + 'z'.repeat(MAX_BYTES - head.length - tail.length) + tail;
    assert.equal(Buffer.byteLength(value), MAX_BYTES);
    assert.equal(decoder.decode(rec(value)).kind, 'update');
  });

  test('decoder rejects or decodes a record with a repeated field and a metric above 2^53, and never throws', () => {
    // JSON.parse keeps the last duplicate; the exact (lossless) re-parse must not turn it into an exception
    // that escapes decode() and stalls the partition.
    const value = '{"location":"a","location":"b","count(id)":9007199254740993}';
    let d: Decoded | undefined;
    assert.doesNotThrow(() => { d = decoder.decode(rec(value)); });
    assert.ok(d !== undefined && (d.kind === 'update' || d.kind === 'rejected'));
  });
});
