// Reads: GET /v1/counts/:key at 100 connections (autocannon, in its own process), random keys.
//   cold: keys drawn from every key (batch + new speed keys), CACHE_MAX_ENTRIES=1000, so nearly
//         every read is a merge; the cache hit rate is measured and reported;
//   hot:  keys drawn from 500 keys that fit in the cache: the cached path;
//   while ingesting: cold reads while a producer (own process) writes half the max ingest rate.
// Baseline: a bare node:http server in the same process answering a precomputed JSON body (the
// service's own answer for one key) to the same random URLs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GroupResult } from './figure.js';
import { counterValue, createBatchTable, figure, fmtCount, keySpace, runScript, sleep, startService, waitFor, type Figure, type Options, type Scope, type Svc } from './lib.js';

export interface CannonResult { rps: number; p50: number; p99: number; ok: number; non2xx: number; errors: number; seconds: number }

const CONNECTIONS = 100;
const HOT_KEYS = 500;
const CACHE = 1000;

async function cannon(url: string, keys: number, seconds: number): Promise<CannonResult> {
  await runScript<CannonResult>('cannon.ts', { url, prefix: '/v1/counts/k', keys, connections: CONNECTIONS, seconds: 1 }); // warm-up
  return runScript<CannonResult>('cannon.ts', { url, prefix: '/v1/counts/k', keys, connections: CONNECTIONS, seconds });
}

async function bareServer(body: string): Promise<{ server: Server; url: string }> {
  const buf = Buffer.from(body);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': buf.length });
    res.end(buf);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function cacheCounts(svc: Svc): Promise<{ hit: number; miss: number }> {
  const c = svc.service.metrics.cacheRequests;
  return { hit: await counterValue(c, ['result', 'hit']), miss: await counterValue(c, ['result', 'miss']) };
}

async function measured(svc: Svc, keys: number, seconds: number): Promise<CannonResult & { hitRate: number }> {
  const before = await cacheCounts(svc);
  const r = await cannon(svc.url, keys, seconds);
  const after = await cacheCounts(svc);
  const hits = after.hit - before.hit;
  const total = hits + after.miss - before.miss;
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`reads failed: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { ...r, hitRate: total === 0 ? NaN : hits / total };
}

export async function reads(o: Options, scope: Scope): Promise<GroupResult> {
  const schema = await scope.schema();
  await createBatchTable(scope.pool, `${schema}.batch_layer`, o.batchKeys);
  const topic = await scope.topic(2);
  await runScript('producer.ts', { mode: 'all', topic, batchKeys: o.batchKeys, speedKeys: o.speedKeys });
  const svc = await startService(scope, schema, topic, { CACHE_MAX_ENTRIES: String(CACHE) });
  await waitFor(() => svc.consumed() >= o.speedKeys, 60_000, 'the speed rows');
  const space = keySpace(o.batchKeys, o.speedKeys);
  const s = o.readSeconds;

  const sample = await fetch(`${svc.url}/v1/counts/k1`);
  const bare = await bareServer(await sample.text());
  let base: CannonResult;
  try {
    base = await cannon(bare.url, space, s);
  } finally {
    await new Promise((r) => bare.server.close(r));
  }
  const cold = await measured(svc, space, s);
  const hot = await measured(svc, HOT_KEYS, s);

  // while ingesting: the producer runs from 1 s before the reads until after them
  const rate = o.maxIngestRate === undefined ? 20_000 : Math.round(o.maxIngestRate / 2);
  const producing = runScript<{ sent: number; seconds: number; rate: number }>('producer.ts', {
    mode: 'rate', topic, rate, seconds: s + 4, batchKeys: o.batchKeys, speedKeys: o.speedKeys,
  });
  await sleep(1000);
  const c0 = { n: svc.consumed(), t: performance.now() };
  const busy = await measured(svc, space, s);
  const c1 = { n: svc.consumed(), t: performance.now() };
  const produced = await producing;
  await waitFor(() => svc.consumed() >= o.speedKeys + produced.sent, 120_000, 'the service to catch up with the producer', 20);
  const consumedRate = (c1.n - c0.n) / ((c1.t - c0.t) / 1000);

  const size = `${fmtCount(o.batchKeys)} batch + ${fmtCount(o.speedKeys)} speed keys (${fmtCount(space)} distinct), ${CONNECTIONS} connections, ${s} s`;
  const hitNote = (r: { hitRate: number }) => `cache hit rate ${(r.hitRate * 100).toFixed(1)}%`;
  const figures: Figure[] = [
    figure(`reads cold (merge: random of ${fmtCount(space)} keys, cache ${CACHE}): GET /v1/counts/:key`, cold.rps, 'req/s', base.rps, 'ratio >= 0.8', {
      size, note: `${hitNote(cold)}; p50 ${cold.p50} ms; baseline: bare node:http, precomputed body, same URLs (p99 ${base.p99} ms)`,
    }),
    figure('reads cold: p99 latency', cold.p99, 'ms', base.p99, 'reported', { size }),
    figure(`reads hot (cached: random of ${HOT_KEYS} keys): GET /v1/counts/:key`, hot.rps, 'req/s', base.rps, 'ratio >= 0.8', { size, note: `${hitNote(hot)}; p50 ${hot.p50} ms` }),
    figure('reads hot: p99 latency', hot.p99, 'ms', base.p99, 'reported', { size }),
    figure(`reads cold while ingesting at half the max rate (${fmtCount(rate)}/s)`, busy.rps, 'req/s', cold.rps, 'ratio >= 0.5', {
      size,
      note: `${hitNote(busy)}; p99 ${busy.p99} ms; producer sent ${Math.round(produced.rate)}/s, service consumed ${Math.round(consumedRate)}/s during the reads; baseline: the cold reads figure`,
    }),
  ];
  return { figures };
}
