// Reads: GET /v1/counts/:key at 100 connections (autocannon, in its own process), random keys.
//   cold: keys drawn from every key (batch + new speed keys), CACHE_MAX_ENTRIES=1000, so nearly
//         every read is a merge; the cache hit rate is measured and reported;
//   hot:  keys drawn from 500 keys that fit in the cache: the cached path;
//   while ingesting: cold reads while a producer (own process) writes half the max ingest rate.
// Baseline, cold and hot run interleaved, `reps` rounds, medians compared.
// Baseline: a bare node:http server in the same process answering a precomputed JSON body (the
// service's own answer for one key) to the same random URLs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GroupResult } from './figure.js';
import { createBatchTable, figure, fmtCount, keySpace, later, median, runScript, spawnScript, startWorker, waitFor, type Figure, type Options, type Scope, type Worker } from './lib.js';
import { counterValue, startService, type Svc } from './svc.js';

export interface CannonResult { rps: number; p50: number; p99: number; ok: number; non2xx: number; errors: number; timeouts: number; seconds: number }

/** A load run and this process's CPU per answered request (server side: the bare server or the
 * service; robust to other load on the machine, unlike req/s). */
type Run = CannonResult & { hitRate: number; cpuUs: number };

const CONNECTIONS = 100;
const HOT_KEYS = 500;
const CACHE = 1000;

