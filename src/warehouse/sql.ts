// Every SQL statement this service sends, one function each. Identifiers are validated at
// config time and quoted here; values always travel as parameters.
import type { View } from '../view.js';
import type { DialectProfile } from './dialect.js';

export interface TableName {
  readonly schema: string | undefined;
  readonly name: string;
}

export function parseTable(qualified: string): TableName {
  const dot = qualified.indexOf('.');
  return dot < 0 ? { schema: undefined, name: qualified } : { schema: qualified.slice(0, dot), name: qualified.slice(dot + 1) };
}

/** A table next to another one: same schema, derived name. */
export function sibling(t: TableName, suffix: string): TableName {
  return { schema: t.schema, name: `${t.name}${suffix}` };
}

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualified(t: TableName): string {
  return t.schema === undefined ? ident(t.name) : `${ident(t.schema)}.${ident(t.name)}`;
}

function columns(view: View): string {
  return viewColumns(view).map(ident).join(', ');
}

export function viewColumns(view: View): string[] {
  return [view.keyColumn, ...view.metrics.map((m) => m.column)];
}

/** Columns of the speed-state table (the checkpointed speed layer), in write order. */
export function speedStateColumns(view: View): string[] {
  return ['ls_partition', 'ls_offset', 'ls_kind', 'ls_key', 'ls_window_start', 'ls_window_end', 'ls_version', ...view.metrics.map((m) => m.column)];
}

