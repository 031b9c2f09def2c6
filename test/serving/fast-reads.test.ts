// GET /v1/counts/<key> answered in front of fastify (src/serving/fast-reads.ts) must answer
// exactly as the fastify route does, and leave every other request to fastify. These tests run
// two apps on the same data over real HTTP (inject() would skip the server and its fast path):
// one with the fast path, one without.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type RequestListener } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { BatchSnapshot } from '../../src/batch/snapshot.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { buildApp } from '../../src/serving/app.js';
import { installFastReads, plainKey } from '../../src/serving/fast-reads.js';
import { Reads } from '../../src/serving/reads.js';
import { OPEN_WINDOW } from '../../src/speed/decode.js';
import { SpeedStore } from '../../src/speed/store.js';
import { TWEET_VIEW } from '../../src/view.js';

interface Answer { status: number; type: string | undefined; length: string | undefined; body: string }

function get(base: string, path: string, method = 'GET', headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], length: res.headers['content-length'], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const KEYS = ['a', 'k1', 'Zürich', 'a b', 'x"y', 'p%q', 'semi;colon', 'big'];

async function twoApps(t: { after(f: () => unknown): void }) {
  const b = BatchSnapshot.builder(4);
  for (const k of KEYS) b.add(k, k === 'big' ? [2n ** 63n - 1n, 0n, 0n, 0n] : [1n, 2n, 3n, 4n]);
  const snap = b.build(undefined);
  const store = new SpeedStore('totals');
  store.apply({ kind: 'update', key: 'k1', window: OPEN_WINDOW, windowStart: -Infinity, windowEnd: Infinity, metrics: [10, 20, 30, 40], version: 1n }, 0, 0);
  store.apply({ kind: 'update', key: 'speed-only', window: OPEN_WINDOW, windowStart: -Infinity, windowEnd: Infinity, metrics: [5, 0, 0, 0], version: 1n }, 0, 1);
  store.apply({ kind: 'update', key: 'big', window: OPEN_WINDOW, windowStart: -Infinity, windowEnd: Infinity, metrics: [1, 0, 0, 0], version: 1n }, 0, 2);
  const make = async (fastReads: boolean) => {
    const metrics = createMetrics(false);
    const reads = new Reads(TWEET_VIEW, () => snap, store, metrics, 100);
    const app = buildApp({
      view: TWEET_VIEW, reads, metrics, log: createLogger('silent'), adminToken: undefined, maxKeysPerRequest: 10, fastReads,
      readiness: () => ({ ready: true, degraded: [], notReady: [], detail: {} }),
      flush: async () => ({ snapshotId: '', rows: 0, ms: 0 }),
      stats: async () => { throw new Error('unused'); },
    });
    let routed = 0;
    app.addHook('onRequest', (_req, _reply, done) => { routed++; done(); });
    t.after(() => app.close());
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, metrics, routed: () => routed, app };
  };
  return { fast: await make(true), plain: await make(false) };
}

test('the fast path answers plain reads exactly as the fastify route, and without it', async (t) => {
  const { fast, plain } = await twoApps(t);
  const paths = ['/v1/counts/a', '/v1/counts/k1', '/v1/counts/speed-only', '/v1/counts/nope', '/v1/counts/x"y', '/v1/counts/x%22y', `/v1/counts/${'x'.repeat(4096)}`];
  for (const p of paths) assert.deepEqual(await get(fast.url, p), await get(plain.url, p), p);
  const before = fast.routed();
  assert.equal((await get(fast.url, '/v1/counts/k1')).body, '{"location":"k1","count_id":11,"sum_followers_count":22,"sum_favorite_count":33,"sum_retweet_count":44}');
  assert.equal((await get(fast.url, '/v1/counts/nope')).status, 404);
  assert.equal(fast.routed(), before, 'plain reads, known or not, never reach fastify');
});

