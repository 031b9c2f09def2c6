// Starts the real service in embedded mode in this process: PGlite warehouse, in-process speed
// source, HTTP on a free port. Stopped (service, then warehouse) after the test.
import { loadConfig } from '../../src/config.js';
import { startEmbedded, type Embedded } from '../../src/embedded/index.js';
import { createLogger } from '../../src/log.js';
import { Service } from '../../src/service.js';
import { ADMIN_TOKEN, defer, waitFor } from './harness.js';

export interface EmbeddedService {
  readonly service: Service;
  readonly embedded: Embedded;
  readonly url: string;
}

export async function startEmbeddedService(t: { after(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<EmbeddedService> {
  const cfg = loadConfig({ PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error', ...env });
  const log = createLogger(cfg.logLevel);
  const embedded = await startEmbedded(cfg, log);
  defer(t, () => embedded.close());
  const service = new Service(embedded.config, log, { defaultMetrics: false, speedSource: embedded.speedSource });
  defer(t, () => service.stop());
  await service.start();
  await waitFor(() => service.readiness().ready, 30_000, () => JSON.stringify(service.readiness()));
  return { service, embedded, url: service.url };
}