async function cannon(w: Worker, url: string, keys: number, seconds: number): Promise<CannonResult & { cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const r = await w.call<CannonResult>({ url, prefix: '/v1/counts/k', keys, connections: CONNECTIONS, seconds });
  const cpu = process.cpuUsage(cpu0);
  return { ...r, cpuUs: (cpu.user + cpu.system) / Math.max(1, r.ok) };
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

async function measured(w: Worker, svc: Svc, keys: number, seconds: number): Promise<Run> {
  const before = await cacheCounts(svc);
  const r = await cannon(w, svc.url, keys, seconds);
  const after = await cacheCounts(svc);
  const hits = after.hit - before.hit;
  const total = hits + after.miss - before.miss;
  // every key exists: a non-2xx answer is a wrong answer. Connection errors and timeouts are load
  // effects: not counted in the rate, reported in the note.
  if (r.non2xx > 0) throw new Error(`reads failed: ${r.non2xx} non-2xx answers`);
  return { ...r, hitRate: total === 0 ? NaN : hits / total };
}

/** The run with the median rate of several (its latencies go with it). */
function medianRun(runs: Run[]): Run & { all: string } {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  const mid = sorted[(sorted.length - 1) >> 1] as Run;
  const m = (f: (r: Run) => number) => median(runs.map(f));
  const errors = runs.reduce((a, r) => a + r.errors, 0);
  const all = `${runs.map((r) => Math.round(r.rps)).join(', ')}${errors > 0 ? ` (${errors} connection errors/timeouts)` : ''}`;
  return { ...mid, rps: m((r) => r.rps), p99: m((r) => r.p99), p50: m((r) => r.p50), cpuUs: m((r) => r.cpuUs), all };
}

export async function reads(o: Options, scope: Scope): Promise<GroupResult> {
  const schema = await scope.schema();
  await createBatchTable(scope.pool, `${schema}.batch_layer`, o.batchKeys);
  const topic = await scope.topic(2);
  await runScript('producer.ts', { mode: 'all', topic, batchKeys: o.batchKeys, speedKeys: o.speedKeys });
  const svc = await startService(scope, schema, topic, { CACHE_MAX_ENTRIES: String(CACHE) });
  await waitFor(() => svc.consumed() >= o.speedKeys, 60_000, 'the speed rows');
  const space = keySpace(o.batchKeys, o.speedKeys);
  const w = startWorker('cannon.ts');
  scope.defer(() => w.close());
  const s = o.readSeconds;

  // baseline, cold and hot interleaved in rounds (the machine is noisy: drift hits all three)
  const sample = await fetch(`${svc.url}/v1/counts/k1`);
  const bare = await bareServer(await sample.text());
  const runs = { base: [] as Run[], cold: [] as Run[], hot: [] as Run[] };
  try {
    for (const [url, keys] of [[bare.url, space], [svc.url, space], [svc.url, HOT_KEYS]] as const) await cannon(w, url, keys, 1); // warm-up
    for (let round = 0; round < o.reps; round++) {
      runs.base.push({ ...(await cannon(w, bare.url, space, s)), hitRate: NaN });
      runs.cold.push(await measured(w, svc, space, s));
      runs.hot.push(await measured(w, svc, HOT_KEYS, s));
    }
  } finally {
    await new Promise((r) => bare.server.close(r));
  }
  const [base, cold, hot] = [medianRun(runs.base), medianRun(runs.cold), medianRun(runs.hot)];

  // while ingesting: reads start once the service is consuming the producer's records (0.5 s of
  // them), and the producer is stopped after the reads
  const rate = o.maxIngestRate === undefined ? 20_000 : Math.round(o.maxIngestRate / 2);
  const producer = spawnScript<{ sent: number; seconds: number; rate: number }>('producer.ts', {
    mode: 'rate', topic, rate, seconds: 600, batchKeys: o.batchKeys, speedKeys: o.speedKeys,
  });
  later(producer.result);
  scope.defer(async () => producer.stop());
  await waitFor(() => svc.consumed() >= o.speedKeys + rate / 2, 60_000, 'the producer\'s records to arrive', 20);
  const c0 = { n: svc.consumed(), t: performance.now() };
  const busy = await measured(w, svc, space, s);
  const c1 = { n: svc.consumed(), t: performance.now() };
  producer.stop();
  const produced = await producer.result;
  await waitFor(() => svc.consumed() >= o.speedKeys + produced.sent, 120_000, 'the service to catch up with the producer', 20);
  const consumedRate = (c1.n - c0.n) / ((c1.t - c0.t) / 1000);

  const size = `${fmtCount(o.batchKeys)} batch + ${fmtCount(o.speedKeys)} speed keys (${fmtCount(space)} distinct), ${CONNECTIONS} connections, median of ${o.reps} interleaved ${s} s runs`;
  const hitNote = (r: Run) => `cache hit rate ${(r.hitRate * 100).toFixed(1)}%; CPU ${r.cpuUs.toFixed(0)} us/request (bare ${base.cpuUs.toFixed(0)})`;
  const figures: Figure[] = [
    figure(`reads cold (merge: random of ${fmtCount(space)} keys, cache ${CACHE}): GET /v1/counts/:key`, cold.rps, 'req/s', base.rps, 'ratio >= 0.8', {
      size, note: `${hitNote(cold)}; p50 ${cold.p50} ms; runs ${cold.all} req/s; baseline: bare node:http in the same process, precomputed body, same URLs (runs ${base.all} req/s)`,
    }),
    figure('reads cold: p99 latency', cold.p99, 'ms', base.p99, 'reported', { size, note: 'baseline: the bare server\'s p99' }),
    figure(`reads hot (cached: random of ${HOT_KEYS} keys): GET /v1/counts/:key`, hot.rps, 'req/s', base.rps, 'ratio >= 0.8', { size, note: `${hitNote(hot)}; p50 ${hot.p50} ms; runs ${hot.all} req/s` }),
    figure('reads hot: p99 latency', hot.p99, 'ms', base.p99, 'reported', { size }),
    figure(`reads cold while ingesting at half the max rate (${fmtCount(rate)}/s)`, busy.rps, 'req/s', cold.rps, 'ratio >= 0.5', {
      size,
      note: `${hitNote(busy)}; p99 ${busy.p99} ms${busy.errors > 0 ? `; ${busy.errors} connection errors/timeouts` : ''}; producer sent ${Math.round(produced.rate)}/s${o.maxIngestRate === undefined ? ' (max ingest rate not measured: 20k/s assumed)' : ''}, service consumed ${Math.round(consumedRate)}/s during the reads; baseline: the cold reads figure`,
    }),
  ];
  return { figures };
}
