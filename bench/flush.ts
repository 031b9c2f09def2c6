// Flush: the service's flushNow() (merge of B batch + S speed keys, half of them new, COPY into
// the staging tables, swap, drop the previous table) against, on the same PostgreSQL data:
//   - the classic SQL merge (CREATE TABLE AS batch, UPDATE ... FROM speed, INSERT ... NOT IN,
//     DROP, RENAME) with the speed rows in a warehouse table `speed_layer`;
//   - `psql \copy` of the service's output rows (exported once, untimed) into an empty table.
// Repeated `reps` times, interleaved; medians compared. Every flush recomputes the merge from
// the batch snapshot and the speed store (nothing is cached between flushes) and the results are
// checked: the service's table and the classic one have the same row count and column sums.
// Also the event-loop delay p99 during the service's flushes against an idle period.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { GroupResult } from './figure.js';
import { createBatchTable, createSpeedTable, figure, fmtCount, median, METRIC_COLUMNS, psql, runScript, sleep, TABLE_DDL, waitFor, type Options, type Scope } from './lib.js';
import { startService, type Svc } from './svc.js';

/** work_mem for the classic session: with the default 4MB, `NOT IN (SELECT location FROM
 * batch_layer)` cannot hash 1M keys and PostgreSQL plans a per-row rescan of the subquery
 * (hours at this size). A baseline that never finishes measures nothing, so the classic SQL gets
 * the memory to hash it: a stronger baseline, never a weaker one. */
const CLASSIC_WORK_MEM = '256MB';

async function classicMerge(scope: Scope, schema: string): Promise<number> {
  const t = (n: string) => `${schema}.${n}`;
  const client = await scope.pool.connect();
  try {
    await client.query(`SET work_mem = '${CLASSIC_WORK_MEM}'`);
    const started = performance.now();
    await client.query(`CREATE TABLE ${t('classic_temp')} AS SELECT * FROM ${t('batch_layer')}`);
    await client.query(`UPDATE ${t('classic_temp')} AS s SET ${METRIC_COLUMNS.map((c) => `${c} = s.${c} + sp.${c}`).join(', ')}
      FROM ${t('speed_layer')} AS sp WHERE s.location = sp.location`);
    await client.query(`INSERT INTO ${t('classic_temp')} SELECT location, ${METRIC_COLUMNS.join(', ')}
      FROM ${t('speed_layer')} WHERE location NOT IN (SELECT location FROM ${t('batch_layer')})`);
    await client.query(`DROP TABLE IF EXISTS ${t('classic_serving')}`);
    await client.query(`ALTER TABLE ${t('classic_temp')} RENAME TO classic_serving`);
    return performance.now() - started;
  } finally {
    client.release();
  }
}

async function checksum(scope: Scope, table: string): Promise<string> {
  const { rows } = await scope.pool.query({
    text: `SELECT count(*)::text, count(DISTINCT location)::text, ${METRIC_COLUMNS.map((c) => `sum(${c})::text`).join(', ')} FROM ${table}`,
    rowMode: 'array',
  });
  return (rows[0] as string[]).join(',');
}

/** A second service with MERGE_STRATEGY=pushdown (ship only the speed part, merge in the
 * warehouse) on the same batch table and topic, when this build has that strategy; else why not. */
async function pushdownService(o: Options, scope: Scope, schema: string, topic: string): Promise<Svc | string> {
  try {
    const svc = await startService(scope, schema, topic, { MERGE_STRATEGY: 'pushdown', SERVING_TABLE: `${schema}.serving_pd` });
    await waitFor(() => svc.consumed() >= o.speedKeys, 60_000, 'the speed rows (pushdown service)');
    return svc;
  } catch (err) {
    return (err as Error).message;
  }
}

