// Embedded mode: what `npm start` runs with neither KAFKA_BROKERS nor WAREHOUSE_URL set. The real
// service (merge, cache, HTTP, flush and swap, checkpoints) runs against an in-process warehouse
// (PGlite, seeded with a generated batch layer) and an in-process source of Spark-format speed
// updates. Nothing of the service is faked; only where its data comes from is local.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { SpeedSourceFactory } from '../speed/source.js';
import { SparkUpdates } from './generator.js';
import { GeneratorSource } from './source.js';
import { startEmbeddedWarehouse } from './warehouse.js';

export interface Embedded {
  /** The configuration with the embedded warehouse's URL (and its watermark query, unless one
   * was configured). */
  readonly config: Config;
  readonly speedSource: SpeedSourceFactory;
  readonly warehouseUrl: string;
  /** Stops the warehouse: call after the service has stopped (its final flush writes there). */
  close(): Promise<void>;
}

/** One malformed record in this many, so the dashboard's rejection panel has something to show. */
const BAD_EVERY = 1000;

export async function startEmbedded(cfg: Config, log: Logger): Promise<Embedded> {
  const wlog = log.child({ component: 'embedded' });
  const warehouse = await startEmbeddedWarehouse({ view: cfg.view, batchTable: cfg.batchTable, log: wlog });
  const config: Config = Object.freeze({
    ...cfg,
    warehouseUrl: warehouse.url,
    batchWatermarkSql: cfg.batchWatermarkSql ?? warehouse.watermarkSql,
  });
  wlog.info(
    { warehouse: warehouse.url, speedUpdatesPerSecond: cfg.embeddedRate },
    `embedded mode: in-process PostgreSQL (PGlite, psql ${warehouse.url}) and speed updates generated in process. ` +
      'For real Kafka and Redshift set both KAFKA_BROKERS=broker:9092 and WAREHOUSE_URL=redshift://user:password@cluster:5439/db (see README, Configuration)',
  );
  return {
    config,
    warehouseUrl: warehouse.url,
    speedSource: (deps) => new GeneratorSource({
      ...deps,
      rate: cfg.embeddedRate,
      updates: new SparkUpdates({ view: cfg.view, mode: cfg.speedMode, badEvery: BAD_EVERY }),
    }),
    close: () => warehouse.close(),
  };
}
