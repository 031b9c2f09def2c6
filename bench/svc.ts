// The service under test, in the figure's own process: loadConfig + new Service + start against
// the figure's schema and topic, as test/helpers/harness.ts does.
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { Service } from '../src/service.js';
import { ADMIN_TOKEN, BROKERS, DATABASE_URL, waitFor, type Scope } from './lib.js';

export interface Svc {
  readonly service: Service;
  readonly url: string;
  consumed(): number;
}

/** The real Service (loadConfig + new Service), not started; stopped when the scope closes. */
export function createService(scope: Scope, schema: string, topic: string, env: Record<string, string> = {}): Svc {
  const cfg = loadConfig({
    KAFKA_BROKERS: BROKERS.join(','),
    WAREHOUSE_URL: DATABASE_URL,
    SPEED_TOPIC: topic,
    KAFKA_GROUP_ID: scope.group(),
    BATCH_TABLE: `${schema}.batch_layer`,
    SERVING_TABLE: `${schema}.serving_layer`,
    FLUSH_INTERVAL: '1h',
    BATCH_RELOAD_INTERVAL: '1h',
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    ...env,
  });
  const service = new Service(cfg, createLogger(cfg.logLevel));
  scope.defer(() => service.stop());
  const consumed = () => Object.values(service.consumer.positions()).reduce((a, b) => a + Number(b), 0);
  return { service, get url() { return service.url; }, consumed };
}

/** createService, start, and wait until ready (batch loaded, topic caught up). */
export async function startService(scope: Scope, schema: string, topic: string, env: Record<string, string> = {}): Promise<Svc> {
  const svc = createService(scope, schema, topic, env);
  await svc.service.start();
  await waitFor(() => svc.service.readiness().ready, 120_000, 'the service to be ready', 20);
  return svc;
}

/** Sum of a prom-client counter's values, optionally only those with this label value. */
export async function counterValue(c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, label?: [string, string]): Promise<number> {
  const { values } = await c.get();
  return values.filter((v) => !label || v.labels[label[0]] === label[1]).reduce((a, v) => a + v.value, 0);
}