export async function flush(o: Options, scope: Scope): Promise<GroupResult> {
  const schema = await scope.schema();
  const t = (n: string) => `${schema}.${n}`;
  await createBatchTable(scope.pool, t('batch_layer'), o.batchKeys);
  await createSpeedTable(scope.pool, t('speed_layer'), o.batchKeys, o.speedKeys);
  const topic = await scope.topic(2);
  await runScript('producer.ts', { mode: 'all', topic, batchKeys: o.batchKeys, speedKeys: o.speedKeys });
  const svc = await startService(scope, schema, topic);
  await waitFor(() => svc.consumed() >= o.speedKeys && svc.service.store.keyCount === o.speedKeys, 60_000, 'the speed rows');
  const pushdown = o.pushdown ? await pushdownService(o, scope, schema, topic) : 'not asked for (--quick)';
  const expectedRows = o.batchKeys + o.speedKeys - Math.floor(o.speedKeys / 2);
  const file = join(tmpdir(), `${schema}_serving.tsv`);
  scope.defer(async () => rmSync(file, { force: true }));

  const idle = monitorEventLoopDelay({ resolution: 5 });
  idle.enable();
  await sleep(o.quick ? 2000 : 5000);
  idle.disable();

  // one histogram per flush: re-enabling a histogram counts the disabled gap as one long delay
  const during: Array<ReturnType<typeof monitorEventLoopDelay>> = [];
  const times = { service: [] as number[], classic: [] as number[], copy: [] as number[], pushdown: [] as number[] };
  let pushdownError = typeof pushdown === 'string' ? pushdown : undefined;
  for (let rep = 0; rep < o.reps; rep++) {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const started = performance.now();
    const r = await svc.service.flushNow();
    times.service.push(performance.now() - started);
    h.disable();
    during.push(h);
    if (r.rows !== expectedRows) throw new Error(`flush wrote ${r.rows} rows, expected ${expectedRows}`);
    if (rep === 0) await psql(`\\copy ${t('serving_layer')} to '${file}'`);

    times.classic.push(await classicMerge(scope, schema));

    if (typeof pushdown !== 'string' && pushdownError === undefined) {
      try {
        const started2 = performance.now();
        const r2 = await pushdown.service.flushNow();
        times.pushdown.push(performance.now() - started2);
        if (r2.rows !== expectedRows) pushdownError = `wrote ${r2.rows} rows, expected ${expectedRows}`;
      } catch (err) {
        pushdownError = (err as Error).message;
      }
    }

    await scope.pool.query(`DROP TABLE IF EXISTS ${t('copy_target')}`);
    await scope.pool.query(`CREATE TABLE ${t('copy_target')} ${TABLE_DDL}`);
    times.copy.push(await psql(`\\copy ${t('copy_target')} from '${file}'`));
  }
  const [mine, classic, copied] = [await checksum(scope, t('serving_layer')), await checksum(scope, t('classic_serving')), await checksum(scope, t('copy_target'))];
  const same = mine === classic && mine === copied;
  if (pushdownError === undefined && typeof pushdown !== 'string') {
    const pd = await checksum(scope, t('serving_pd'));
    if (pd !== classic) pushdownError = `RESULTS DIFFER from the classic merge: ${pd}`;
  }

  const size = `${fmtCount(o.batchKeys)} batch + ${fmtCount(o.speedKeys)} speed keys (half new) -> ${fmtCount(expectedRows)} rows, median of ${o.reps}`;
  const check = same ? `results checked equal (rows, distinct keys, column sums): ${mine}` : `RESULTS DIFFER: service ${mine} / classic ${classic} / copy ${copied}`;
  const fmt = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
  const ms = (h: typeof idle, q: number) => h.percentile(q) / 1e6;
  const p99s = during.map((h) => ms(h, 99));
  const figures = [
    figure('flush: merged rows written and swapped, vs classic SQL merge', median(times.service), 'ms', median(times.classic), 'ratio <= 0.5', {
      size, note: `service ${fmt(times.service)} ms; classic (work_mem ${CLASSIC_WORK_MEM}) ${fmt(times.classic)} ms; ${check}`,
    }),
    figure('flush: vs psql \\copy of the same rows into an empty table', median(times.service), 'ms', median(times.copy), 'ratio <= 1.5', {
      size, note: `psql \\copy ${fmt(times.copy)} ms (psql start included)`,
    }),
    figure('event-loop delay p99 during a flush (median of the flushes, vs idle)', median(p99s), 'ms', ms(idle, 99), 'reported', {
      size, note: `p99 per flush ${p99s.map((x) => x.toFixed(1)).join(', ')} ms; max per flush ${during.map((h) => ms(h, 100).toFixed(1)).join(', ')} ms; idle: max ${ms(idle, 100).toFixed(1)} ms (5 ms resolution)`,
    }),
  ];
  if (pushdownError === undefined) {
    figures.splice(1, 0, figure('flush with MERGE_STRATEGY=pushdown (speed part shipped, merged in SQL), vs classic SQL merge', median(times.pushdown), 'ms', median(times.classic), 'ratio <= 0.5', {
      size, note: `pushdown ${fmt(times.pushdown)} ms; not an issue-5 figure: shows whether the target is reachable by merging in the warehouse; result checked equal to the classic merge`,
    }));
  } else if (o.pushdown) {
    process.stderr.write(`flush: MERGE_STRATEGY=pushdown not measured: ${pushdownError}\n`);
  }
  if (!same) for (const f of figures) f.pass = false;
  return { figures };
}