export const sql = {
  version: () => 'SELECT version() AS version',

  tableExists: (t: TableName) => ({
    text: `SELECT 1 FROM information_schema.tables WHERE table_schema = COALESCE($1, current_schema()) AND table_name = $2`,
    values: [t.schema ?? null, t.name],
  }),

  /** The planner's row count of a table (pg_class.reltuples, kept by ANALYZE and VACUUM, also in
   * Redshift's catalog): a hint only; -1 or 0 when never analyzed, no row when not found. */
  estimateRows: (t: TableName) => ({
    text: `SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = COALESCE($1, current_schema()) AND c.relname = $2`,
    values: [t.schema ?? null, t.name],
  }),

  selectBatch: (view: View, t: TableName) => `SELECT ${columns(view)} FROM ${qualified(t)}`,

  /** The batch table as COPY text (PostgreSQL); the same rows as selectBatch. */
  copyBatchOut: (view: View, t: TableName) => `COPY (SELECT ${columns(view)} FROM ${qualified(t)}) TO STDOUT`,

  dropTableIfExists: (t: TableName) => `DROP TABLE IF EXISTS ${qualified(t)}`,

  createStaging: (view: View, t: TableName, d: DialectProfile) =>
    `CREATE TABLE ${qualified(t)} (${ident(view.keyColumn)} ${d.keyType}, ${view.metrics.map((m) => `${ident(m.column)} bigint NOT NULL`).join(', ')})`,

  createSpeedState: (view: View, t: TableName, d: DialectProfile) =>
    `CREATE TABLE ${qualified(t)} (ls_partition integer NOT NULL, ls_offset bigint NOT NULL, ls_kind char(1) NOT NULL, ls_key ${d.keyType}, ls_window_start bigint, ls_window_end bigint, ls_version bigint NOT NULL, ${view.metrics.map((m) => `${ident(m.column)} bigint NOT NULL`).join(', ')})`,

  /** The speed part of a pushdown flush: one row per key; the NULL key travels as ('', true)
   * so the join below can match it with a plain equality (Redshift has no IS NOT DISTINCT FROM). */
  createDelta: (view: View, t: TableName, d: DialectProfile) =>
    `CREATE TABLE ${qualified(t)} (ls_key ${d.keyType} NOT NULL, ls_key_null boolean NOT NULL, ${view.metrics.map((m) => `${ident(m.column)} bigint NOT NULL`).join(', ')})`,

  /** Pushdown merge: batch (duplicates summed, as in memory) FULL OUTER JOIN the speed part. */
  insertMergedPushdown: (view: View, next: TableName, batch: TableName, delta: TableName) => {
    const key = ident(view.keyColumn);
    const ms = view.metrics.map((m) => ident(m.column));
    return `INSERT INTO ${qualified(next)} (${columns(view)}) `
      + `SELECT CASE WHEN COALESCE(b.ls_key_null, s.ls_key_null) THEN NULL ELSE COALESCE(b.ls_key, s.ls_key) END, `
      + ms.map((m) => `COALESCE(b.${m}, 0) + COALESCE(s.${m}, 0)`).join(', ')
      + ` FROM (SELECT COALESCE(${key}, '') AS ls_key, ${key} IS NULL AS ls_key_null, ${ms.map((m) => `SUM(COALESCE(${m}, 0)) AS ${m}`).join(', ')} FROM ${qualified(batch)} GROUP BY 1, 2) AS b`
      + ` FULL OUTER JOIN ${qualified(delta)} AS s ON b.ls_key = s.ls_key AND b.ls_key_null = s.ls_key_null`;
  },

  /** Point lookup of one key in the batch table (pushdown reads). */
  selectBatchKey: (view: View, t: TableName, isNull: boolean) =>
    `SELECT ${view.metrics.map((m) => `SUM(COALESCE(${ident(m.column)}, 0))`).join(', ')}, COUNT(*) FROM ${qualified(t)} WHERE ${ident(view.keyColumn)} ${isNull ? 'IS NULL' : '= $1'}`,

  /** Top rows of the last swapped serving table (pushdown: /v1/top as of the last snapshot). */
  selectServingTop: (view: View, t: TableName, metric: string, limit: number) =>
    `SELECT ${columns(view)} FROM ${qualified(t)} ORDER BY ${ident(metric)} DESC, ${ident(view.keyColumn)} LIMIT ${Math.max(1, Math.floor(limit))}`,

  selectSpeedState: (view: View, t: TableName) =>
    `SELECT ${speedStateColumns(view).map(ident).join(', ')} FROM ${qualified(t)} WHERE ls_partition = $1`,

  /** Redshift COPY of a gzip CSV object written by s3.ts (csvLine's format). Redshift string
   * literals take backslash escapes: the SQL text '\\N' is the null string \N that csvLine writes. */
  copyFromS3: (t: TableName, cols: readonly string[], bucket: string, key: string, region: string, authorization: string) =>
    `COPY ${qualified(t)} (${cols.map(ident).join(', ')}) FROM 's3://${`${bucket}/${key}`.replace(/'/g, "''")}' ${authorization} FORMAT AS CSV GZIP NULL AS '\\\\N' REGION '${region.replace(/'/g, "''")}'`,

  copyIn: (t: TableName, cols: readonly string[], format: 'text' | 'binary') =>
    `COPY ${qualified(t)} (${cols.map(ident).join(', ')}) FROM STDIN${format === 'binary' ? ' WITH (FORMAT binary)' : ''}`,

  /** INSERT of `rows` rows with positional parameters. */
  insertRows: (t: TableName, cols: readonly string[], rows: number) => {
    const width = cols.length;
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
      const ps: string[] = [];
      for (let c = 1; c <= width; c++) ps.push(`$${r * width + c}`);
      tuples.push(`(${ps.join(', ')})`);
    }
    return `INSERT INTO ${qualified(t)} (${cols.map(ident).join(', ')}) VALUES ${tuples.join(', ')}`;
  },

  /** grantee: a role/user name, or `group:name` (Redshift user groups). */
  grantSelect: (t: TableName, grantee: string) =>
    grantee.startsWith('group:') ? `GRANT SELECT ON ${qualified(t)} TO GROUP ${ident(grantee.slice(6))}` : `GRANT SELECT ON ${qualified(t)} TO ${ident(grantee)}`,

  renameTable: (from: TableName, toName: string) => `ALTER TABLE ${qualified(from)} RENAME TO ${ident(toName)}`,

  setStatementTimeout: (ms: number) => `SET statement_timeout TO ${Math.max(0, Math.floor(ms))}`,

  setLockTimeout: (ms: number) => `SET LOCAL lock_timeout = ${Math.max(1, Math.floor(ms))}`,

  createCheckpointTable: (t: TableName) =>
    `CREATE TABLE IF NOT EXISTS ${qualified(t)} (snapshot_id bigint NOT NULL, serving_table varchar(256) NOT NULL, created_at timestamp NOT NULL, row_count bigint NOT NULL, batch_watermark_ms bigint, kafka_offsets varchar(65535) NOT NULL)`,

  insertCheckpoint: (t: TableName) => ({
    text: `INSERT INTO ${qualified(t)} (snapshot_id, serving_table, created_at, row_count, batch_watermark_ms, kafka_offsets) VALUES ($1, $2, $3, $4, $5, $6)`,
  }),

  pruneCheckpoints: (t: TableName) => `DELETE FROM ${qualified(t)} WHERE serving_table = $1 AND snapshot_id < $2`,

  latestCheckpoint: (t: TableName) =>
    `SELECT snapshot_id, created_at, row_count, batch_watermark_ms, kafka_offsets FROM ${qualified(t)} WHERE serving_table = $1 ORDER BY snapshot_id DESC LIMIT 1`,
} as const;
