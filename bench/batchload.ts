// Batch load: the service's BatchLoader (the same Warehouse + BatchLoader the Service wires:
// server-side cursor, int64 parsing, columnar snapshot) loading B rows into memory, against
// `psql -c "\copy (select ...) to stdout"` of the same table to /dev/null. Interleaved `reps`
// times, medians compared. Runs in its own process, so the peak RSS is this load's: the first
// load builds one snapshot, later ones build the next while the current one is still served.
import { BatchLoader } from '../src/batch/loader.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics.js';
import { TWEET_VIEW } from '../src/view.js';
import { Warehouse } from '../src/warehouse/warehouse.js';
import type { GroupResult } from './figure.js';
import { createBatchTable, DATABASE_URL, figure, fmtCount, median, METRIC_COLUMNS, psql, type Options, type Scope } from './lib.js';

const MB = 1024 * 1024;

export async function batchLoad(o: Options, scope: Scope): Promise<GroupResult> {
  const schema = await scope.schema();
  const table = `${schema}.batch_layer`;
  await createBatchTable(scope.pool, table, o.batchKeys);
  const log = createLogger('warn');
  const warehouse = new Warehouse({
    url: DATABASE_URL, dialect: 'postgres', view: TWEET_VIEW, batchTable: table, servingTable: `${schema}.serving_layer`,
    statementTimeoutMs: 0, log,
  });
  scope.defer(() => warehouse.close());
  await warehouse.connect();
  const loader = new BatchLoader(warehouse, TWEET_VIEW.metrics.length, undefined, log, createMetrics(false));

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  let firstPeak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  const times = { load: [] as number[], psql: [] as number[] };
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      const started = performance.now();
      const snap = await loader.load();
      times.load.push(performance.now() - started);
      if (snap.size !== o.batchKeys) throw new Error(`loaded ${snap.size} rows, expected ${o.batchKeys}`);
      if (rep === 0) firstPeak = Math.max(peak, process.memoryUsage().rss);
      times.psql.push(await psql(`\\copy (SELECT location, ${METRIC_COLUMNS.join(', ')} FROM ${table}) to stdout`, '/dev/null'));
    }
  } finally {
    clearInterval(sampler);
  }
  const maxRss = (process.resourceUsage().maxRSS * 1024) / MB;
  const size = `${fmtCount(o.batchKeys)} rows x ${METRIC_COLUMNS.length} bigint, median of ${o.reps}`;
  const fmt = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
  return {
    figures: [
      figure('batch load: rows into memory, vs psql \\copy to /dev/null', median(times.load), 'ms', median(times.psql), 'ratio <= 1.5', {
        size, note: `BatchLoader ${fmt(times.load)} ms; psql ${fmt(times.psql)} ms (psql start included)`,
      }),
      figure('batch load: peak RSS', maxRss, 'MB', null, 'reported', {
        size, note: `RSS before loading ${(rssBefore / MB).toFixed(0)} MB; peak during the first load ${(firstPeak / MB).toFixed(0)} MB; peak during reloads (old snapshot still served) ${(peak / MB).toFixed(0)} MB`,
      }),
    ],
  };
}
