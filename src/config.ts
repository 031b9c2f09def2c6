// Configuration: environment variables, validated once at start. Every problem is collected and
// reported together; the result is frozen and typed. No other module reads process.env.
import { LsError } from './errors.js';
import type { S3Settings } from './warehouse/s3.js';
import { isIdentifier, loadView, TWEET_VIEW, type View } from './view.js';

export type SpeedMode = 'totals' | 'deltas';
export type Dialect = 'auto' | 'postgres' | 'redshift' | 'embedded';
/** external: KAFKA_BROKERS and WAREHOUSE_URL; embedded: neither set, an in-process warehouse (PGlite)
 * and speed source (src/embedded/). */
export type Mode = 'embedded' | 'external';

export interface Config {
  readonly mode: Mode;
  readonly kafkaBrokers: readonly string[];
  readonly kafkaClientId: string;
  readonly speedTopic: string;
  readonly kafkaGroupId: string;
  readonly deadLetterTopic: string | undefined;
  readonly kafkaSessionTimeoutMs: number;
  readonly warehouseUrl: string;
  readonly warehouseDialect: Dialect;
  readonly batchTable: string;
  readonly servingTable: string;
  readonly flushIntervalMs: number;
  readonly batchReloadIntervalMs: number;
  readonly port: number;
  readonly host: string;
  readonly adminToken: string | undefined;
  readonly logLevel: string;
  readonly view: View;
  readonly speedMode: SpeedMode;
  readonly batchWatermarkSql: string | undefined;
  readonly maxRecordBytes: number;
  readonly cacheMaxEntries: number;
  readonly maxKeysPerRequest: number;
  readonly shutdownTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly queryTimeoutMs: number;
  readonly warehouseSsl: 'disable' | 'require' | 'verify' | undefined;
  /** Redshift bulk path through S3 (COPY FROM 's3://'); undefined: multi-row INSERT chunks. */
  readonly s3: S3Settings | undefined;
  /** Roles (or `group:name`) granted SELECT on each new serving table. */
  readonly servingReaders: readonly string[];
  /** in-process: merge in memory and bulk-write the result; pushdown: merge in the warehouse. */
  readonly mergeStrategy: 'in-process' | 'pushdown';
  /** Testing only: kill the process at this flush point (bulk-write, swap-before-commit, swap-after-commit). */
  readonly crashAt: string | undefined;
  /** Embedded mode: speed updates per second of the in-process source. */
  readonly embeddedRate: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Parses `500ms`, `2s`, `15m`, `1h`, `1d` or plain milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  const ms = Number(m[1]) * unit;
  return Number.isSafeInteger(Math.round(ms)) ? Math.round(ms) : undefined;
}

/** A table name: an identifier, optionally schema-qualified (`schema.table`). */
export function isTableName(s: string): boolean {
  const parts = s.split('.');
  return parts.length <= 2 && parts.every(isIdentifier);
}

type Env = Readonly<Record<string, string | undefined>>;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  required(name: string, hint: string): string {
    const v = this.raw(name);
    if (v === undefined) this.problems.push(`${name} is required (${hint})`);
    return v ?? '';
  }

  oneOf<T extends string>(name: string, choices: readonly T[], dflt: T): T {
    const v = this.raw(name);
    if (v === undefined) return dflt;
    if (!choices.includes(v as T)) this.problems.push(`${name} must be one of ${choices.join(' | ')}, got "${v}"`);
    return (choices.includes(v as T) ? v : dflt) as T;
  }

  duration(name: string, dflt: string, min = 0): number {
    const v = this.raw(name) ?? dflt;
    const ms = parseDuration(v);
    if (ms === undefined) this.problems.push(`${name} must be a duration like 500ms, 2s, 15m, 1h or plain milliseconds, got "${v}"`);
    else if (ms < min) this.problems.push(`${name} must be at least ${min}ms, got "${v}"`);
    return ms ?? 0;
  }

  int(name: string, dflt: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return dflt;
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
      return dflt;
    }
    return n;
  }

  table(name: string, dflt: string): string {
    const v = this.raw(name) ?? dflt;
    if (!isTableName(v)) this.problems.push(`${name} must be a table name ([schema.]identifier of letters, digits, _), got "${v}"`);
    return v;
  }

  topic(name: string, dflt: string | undefined): string | undefined {
    const v = this.raw(name) ?? dflt;
    if (v !== undefined && !/^[A-Za-z0-9._-]{1,249}$/.test(v)) this.problems.push(`${name} must be a Kafka topic name ([A-Za-z0-9._-], at most 249), got "${v}"`);
    return v;
  }
}

const BROKERS_HINT = 'comma-separated host:port list, e.g. localhost:9092';
const WAREHOUSE_HINT = 'postgres://user:password@host:port/database, or redshift://...:5439/...';