test('every other form of the route goes to fastify and is answered as without the fast path', async (t) => {
  const { fast, plain } = await twoApps(t);
  const cases: Array<[string, string?, Record<string, string>?, string?]> = [
    ['/v1/counts/a?explain=true'], ['/v1/counts/a?x=1'], ['/v1/counts/Z%C3%BCrich'], ['/v1/counts/a%20b'], ['/v1/counts/p%25q'],
    ['/v1/counts/semi;colon'], ['/v1/counts/'], ['/v1/counts/a/b'], ['/v1/counts/a/'], [`/v1/counts/${'x'.repeat(4097)}`],
    ['/v1/counts/a', 'HEAD'], ['/v1/counts/a', 'POST'], ['/v1/counts/a', 'GET', { 'content-type': 'application/json', 'content-length': '2' }, '{}'],
    ['/v1/counts/big'], // batch + speed beyond int64: the route's error, from fastify
    ['/v1/counts?key=a&key=k1'], ['/healthz'],
  ];
  for (const [path, method, headers, body] of cases) {
    const [f0, p0] = [fast.routed(), plain.routed()];
    const a = await get(fast.url, path, method, headers, body);
    assert.deepEqual(a, await get(plain.url, path, method, headers, body), `${method ?? 'GET'} ${path.slice(0, 40)}`);
    // fastify took it as it does without the fast path (a key past maxParamLength is answered
    // 414 before the onRequest hooks, in both)
    assert.equal(fast.routed() - f0, plain.routed() - p0, `${method ?? 'GET'} ${path.slice(0, 40)} goes to fastify`);
    assert.equal(fast.routed() - f0, path.length > 4096 ? 0 : 1);
  }
  assert.equal((await get(fast.url, '/v1/counts/big')).status, 500);
});

test('fast answers are counted in the HTTP metrics under the route, 404s as bad requests', async (t) => {
  const { fast } = await twoApps(t);
  for (let i = 0; i < 3; i++) await get(fast.url, '/v1/counts/a');
  await get(fast.url, '/v1/counts/nope');
  const text = await fast.metrics.registry.metrics();
  assert.match(text, /lambda_serving_http_request_duration_seconds_count\{route="\/v1\/counts\/:key",status="200"\} 3/);
  assert.match(text, /lambda_serving_http_request_duration_seconds_count\{route="\/v1\/counts\/:key",status="404"\} 1/);
  assert.match(text, /lambda_serving_http_bad_requests_total\{route="\/v1\/counts\/:key",status="404"\} 1/);
});

test('any printable key answers the same with and without the fast path', async (t) => {
  const { fast, plain } = await twoApps(t);
  // keys the apps hold (200s) as often as random ones (mostly 404s)
  const keys = fc.oneof(fc.constantFrom(...KEYS, 'speed-only'), fc.string({ minLength: 1, maxLength: 8 }));
  await fc.assert(fc.asyncProperty(keys, fc.boolean(), async (key, encode) => {
    const path = `/v1/counts/${encode ? encodeURIComponent(key) : [...key].filter((c) => c > ' ' && c < '\x7f').join('') || 'k'}`;
    assert.deepEqual(await get(fast.url, path), await get(plain.url, path), path);
  }), { numRuns: 150 });
});

