// The warehouse of embedded mode: PGlite (PostgreSQL compiled to WebAssembly, in this process)
// behind a PostgreSQL wire-protocol server on 127.0.0.1 and a free port (./socket.ts), so the
// service's real Warehouse (pg pool, cursors, transactions, the INSERT bulk path of the EMBEDDED
// dialect profile) talks to it as to any PostgreSQL. In memory: each run starts from a freshly
// generated batch layer.
import { PGlite } from '@electric-sql/pglite';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { View } from '../view.js';
import { seedBatch, seedSql, watermarkTable } from '../warehouse/seed.js';
import { parseTable } from '../warehouse/sql.js';
import { generateBatch } from './generator.js';
import { servePglite } from './socket.js';

export interface EmbeddedWarehouse {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  /** The watermark query of the generated batch layer. */
  readonly watermarkSql: string;
  readonly batchRows: number;
  close(): Promise<void>;
}

export interface EmbeddedWarehouseOptions {
  readonly view: View;
  readonly batchTable: string;
  readonly log: Logger;
  /** The batch holds every event before this (default: the start of today, UTC). */
  readonly watermark?: Date;
  readonly seed?: number;
}

export async function startEmbeddedWarehouse(o: EmbeddedWarehouseOptions): Promise<EmbeddedWarehouse> {
  const started = performance.now();
  const db = await PGlite.create();
  try {
    const batch = parseTable(o.batchTable);
    const rows = generateBatch(o.view, o.seed === undefined ? {} : { seed: o.seed });
    const watermark = o.watermark ?? new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000);
    await seedBatch((text, params) => db.query(text, params), o.view, batch, rows, watermark);
    // the service opens one connection (EMBEDDED profile); others (psql) take turns with it
    const server = await servePglite(db, o.log);
    const url = `postgres://postgres@${server.host}:${server.port}/postgres`;
    o.log.info({ url, batchRows: rows.length, ms: Math.round(performance.now() - started) }, 'embedded warehouse (PGlite) listening');
    let closing: Promise<void> | undefined;
    return {
      url,
      watermarkSql: seedSql.selectWatermark(watermarkTable(batch)),
      batchRows: rows.length,
      close: () => (closing ??= (async () => {
        await server.close();
        await db.close();
      })()),
    };
  } catch (err) {
    await db.close().catch((e: unknown) => o.log.warn({ err: errorMessage(e) }, 'closing PGlite after a failed start failed'));
    throw err;
  }
}
