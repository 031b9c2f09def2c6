// Prometheus metrics: what an operator asks first. One registry per service instance so tests
// (and several instances in one process) do not collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricHooks {
  /** Counted at scrape time. */
  readonly straddlingWindows?: () => number;
}

export function createMetrics(withDefaults = true, hooks: MetricHooks = {}) {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'lambda_serving_' });
  const r = [registry];
  return {
    registry,
    updatesApplied: new Counter({ name: 'lambda_serving_speed_updates_applied_total', help: 'Speed-layer records applied to the in-memory store', labelNames: ['kind'] as const, registers: r }),
    updatesStale: new Counter({ name: 'lambda_serving_speed_updates_stale_total', help: 'Speed-layer totals ignored because a newer version was already applied', registers: r }),
    updatesRejected: new Counter({ name: 'lambda_serving_speed_updates_rejected_total', help: 'Speed-layer records rejected, by reason', labelNames: ['reason'] as const, registers: r }),
    deadLettered: new Counter({ name: 'lambda_serving_dead_letter_records_total', help: 'Rejected records copied to the dead-letter topic', registers: r }),
    consumerLag: new Gauge({ name: 'lambda_serving_consumer_lag', help: 'Records between the consumed position and the partition high watermark', labelNames: ['partition'] as const, registers: r }),
    speedKeys: new Gauge({ name: 'lambda_serving_speed_keys', help: 'Keys held in the speed store', registers: r }),
    speedWindows: new Gauge({ name: 'lambda_serving_speed_windows', help: 'Key x window entries held in the speed store', registers: r }),
    straddlingWindows: new Gauge({
      name: 'lambda_serving_straddling_windows', help: 'Speed windows straddling the batch watermark: not added (they would count events twice)', registers: r,
      collect() { if (hooks.straddlingWindows) this.set(hooks.straddlingWindows()); },
    }),
    updatesCovered: new Counter({ name: 'lambda_serving_speed_updates_covered_total', help: 'Speed updates of windows that end at or before the batch watermark: already in the batch, not stored', registers: r }),
    speedRestored: new Counter({ name: 'lambda_serving_speed_entries_restored_total', help: 'Speed entries restored from the checkpoint on partition assignment', registers: r }),
    warehouseRetries: new Counter({ name: 'lambda_serving_warehouse_retries_total', help: 'Warehouse operations retried after a retryable error', labelNames: ['operation'] as const, registers: r }),
    batchRows: new Gauge({ name: 'lambda_serving_batch_rows', help: 'Rows of the loaded batch snapshot', registers: r }),
    batchWatermark: new Gauge({ name: 'lambda_serving_batch_watermark_seconds', help: 'Batch watermark (events before it are in the batch), unix seconds; 0 if none', registers: r }),
    batchLoadSeconds: new Histogram({ name: 'lambda_serving_batch_load_seconds', help: 'Duration of batch layer loads', buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120], registers: r }),
    batchLoadFailures: new Counter({ name: 'lambda_serving_batch_load_failures_total', help: 'Failed batch layer loads', registers: r }),
    lastBatchLoad: new Gauge({ name: 'lambda_serving_last_batch_load_timestamp_seconds', help: 'When the batch snapshot in use was loaded', registers: r }),
    flushSeconds: new Histogram({ name: 'lambda_serving_flush_seconds', help: 'Duration of snapshot flushes (bulk write + swap)', buckets: [0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120], registers: r }),
    flushFailures: new Counter({ name: 'lambda_serving_flush_failures_total', help: 'Failed snapshot flushes', registers: r }),
    lastFlush: new Gauge({ name: 'lambda_serving_last_flush_timestamp_seconds', help: 'When the last snapshot was swapped in', registers: r }),
    lastFlushRows: new Gauge({ name: 'lambda_serving_last_flush_rows', help: 'Rows of the last snapshot swapped in', registers: r }),
    cacheRequests: new Counter({ name: 'lambda_serving_cache_requests_total', help: 'Merged-value cache lookups', labelNames: ['result'] as const, registers: r }),
    httpDuration: new Histogram({ name: 'lambda_serving_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['route', 'status'] as const, buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1], registers: r }),
    httpBadRequests: new Counter({ name: 'lambda_serving_http_bad_requests_total', help: 'HTTP requests answered 4xx', labelNames: ['route', 'status'] as const, registers: r }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
