// The benchmark (issue 5): `npm run bench [-- options]`. Every figure is compared with a baseline
// measured in the same run, on this machine, against the real Kafka broker and PostgreSQL
// (scripts/services.sh start). Each figure group runs in a fresh process (bench/figure.ts) with
// its own schema, topic and consumer group; whatever a crashed group leaves is swept by prefix.
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { GroupResult } from './figure.js';
import { BROKERS, DATABASE_URL, kafka, run, runId, sweep, type Figure, type Options } from './lib.js';

const ORDER = ['ingest', 'reads', 'freshness', 'flush', 'batchload', 'memory'] as const;

const USAGE = `npm run bench -- [--quick] [--json FILE] [--only ${ORDER.join(',')}]
  [--batch-keys N] [--speed-keys N] [--ingest-records N] [--seconds N] [--reps N] [--verbose]
  default    the issue's sizes: 1M batch keys, 100k speed keys (half new), 1M ingest records,
             10 s read runs, and a flush with MERGE_STRATEGY=pushdown besides the in-process one
  --quick    under 3 minutes: the same 1M batch + 100k speed keys (flush, batch load and memory
             are defined at that size), 200k ingest records, 2 s read runs, no pushdown flush
  --json     writes {"figures":[{"name","value","unit","baseline","ratio","target","pass",...}]}
  --only     runs these groups (without ingest, "half the max rate" assumes 20k updates/s)
Needs Kafka on ${BROKERS.join(',')} (KAFKA_BROKERS) and PostgreSQL at ${DATABASE_URL} (BENCH_DATABASE_URL):
scripts/services.sh start`;

interface Args { opts: Options; json: string | undefined; only: string[] }

function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--quick' || a === '--verbose' || a === '--help' || a === '-h') bools.add(a);
    else if (a.startsWith('--') && i + 1 < argv.length) flags.set(a, argv[++i] as string);
    else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  if (bools.has('--help') || bools.has('-h')) { process.stdout.write(`${USAGE}\n`); process.exit(0); }
  const known = ['--json', '--only', '--batch-keys', '--speed-keys', '--ingest-records', '--seconds', '--reps'];
  for (const k of flags.keys()) if (!known.includes(k)) throw new Error(`unknown option ${k}\n${USAGE}`);
  const quick = bools.has('--quick');
  const int = (k: string, dflt: number, min: number) => {
    const v = flags.get(k);
    const n = v === undefined ? dflt : Number(v.replace(/[_,]/g, '').replace(/k$/i, '000').replace(/m$/i, '000000'));
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`${k} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  const only = (flags.get('--only') ?? ORDER.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const g of only) if (!(ORDER as readonly string[]).includes(g)) throw new Error(`--only: unknown group "${g}" (${ORDER.join(', ')})`);
  const opts: Options = {
    quick,
    prefix: `lsb_${runId()}`,
    batchKeys: int('--batch-keys', 1_000_000, 2),
    speedKeys: int('--speed-keys', 100_000, 2),
    ingestRecords: int('--ingest-records', quick ? 200_000 : 1_000_000, 1000),
    readSeconds: int('--seconds', quick ? 2 : 10, 1),
    reps: int('--reps', 3, 1),
    pushdown: !quick,
    maxIngestRate: undefined,
    verbose: bools.has('--verbose'),
  };
  return { opts, json: flags.get('--json'), only };
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    memoryGB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

/** Fails fast, with the fix, when the broker or the database does not answer. */
async function checkServices(): Promise<string> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1, connectionTimeoutMillis: 5000 });
  pool.on('error', () => undefined);
  let version: string;
  try {
    version = (await pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '?';
  } catch (err) {
    throw new Error(`PostgreSQL at ${DATABASE_URL} does not answer (${(err as Error).message}): run scripts/services.sh start`);
  } finally {
    await pool.end();
  }
  const psqlVersion = await run('psql', ['--version']).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
  if (psqlVersion.code !== 0) throw new Error(`psql (the PostgreSQL client) is needed for the \\copy baselines and was not found (${psqlVersion.stderr.trim()}): apt-get install postgresql-client`);
  const admin = kafka.admin({ retry: { retries: 1 } });
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (err) {
    throw new Error(`Kafka at ${BROKERS.join(',')} does not answer (${(err as Error).message}): run scripts/services.sh start`);
  } finally {
    await admin.disconnect();
  }
  return version;
}

async function runGroup(name: string, opts: Options, dir: string): Promise<GroupResult> {
  const out = join(dir, `${name}.json`);
  const script = new URL('figure.ts', import.meta.url).pathname;
  const r = await run(process.execPath, ['--expose-gc', '--import', 'tsx', script, name, JSON.stringify(opts), out]);
  if (opts.verbose || r.code !== 0) process.stderr.write(r.stdout + r.stderr);
  if (r.code !== 0) throw new Error(`figure group "${name}" failed (exit ${r.code})`);
  return JSON.parse(readFileSync(out, 'utf8')) as GroupResult;
}

function num(x: number | null): string {
  if (x === null || Number.isNaN(x)) return '-';
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(x);
}

function table(figures: Figure[]): string {
  const rows = figures.map((f, i) => [
    `${i + 1}. ${f.name}`, `${num(f.value)} ${f.unit}`, f.baseline === null ? '-' : `${num(f.baseline)} ${f.unit}`,
    f.ratio === null ? '-' : f.ratio.toFixed(2), f.target, f.pass === null ? '-' : f.pass ? 'PASS' : 'FAIL',
  ]);
  const head = ['figure', 'value', 'baseline (same run)', 'ratio', 'target', 'pass'];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((s, c) => s.padEnd(w[c] as number)).join(' | ')} |`;
  const notes = figures.map((f, i) => `  ${i + 1}. ${[f.size, f.note].filter(Boolean).join('; ')}`);
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line), '', 'sizes and notes:', ...notes].join('\n');
}