/** A node:http server whose fastify stand-in answers "fastify", with the fast path installed. */
async function standIn(t: { after(f: () => unknown): void }, closing: () => boolean, inMemory = true) {
  const b = BatchSnapshot.builder(4);
  b.add('a', [1n, 2n, 3n, 4n]);
  const snap = b.build(undefined);
  const metrics = createMetrics(false);
  const reads = new Reads(TWEET_VIEW, () => snap, new SpeedStore('totals'), metrics, 10);
  if (!inMemory) Object.defineProperty(reads, 'inMemory', { get: () => false });
  const routing: RequestListener = (_req, res) => { res.end('fastify'); };
  const server = createServer(routing);
  installFastReads(server, routing, { reads, metrics, maxKeyLength: 16, closing });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('fastify answers every read while it closes, and every read when the batch is not in memory', async (t) => {
  let closing = false;
  const url = await standIn(t, () => closing);
  assert.equal((await get(url, '/v1/counts/a')).status, 200);
  closing = true;
  assert.equal((await get(url, '/v1/counts/a')).body, 'fastify');
  assert.equal((await get(await standIn(t, () => false, false), '/v1/counts/a')).body, 'fastify');
});

test('the fast path goes on the server fastify made, which keeps fastify\'s settings', async (t) => {
  const { fast, plain } = await twoApps(t);
  for (const k of ['keepAliveTimeout', 'requestTimeout', 'headersTimeout', 'timeout', 'maxRequestsPerSocket'] as const) {
    assert.equal(fast.app.server[k], plain.app.server[k], k);
  }
  assert.equal(fast.app.server.listenerCount('request'), 1);
  const other = createServer();
  assert.throws(() => installFastReads(other, () => undefined, { reads: {} as Reads, metrics: createMetrics(false), maxKeyLength: 1, closing: () => false }), /not on its server/);
});

test('plainKey takes only a bodiless GET of /v1/counts/ and a key with nothing to decode', () => {
  const req = (url: string, method = 'GET', headers: Record<string, string> = {}) => ({ url, method, headers }) as unknown as IncomingMessage;
  assert.equal(plainKey(req('/v1/counts/k1'), 16), 'k1');
  assert.equal(plainKey(req('/v1/counts/a-b_c.d~e:f@g!h$&\'()*+,='), 64), 'a-b_c.d~e:f@g!h$&\'()*+,=');
  for (const url of ['/v1/counts/', '/v1/counts/a?b', '/v1/counts/a%41', '/v1/counts/a/b', '/v1/counts/a;b', '/v1/counts/a#b', '/v1/counts/a"b', '/v1/counts/a\\b', '/v1/counts/\u00e9', '/v1/counts/a b', '/v1/counts/a\u007f', '/v1/countsX', '/v2/counts/a', `/v1/counts/${'x'.repeat(17)}`]) {
    assert.equal(plainKey(req(url), 16), undefined, url);
  }
  assert.equal(plainKey(req(`/v1/counts/${'x'.repeat(16)}`), 16), 'x'.repeat(16));
  assert.equal(plainKey(req('/v1/counts/a', 'HEAD'), 16), undefined);
  assert.equal(plainKey(req('/v1/counts/a', 'GET', { 'content-length': '0' }), 16), undefined);
  assert.equal(plainKey(req('/v1/counts/a', 'GET', { 'transfer-encoding': 'chunked' }), 16), undefined);
});

test('a read that arrives while fastify closes gets fastify\'s 503, with the fast path as without it', async () => {
  for (const fastReads of [true, false]) {
    const b = BatchSnapshot.builder(4);
    b.add('a', [1n, 2n, 3n, 4n]);
    const snap = b.build(undefined);
    const metrics = createMetrics(false);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let flushing!: () => void;
    const inFlush = new Promise<void>((r) => { flushing = r; });
    const app = buildApp({
      view: TWEET_VIEW, reads: new Reads(TWEET_VIEW, () => snap, new SpeedStore('totals'), metrics, 10), metrics, log: createLogger('silent'),
      adminToken: 'token-0123456789abcdef', maxKeysPerRequest: 10, fastReads,
      readiness: () => ({ ready: true, degraded: [], notReady: [], detail: {} }),
      flush: async () => { flushing(); await gate; return { snapshotId: '1', rows: 0, ms: 0 }; },
      stats: async () => { throw new Error('unused'); },
    });
    let closingSeen!: () => void;
    const closing = new Promise<void>((r) => { closingSeen = r; });
    app.addHook('preClose', (done) => { closingSeen(); done(); });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => { text += c; });
    const ended = new Promise<void>((r) => socket.on('close', () => r()));
    // a slow request keeps the connection busy (close() leaves it open); a read sent on it after
    // close() began is answered by fastify, 503, then the connection is closed
    socket.write('POST /v1/flush HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer token-0123456789abcdef\r\nContent-Length: 0\r\n\r\n');
    await inFlush;
    const closed = app.close();
    await closing;
    const readArrived = new Promise<void>((r) => app.server.on('request', (req: IncomingMessage) => { if (req.url === '/v1/counts/a') r(); }));
    socket.write('GET /v1/counts/a HTTP/1.1\r\nHost: x\r\n\r\n');
    await readArrived; // parsed and answered (the answer queued behind the flush's)
    release();
    await closed;
    await ended;
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 503], `fastReads ${fastReads}: ${text.slice(0, 300)}`);
  }
});