/** Both KAFKA_BROKERS and WAREHOUSE_URL: external; neither: embedded; one: a problem naming the other. */
function deploymentMode(r: Reader): Mode {
  const kafka = r.raw('KAFKA_BROKERS') !== undefined;
  const warehouse = r.raw('WAREHOUSE_URL') !== undefined;
  if (!kafka && !warehouse) return 'embedded';
  if (!warehouse) r.problems.push(`WAREHOUSE_URL is required when KAFKA_BROKERS is set (${WAREHOUSE_HINT}); set neither to run embedded`);
  if (!kafka) r.problems.push(`KAFKA_BROKERS is required when WAREHOUSE_URL is set (${BROKERS_HINT}); set neither to run embedded`);
  return 'external';
}

function brokers(r: Reader): string[] {
  const v = r.raw('KAFKA_BROKERS') ?? ''; // absent: reported by deploymentMode
  if (v === '') return [];
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const b of list) {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) r.problems.push(`KAFKA_BROKERS entry "${b}" must be host:port`);
  }
  return list;
}

function warehouseUrl(r: Reader): string {
  const v = r.raw('WAREHOUSE_URL') ?? ''; // absent: reported by deploymentMode
  if (v === '') return v;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    url = undefined;
  }
  // The URL may hold a password: never echo it back.
  if (!url || !['postgres:', 'postgresql:', 'redshift:'].includes(url.protocol)) {
    r.problems.push('WAREHOUSE_URL must be a postgres://, postgresql:// or redshift:// URL (value not shown: it may hold a password)');
  }
  return v;
}

function view(r: Reader): View {
  const path = r.raw('VIEW_CONFIG');
  if (path === undefined) return TWEET_VIEW;
  try {
    return loadView(path);
  } catch (err) {
    r.problems.push(`VIEW_CONFIG: ${(err as Error).message}`);
    return TWEET_VIEW;
  }
}

function readers(r: Reader): string[] {
  const list = (r.raw('SERVING_READERS') ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  for (const g of list) if (!isIdentifier(g.replace(/^group:/, ''))) r.problems.push(`SERVING_READERS entry "${g}" must be a role name or group:name`);
  return list;
}

function s3Settings(r: Reader): S3Settings | undefined {
  const bucket = r.raw('S3_BUCKET');
  if (bucket === undefined) return undefined;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) r.problems.push(`S3_BUCKET must be an S3 bucket name, got "${bucket}"`);
  const endpoint = r.raw('S3_ENDPOINT');
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) r.problems.push(`S3_ENDPOINT must be an http(s) URL, got "${endpoint}"`);
  const s: S3Settings = {
    bucket,
    prefix: r.raw('S3_PREFIX') ?? 'lambda-serving/',
    region: r.raw('S3_REGION') ?? 'us-east-1',
    endpoint,
    uploadAccessKeyId: r.raw('S3_ACCESS_KEY_ID'),
    uploadSecretAccessKey: r.raw('S3_SECRET_ACCESS_KEY'),
    copyIamRole: r.raw('REDSHIFT_IAM_ROLE'),
    copyAccessKeyId: r.raw('REDSHIFT_COPY_ACCESS_KEY_ID'),
    copySecretAccessKey: r.raw('REDSHIFT_COPY_SECRET_ACCESS_KEY'),
  };
  if (s.copyIamRole === undefined && (s.copyAccessKeyId === undefined || s.copySecretAccessKey === undefined)) {
    r.problems.push('S3_BUCKET needs REDSHIFT_IAM_ROLE, or REDSHIFT_COPY_ACCESS_KEY_ID and REDSHIFT_COPY_SECRET_ACCESS_KEY, for Redshift to read the staged files');
  }
  if (s.copyIamRole !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(s.copyIamRole)) r.problems.push(`REDSHIFT_IAM_ROLE must be an IAM role ARN (arn:aws:iam::123456789012:role/name), got "${s.copyIamRole}"`);
  if ((s.uploadAccessKeyId === undefined) !== (s.uploadSecretAccessKey === undefined)) r.problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (values not shown)');
  return Object.freeze(s);
}

