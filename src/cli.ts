// The `lambda-serving` command (bin/lambda-serving.mjs): start the service, ask a running one to
// flush, check a configuration, produce demo speed updates. Exit codes: 0 ok, 1 failure, 2 bad
// configuration, 64 bad usage.
import { parseArgs } from 'node:util';
import { describeConfig, loadConfig, parseDuration, type Config, type SpeedMode } from './config.js';
import { errorMessage, LsError } from './errors.js';
import { createLogger } from './log.js';
import { loadView, TWEET_VIEW } from './view.js';

type Env = Readonly<Record<string, string | undefined>>;

export const USAGE = `Usage: lambda-serving <command> [options]

The serving layer of a Lambda Architecture: speed-layer updates from Kafka merged with the
warehouse batch layer, served over HTTP and swapped into the warehouse.

Commands:
  start           Run the service. Configured by environment variables (README, Configuration).
                  With neither KAFKA_BROKERS nor WAREHOUSE_URL set it runs embedded: an in-process
                  PostgreSQL (PGlite) with a generated batch layer and generated speed updates.
  flush           Ask a running instance to write a snapshot now (POST /v1/flush with ADMIN_TOKEN).
                    --url URL       the instance (default: http://127.0.0.1:$PORT)
  check-config    Validate the environment: print every problem and exit 2, or a summary and exit 0.
  produce         Write Spark-format speed updates to a Kafka topic, for demos and load.
                    --rate N        records per second (default 100)
                    --topic T       topic (default speed_layer; created if missing)
                    --brokers B     comma-separated host:port list (default 127.0.0.1:9092)
                    --partitions P  partitions when the topic is created (default 2)
                    --duration D    stop after D (e.g. 30s; default: until Ctrl-C)
                    --mode M        totals | deltas (default totals; as SPEED_MODE of the service)
                    --view FILE     a VIEW_CONFIG file (default: the tweet view)
                    --bad-every N   one malformed record in N (default 0: none)

Options:
  -h, --help      Show this help.

Exit codes: 0 ok, 1 failure, 2 invalid configuration, 64 bad usage.
`;

export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Runs a command; resolves to the exit code (undefined: `start`, whose process lives on). */
export async function runCli(argv: readonly string[], env: Env, io: Io = stdio): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    (command === undefined ? io.err : io.out)(USAGE);
    return command === undefined ? 64 : 0;
  }
  try {
    switch (command) {
      case 'start':
        await import('./main.js'); // the composition root: reads the environment and runs until a signal
        return undefined;
      case 'check-config':
        return checkConfig(env, io);
      case 'flush':
        return await flush(rest, env, io);
      case 'produce':
        return await produce(rest, io);
      default:
        io.err(`lambda-serving: unknown command "${command}"\n\n${USAGE}`);
        return 64;
    }
  } catch (err) {
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`lambda-serving ${command}: ${err.message}\n`);
      return 64;
    }
    io.err(`lambda-serving ${command}: ${errorMessage(err)}\n`);
    return 1;
  }
}

/** The configuration, or undefined after printing every problem. */
function config(env: Env, io: Io): Config | undefined {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof LsError && err.code === 'LS_CONFIG') {
      io.err(`lambda-serving: ${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}

function checkConfig(env: Env, io: Io): number {
  const cfg = config(env, io);
  if (cfg === undefined) return 2;
  const lines = Object.entries(describeConfig(cfg)).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : v === undefined ? '(none)' : JSON.stringify(v)}`);
  io.out(`configuration OK (${cfg.mode} mode)\n${lines.join('\n')}\n`);
  return 0;
}

async function flush(args: readonly string[], env: Env, io: Io): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { url: { type: 'string' } }, strict: true });
  const cfg = config(env, io);
  if (cfg === undefined) return 2;
  if (cfg.adminToken === undefined) {
    io.err('lambda-serving flush: ADMIN_TOKEN is not set (the bearer token of the running instance)\n');
    return 2;
  }
  const host = ['0.0.0.0', '::', ''].includes(cfg.host) ? '127.0.0.1' : cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const url = `${(values.url ?? `http://${host}:${cfg.port}`).replace(/\/$/, '')}/v1/flush`;
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${cfg.adminToken}` }, signal: AbortSignal.timeout(10 * 60_000) });
  const body = await res.text();
  if (res.ok) {
    io.out(`${body}\n`);
    return 0;
  }
  io.err(`lambda-serving flush: ${url} answered ${res.status}: ${body}\n`);
  return 1;
}

async function produce(args: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      rate: { type: 'string', default: '100' },
      topic: { type: 'string', default: 'speed_layer' },
      brokers: { type: 'string', default: '127.0.0.1:9092' },
      partitions: { type: 'string', default: '2' },
      duration: { type: 'string' },
      mode: { type: 'string', default: 'totals' },
      view: { type: 'string' },
      'bad-every': { type: 'string', default: '0' },
    },
  });
  const problems: string[] = [];
  const int = (name: string, v: string, min: number) => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min) problems.push(`--${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  const rate = int('rate', values.rate, 1);
  const partitions = int('partitions', values.partitions, 1);
  const badEvery = int('bad-every', values['bad-every'], 0);
  const durationMs = values.duration === undefined ? undefined : parseDuration(values.duration);
  if (values.duration !== undefined && durationMs === undefined) problems.push(`--duration must be a duration like 30s, got "${values.duration}"`);
  if (values.mode !== 'totals' && values.mode !== 'deltas') problems.push(`--mode must be totals or deltas, got "${values.mode}"`);
  if (problems.length > 0) {
    io.err(`lambda-serving produce:\n  - ${problems.join('\n  - ')}\n`);
    return 64;
  }
  const { runProducer } = await import('./embedded/produce.js');
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const log = createLogger('info');
  try {
    await runProducer({
      brokers: values.brokers.split(',').map((b) => b.trim()).filter(Boolean),
      topic: values.topic, rate, partitions, badEvery, mode: values.mode as SpeedMode,
      view: values.view === undefined ? TWEET_VIEW : loadView(values.view),
      ...(durationMs === undefined ? {} : { durationMs }),
      log, signal: abort.signal,
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    log.flush();
  }
  return 0;
}
