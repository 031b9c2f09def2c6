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
  return [view.keyColumn, ...view.metrics.map((m) => m.column)].map(ident).join(', ');
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

  copyIn: (view: View, t: TableName) => `COPY ${qualified(t)} (${columns(view)}) FROM STDIN`,

  /** INSERT of `rows` rows with positional parameters. */
  insertRows: (view: View, t: TableName, rows: number) => {
    const width = 1 + view.metrics.length;
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
      const ps: string[] = [];
      for (let c = 1; c <= width; c++) ps.push(`$${r * width + c}`);
      tuples.push(`(${ps.join(', ')})`);
    }
    return `INSERT INTO ${qualified(t)} (${columns(view)}) VALUES ${tuples.join(', ')}`;
  },

  renameTable: (from: TableName, toName: string) => `ALTER TABLE ${qualified(from)} RENAME TO ${ident(toName)}`,

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