/** Reads and validates the configuration; throws one LsError listing every problem. */
export function loadConfig(env: Env): Config {
  const r = new Reader(env);
  const mode = deploymentMode(r);
  const external = mode === 'external';
  const dialect = r.oneOf<Dialect>('WAREHOUSE_DIALECT', ['auto', 'postgres', 'redshift'], 'auto');
  const cfg: Config = {
    mode,
    kafkaBrokers: external ? brokers(r) : [],
    kafkaClientId: r.raw('KAFKA_CLIENT_ID') ?? 'lambda-serving',
    speedTopic: r.topic('SPEED_TOPIC', 'speed_layer') as string,
    kafkaGroupId: r.raw('KAFKA_GROUP_ID') ?? 'lambda-serving',
    deadLetterTopic: r.topic('DEAD_LETTER_TOPIC', undefined),
    kafkaSessionTimeoutMs: r.duration('KAFKA_SESSION_TIMEOUT', '10s', 6000),
    warehouseUrl: external ? warehouseUrl(r) : '', // embedded: set when the embedded warehouse listens
    warehouseDialect: external ? dialect : 'embedded',
    batchTable: r.table('BATCH_TABLE', 'batch_layer'),
    servingTable: r.table('SERVING_TABLE', 'serving_layer'),
    // embedded: short, so a newcomer sees snapshots being swapped in within seconds
    flushIntervalMs: r.duration('FLUSH_INTERVAL', external ? '60s' : '10s', 100),
    batchReloadIntervalMs: r.duration('BATCH_RELOAD_INTERVAL', '15m', 100),
    port: r.int('PORT', 3000, 0, 65535),
    host: r.raw('HOST') ?? '0.0.0.0',
    adminToken: r.raw('ADMIN_TOKEN'),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    view: view(r),
    speedMode: r.oneOf<SpeedMode>('SPEED_MODE', ['totals', 'deltas'], 'totals'),
    batchWatermarkSql: r.raw('BATCH_WATERMARK_SQL'),
    maxRecordBytes: r.int('MAX_RECORD_BYTES', 1_048_576, 64, 100 * 1_048_576),
    cacheMaxEntries: r.int('CACHE_MAX_ENTRIES', 100_000, 1, 10_000_000),
    maxKeysPerRequest: r.int('MAX_KEYS_PER_REQUEST', 100, 1, 10_000),
    shutdownTimeoutMs: r.duration('SHUTDOWN_TIMEOUT', '20s', 100),
    statementTimeoutMs: r.duration('WAREHOUSE_STATEMENT_TIMEOUT', '10m', 0),
    queryTimeoutMs: r.duration('WAREHOUSE_QUERY_TIMEOUT', '0', 0),
    warehouseSsl: r.raw('WAREHOUSE_SSL') === undefined ? undefined : r.oneOf('WAREHOUSE_SSL', ['disable', 'require', 'verify'] as const, 'require'),
    s3: s3Settings(r),
    servingReaders: readers(r),
    mergeStrategy: r.oneOf('MERGE_STRATEGY', ['in-process', 'pushdown'] as const, 'in-process'),
    crashAt: r.oneOf<string>('LS_CRASH_AT', ['', 'bulk-write', 'swap-before-commit', 'swap-after-commit'], '') || undefined,
    embeddedRate: r.int('EMBEDDED_RATE', 200, 0, 100_000),
  };
  const admin = cfg.adminToken;
  if (admin !== undefined && admin.length < 16) r.problems.push('ADMIN_TOKEN must be at least 16 characters (value not shown)');
  if (cfg.servingTable === cfg.batchTable) r.problems.push('SERVING_TABLE must differ from BATCH_TABLE');
  if (r.problems.length > 0) {
    throw new LsError('LS_CONFIG', `${r.problems.length} problem(s):\n  - ${r.problems.join('\n  - ')}`);
  }
  return Object.freeze(cfg);
}

/** What may be logged about a configuration: no password, no token. */
export function describeConfig(cfg: Config): Record<string, unknown> {
  let warehouse = '(embedded, not started yet)';
  try {
    const u = new URL(cfg.warehouseUrl);
    warehouse = `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    if (cfg.warehouseUrl !== '') warehouse = '(unparseable url)';
  }
  const embedded = cfg.mode === 'embedded' ? { embeddedRate: cfg.embeddedRate } : {};
  return {
    mode: cfg.mode, ...embedded,
    kafkaBrokers: cfg.kafkaBrokers, speedTopic: cfg.speedTopic, kafkaGroupId: cfg.kafkaGroupId,
    warehouse, warehouseDialect: cfg.warehouseDialect, batchTable: cfg.batchTable, servingTable: cfg.servingTable,
    flushIntervalMs: cfg.flushIntervalMs, batchReloadIntervalMs: cfg.batchReloadIntervalMs,
    port: cfg.port, host: cfg.host, adminToken: cfg.adminToken ? '(set)' : '(not set: POST /v1/flush disabled)',
    speedMode: cfg.speedMode, batchWatermarkSql: cfg.batchWatermarkSql !== undefined, mergeStrategy: cfg.mergeStrategy,
    s3: cfg.s3 ? { bucket: cfg.s3.bucket, prefix: cfg.s3.prefix, region: cfg.s3.region, endpoint: cfg.s3.endpoint, copyAuth: cfg.s3.copyIamRole ? 'iam role' : 'keys (not shown)' } : undefined,
    view: { key: cfg.view.keyColumn, metrics: cfg.view.metrics.map((m) => m.column) },
  };
}

/** The process environment, read here and nowhere else. */
export function loadConfigFromEnv(): Config {
  return loadConfig(process.env);
}
