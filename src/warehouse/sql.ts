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

  selectBatch: (view: View, t: TableName) => `SELECT ${columns(view)} FROM ${qualified(t)}`,

  dropTableIfExists: (t: TableName) => `DROP TABLE IF EXISTS ${qualified(t)}`,

  createStaging: (view: View, t: TableName, d: DialectProfile) =>
    `CREATE TABLE ${qualified(t)} (${ident(view.keyColumn)} ${d.keyType}, ${view.metrics.map((m) => `${ident(m.column)} bigint NOT NULL`).join(', ')})`,

  createSpeedState: (view: View, t: TableName, d: DialectProfile) =>
    `CREATE TABLE ${qualified(t)} (ls_partition integer NOT NULL, ls_offset bigint NOT NULL, ls_kind char(1) NOT NULL, ls_key ${d.keyType}, ls_window_start bigint, ls_window_end bigint, ls_version bigint NOT NULL, ${view.metrics.map((m) => `${ident(m.column)} bigint NOT NULL`).join(', ')})`,

  selectSpeedState: (view: View, t: TableName) =>
    `SELECT ${speedStateColumns(view).map(ident).join(', ')} FROM ${qualified(t)} WHERE ls_partition = $1`,

  /** Redshift COPY of a gzip CSV object written by s3.ts (csvLine's format). Redshift string
   * literals take backslash escapes: the SQL text '\\N' is the null string \N that csvLine writes. */
  copyFromS3: (t: TableName, cols: readonly string[], bucket: string, key: string, region: string, authorization: string) =>
    `COPY ${qualified(t)} (${cols.map(ident).join(', ')}) FROM 's3://${`${bucket}/${key}`.replace(/'/g, "''")}' ${authorization} FORMAT AS CSV GZIP NULL AS '\\\\N' REGION '${region.replace(/'/g, "''")}'`,

  copyIn: (t: TableName, cols: readonly string[]) => `COPY ${qualified(t)} (${cols.map(ident).join(', ')}) FROM STDIN`,

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
