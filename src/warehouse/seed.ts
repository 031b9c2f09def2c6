// The statements that create and fill the demo warehouse of embedded mode: a batch table of the
// view and a one-row table with its watermark (the batch holds every event before it).
// Values travel as parameters; identifiers are quoted as in ./sql.ts.
import type { Key } from '../speed/decode.js';
import type { View } from '../view.js';
import { ident, qualified, sibling, sql, viewColumns, type TableName } from './sql.js';

/** Runs one statement with parameters (PGlite's query, or a pg client's). */
export type Execute = (text: string, params?: unknown[]) => Promise<unknown>;

export const seedSql = {
  createSchema: (schema: string) => `CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`,

  createBatchTable: (view: View, t: TableName) =>
    `CREATE TABLE ${qualified(t)} (${ident(view.keyColumn)} text, ${view.metrics.map((m) => `${ident(m.column)} bigint`).join(', ')})`,

  createWatermarkTable: (t: TableName) => `CREATE TABLE ${qualified(t)} (covered_until timestamptz NOT NULL)`,

  insertWatermark: (t: TableName) => `INSERT INTO ${qualified(t)} (covered_until) VALUES ($1)`,

  /** The BATCH_WATERMARK_SQL of the demo warehouse. */
  selectWatermark: (t: TableName) => `SELECT max(covered_until) FROM ${qualified(t)}`,
} as const;

/** The watermark table beside a batch table: `<batch>_meta`. */
export function watermarkTable(batch: TableName): TableName {
  return sibling(batch, '_meta');
}

/** Creates the batch table and its watermark table and fills them. */
export async function seedBatch(exec: Execute, view: View, batch: TableName, rows: ReadonlyArray<readonly [Key, readonly bigint[]]>, watermark: Date): Promise<void> {
  if (batch.schema !== undefined) await exec(seedSql.createSchema(batch.schema));
  await exec(seedSql.createBatchTable(view, batch));
  const columns = viewColumns(view);
  const perStatement = Math.floor(10_000 / columns.length);
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement);
    await exec(sql.insertRows(batch, columns, chunk.length), chunk.flatMap(([key, metrics]) => [key, ...metrics.map(String)]));
  }
  const meta = watermarkTable(batch);
  await exec(seedSql.createWatermarkTable(meta));
  await exec(seedSql.insertWatermark(meta), [watermark.toISOString()]);
}