async function main(): Promise<void> {
  const { opts, json, only } = parseArgs(process.argv.slice(2));
  const m = machine();
  const started = performance.now();
  process.stdout.write(`lambda-serving bench${opts.quick ? ' --quick' : ''}: ${m.cpus} x ${m.model}, ${m.memoryGB} GB, node ${m.node}, ${m.os}\n`);
  const pgVersion = await checkServices();
  process.stdout.write(`PostgreSQL ${pgVersion} at ${DATABASE_URL}, Kafka at ${BROKERS.join(',')}; run prefix ${opts.prefix}\n`);
  process.stdout.write(`sizes: batch ${opts.batchKeys} keys, speed ${opts.speedKeys} keys, ingest ${opts.ingestRecords} records, reads ${opts.readSeconds} s, ${opts.reps} reps\n\n`);

  const dir = mkdtempSync(join(os.tmpdir(), 'lsbench-'));
  const figures: Figure[] = [];
  const failed: string[] = [];
  let o = opts;
  try {
    for (const name of ORDER.filter((g) => only.includes(g))) {
      const t0 = performance.now();
      process.stderr.write(`[${name}] running...`);
      try {
        const r = await runGroup(name, o, dir);
        figures.push(...r.figures);
        if (r.info?.maxIngestRate !== undefined) o = { ...o, maxIngestRate: r.info.maxIngestRate };
        process.stderr.write(` ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      } catch (err) {
        failed.push(name);
        process.stderr.write(`\n[${name}] ${(err as Error).message}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    const left = await sweep(opts.prefix).catch((err: Error) => [`(sweep failed: ${err.message})`]);
    if (left.length > 0) process.stderr.write(`swept leftovers: ${left.join(', ')}\n`);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`\n${table(figures)}\n\n${figures.filter((f) => f.pass === false).length} of ${figures.filter((f) => f.pass !== null).length} targets missed; ${seconds.toFixed(0)} s${failed.length ? `; FAILED groups: ${failed.join(', ')}` : ''}\n`);
  if (json !== undefined) {
    writeFileSync(json, `${JSON.stringify({ figures, machine: m, options: { ...opts, maxIngestRate: o.maxIngestRate }, seconds: Math.round(seconds), failedGroups: failed }, null, 2)}\n`);
    process.stdout.write(`wrote ${json}\n`);
  }
  process.exitCode = failed.length > 0 ? 1 : 0;
}

main().then(
  () => process.exit(),
  (err: unknown) => { process.stderr.write(`bench: ${(err as Error).message}\n`); process.exit(2); },
);
