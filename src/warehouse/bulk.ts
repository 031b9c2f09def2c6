// Bulk writes into a freshly created table: COPY FROM STDIN (streamed, with backpressure) where
// the dialect has it, else multi-row INSERT chunks kept under the statement size and bind
// parameter limits of the profile.
import { once } from 'node:events';
import type pg from 'pg';
import { turn } from '../async.js';
import { LsError } from '../errors.js';
import { from as copyFrom } from 'pg-copy-streams';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DialectProfile } from './dialect.js';
import { copyAuthorization, removeStaged, stageRows, type S3Settings } from './s3.js';
import { sql, type TableName } from './sql.js';

/** A cell: text, integer, or NULL. */
export type Cell = string | bigint | number | null;

export interface S3Path {
  readonly settings: S3Settings;
  readonly client: S3Client;
}

/** Rows that can also write themselves as binary COPY data, much faster than cell by cell. */
export interface RowSource {
  readonly rows: number;
  cells(): Iterable<readonly Cell[]>;
  /** The same rows in COPY's binary format (header and trailer included), in chunks of any size;
   * the column types are those of the table written. */
  copyBinary(): Iterable<Buffer>;
}

function isRowSource(x: Iterable<readonly Cell[]> | RowSource): x is RowSource {
  return typeof (x as RowSource).copyBinary === 'function';
}

export async function bulkWrite(client: pg.PoolClient, d: DialectProfile, t: TableName, columns: readonly string[], source: Iterable<readonly Cell[]> | RowSource, s3?: S3Path): Promise<number> {
  if (d.bulkWrite === 'copy') {
    const counted = { rows: 0 };
    const stored = isRowSource(source)
      ? await copyChunks(client, sql.copyIn(t, columns, 'binary'), source.copyBinary())
      : await copyChunks(client, sql.copyIn(t, columns, 'text'), copyLines(source, counted));
    const sent = isRowSource(source) ? source.rows : counted.rows;
    // what the server says it stored, against what was sent: a writer bug must not become a
    // short serving table with a checkpoint past the rows it lost
    if (stored !== sent) throw new LsError('LS_WAREHOUSE_QUERY', `COPY into ${t.name} stored ${stored} rows, ${sent} were sent`);
    return stored;
  }
  const rows = isRowSource(source) ? source.cells() : source;
  if (s3 && d.s3Copy) return s3Rows(client, s3, t, columns, rows);
  return insertRows(client, d, t, columns, rows);
}

async function s3Rows(client: pg.PoolClient, s3: S3Path, t: TableName, columns: readonly string[], rows: Iterable<readonly Cell[]>): Promise<number> {
  const staged = await stageRows(s3.client, s3.settings, t.name, rows);
  try {
    await client.query(sql.copyFromS3(t, columns, staged.bucket, staged.key, s3.settings.region, copyAuthorization(s3.settings)));
  } finally {
    await removeStaged(s3.client, staged);
  }
  return staged.rows;
}

const CHUNK_CHARS = 256 * 1024;

/** Rows as COPY text, about CHUNK_CHARS a chunk. */
function* copyLines(rows: Iterable<readonly Cell[]>, counted: { rows: number }): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    chunk += copyRowLine(row);
    counted.rows++;
    if (chunk.length >= CHUNK_CHARS) { yield chunk; chunk = ''; }
  }
  if (chunk.length > 0) yield chunk;
}

/** COPY FROM STDIN of the chunks, with backpressure; the event loop gets a turn between chunks.
 * Returns the row count the server reports. */
async function copyChunks(client: pg.PoolClient, statement: string, chunks: Iterable<string | Buffer>): Promise<number> {
  const stream = client.query(copyFrom(statement));
  let failed: Error | undefined;
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', (err) => { failed ??= err; reject(err); });
  });
  // awaited below; a failure while a chunk is being made (no await on it then) is not unhandled
  done.catch(() => undefined);
  try {
    for (const chunk of chunks) {
      // a COPY whose connection died is not written to again (pg-copy-streams would throw a
      // TypeError from its detached connection instead of the connection's own error)
      if (failed) throw failed;
      if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), done]);
      // 'drain' of a local socket comes on nextTick, which never lets I/O run: give reads and
      // consumption a turn after each chunk
      await turn();
    }
    stream.end();
  } catch (err) {
    stream.destroy(err as Error);
    await done.catch(() => undefined); // the error that stopped the rows is the one to report
    throw err;
  }
  await done;
  return stream.rowCount;
}

async function insertRows(client: pg.PoolClient, d: DialectProfile, t: TableName, columns: readonly string[], rows: Iterable<readonly Cell[]>): Promise<number> {
  const width = columns.length;
  const maxRows = Math.floor(d.maxParams / width);
  let values: Cell[] = [];
  let bytes = 0;
  let n = 0;
  const send = async () => {
    if (values.length === 0) return;
    await client.query(sql.insertRows(t, columns, values.length / width), values.map((v) => (typeof v === 'bigint' ? v.toString() : v)));
    values = [];
    bytes = 0;
  };
  for (const row of rows) {
    const rowBytes = cellBytes(row) + 12 * width; // values + their placeholders "$12345, "
    if (values.length / width >= maxRows || bytes + rowBytes > d.maxStatementBytes) await send();
    values.push(...row);
    bytes += rowBytes;
    n++;
  }
  await send();
  return n;
}

function cellBytes(row: readonly Cell[]): number {
  let b = 0;
  for (const c of row) b += c === null ? 4 : typeof c === 'string' ? Buffer.byteLength(c) : 20;
  return b;
}

/** One row in COPY text format: tab-separated, \N for NULL, backslash escapes. */
export function copyRowLine(row: readonly Cell[]): string {
  let line = '';
  for (let i = 0; i < row.length; i++) {
    const c = row[i];
    if (i > 0) line += '\t';
    line += c === null || c === undefined ? '\\N' : typeof c === 'string' ? escapeCopy(c) : String(c);
  }
  return `${line}\n`;
}

function escapeCopy(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}
