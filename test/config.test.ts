import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeConfig, loadConfig, parseDuration, type Config } from '../src/config.js';
import { LsError } from '../src/errors.js';
import { TWEET_VIEW } from '../src/view.js';

const BASE = { KAFKA_BROKERS: 'localhost:9092', WAREHOUSE_URL: 'postgres://serving:hunter2secret@db.internal:5432/analytics' };
const PASSWORD = 'hunter2secret';

/** The LsError thrown by loadConfig for env; fails the test if none is thrown. */
function configError(env: Record<string, string>): LsError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof LsError, `expected an LsError, got ${String(err)}`);
    assert.equal(err.code, 'LS_CONFIG');
    return err;
  }
  assert.fail('loadConfig accepted an invalid configuration');
}

function withTempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ls-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('loadConfig', () => {
  test('config fills every default when only KAFKA_BROKERS and WAREHOUSE_URL are set', () => {
    const cfg: Config = loadConfig(BASE);
    assert.deepEqual(cfg.kafkaBrokers, ['localhost:9092']);
    assert.equal(cfg.warehouseUrl, BASE.WAREHOUSE_URL);
    assert.equal(cfg.speedTopic, 'speed_layer');
    assert.equal(cfg.kafkaGroupId, 'lambda-serving');
    assert.equal(cfg.kafkaClientId, 'lambda-serving');
    assert.equal(cfg.deadLetterTopic, undefined);
    assert.equal(cfg.warehouseDialect, 'auto');
    assert.equal(cfg.batchTable, 'batch_layer');
    assert.equal(cfg.servingTable, 'serving_layer');
    assert.equal(cfg.flushIntervalMs, 60_000);
    assert.equal(cfg.batchReloadIntervalMs, 15 * 60_000);
    assert.equal(cfg.port, 3000);
    assert.equal(cfg.host, '0.0.0.0');
    assert.equal(cfg.adminToken, undefined);
    assert.equal(cfg.logLevel, 'info');
    assert.equal(cfg.view, TWEET_VIEW);
    assert.equal(cfg.speedMode, 'totals');
    assert.equal(cfg.batchWatermarkSql, undefined);
    assert.ok(Object.isFrozen(cfg), 'the configuration is frozen');
  });

  test('config splits a comma-separated broker list and trims its entries', () => {
    const cfg = loadConfig({ ...BASE, KAFKA_BROKERS: ' k1:9092, k2:9093 ,[::1]:9094' });
    assert.deepEqual(cfg.kafkaBrokers, ['k1:9092', 'k2:9093', '[::1]:9094']);
  });

  test('config reads durations written with a unit or as plain milliseconds', () => {
    const cfg = loadConfig({ ...BASE, FLUSH_INTERVAL: '2s', BATCH_RELOAD_INTERVAL: '1h', SHUTDOWN_TIMEOUT: '500ms', WAREHOUSE_STATEMENT_TIMEOUT: '15m' });
    assert.equal(cfg.flushIntervalMs, 2000);
    assert.equal(cfg.batchReloadIntervalMs, 3_600_000);
    assert.equal(cfg.shutdownTimeoutMs, 500);
    assert.equal(cfg.statementTimeoutMs, 900_000);
    assert.equal(loadConfig({ ...BASE, FLUSH_INTERVAL: '1500' }).flushIntervalMs, 1500);
  });

  test('config reports every bad variable in one error', () => {
    const err = configError({
      ...BASE,
      FLUSH_INTERVAL: 'soon',
      PORT: '99999',
      SPEED_MODE: 'sometimes',
      LOG_LEVEL: 'loud',
      WAREHOUSE_DIALECT: 'oracle',
    });
    for (const name of ['FLUSH_INTERVAL', 'PORT', 'SPEED_MODE', 'LOG_LEVEL', 'WAREHOUSE_DIALECT']) {
      assert.match(err.message, new RegExp(name), `the message names ${name}`);
    }
    assert.match(err.message, /5 problem/);
  });

  // Changed with embedded mode (issue 6): neither variable is an embedded run, not an error.
  test('config runs embedded when neither KAFKA_BROKERS nor WAREHOUSE_URL is set', () => {
    const cfg = loadConfig({});
    assert.equal(cfg.mode, 'embedded');
    assert.equal(cfg.warehouseDialect, 'embedded');
    assert.deepEqual(cfg.kafkaBrokers, []);
    assert.equal(cfg.flushIntervalMs, 10_000, 'embedded mode flushes often enough to watch');
    assert.equal(loadConfig({ FLUSH_INTERVAL: '3s' }).flushIntervalMs, 3000);
    assert.equal(loadConfig(BASE).mode, 'external');
  });

  test('config names the missing one when only KAFKA_BROKERS or only WAREHOUSE_URL is set', () => {
    const onlyKafka = configError({ KAFKA_BROKERS: BASE.KAFKA_BROKERS });
    assert.match(onlyKafka.message, /WAREHOUSE_URL is required when KAFKA_BROKERS is set/);
    assert.match(onlyKafka.message, /1 problem/);
    const onlyWarehouse = configError({ WAREHOUSE_URL: BASE.WAREHOUSE_URL });
    assert.match(onlyWarehouse.message, /KAFKA_BROKERS is required when WAREHOUSE_URL is set/);
    assert.doesNotMatch(onlyWarehouse.message, new RegExp(PASSWORD));
  });

  test('config refuses a broker entry without a port and a non-postgres warehouse URL', () => {
    const err = configError({ KAFKA_BROKERS: 'nohostport', WAREHOUSE_URL: 'mysql://root:topsecretpw@db/x' });
    assert.match(err.message, /KAFKA_BROKERS/);
    assert.match(err.message, /WAREHOUSE_URL/);
    assert.doesNotMatch(err.message, /topsecretpw/);
  });

  test('config refuses a duration below its minimum', () => {
    const err = configError({ ...BASE, FLUSH_INTERVAL: '50ms' });
    assert.match(err.message, /FLUSH_INTERVAL must be at least 100ms/);
  });

  test('config never shows the warehouse password, in an error or in describeConfig', () => {
    const err = configError({ ...BASE, PORT: 'eighty', BATCH_TABLE: 'bad-name' });
    assert.doesNotMatch(err.message, new RegExp(PASSWORD));
    const described = JSON.stringify(describeConfig(loadConfig(BASE)));
    assert.doesNotMatch(described, new RegExp(PASSWORD));
    assert.match(described, /postgres:\/\/serving@db\.internal:5432\/analytics/);
  });

  test('config hides an unparseable warehouse URL that may hold a password', () => {
    const err = configError({ ...BASE, WAREHOUSE_URL: 'postgres//user:pw-in-a-typo@host' });
    assert.match(err.message, /WAREHOUSE_URL/);
    assert.doesNotMatch(err.message, /pw-in-a-typo/);
  });

  test('config accepts schema-qualified table names and refuses other names', () => {
    const ok = loadConfig({ ...BASE, BATCH_TABLE: 'analytics.batch_layer', SERVING_TABLE: 'serving' });
    assert.equal(ok.batchTable, 'analytics.batch_layer');
    assert.equal(ok.servingTable, 'serving');
    const err = configError({ ...BASE, BATCH_TABLE: 'bad-name', SERVING_TABLE: 'a.b.c' });
    assert.match(err.message, /BATCH_TABLE.*"bad-name"/);
    assert.match(err.message, /SERVING_TABLE.*"a\.b\.c"/);
  });

  test('config refuses a serving table equal to the batch table', () => {
    const err = configError({ ...BASE, SERVING_TABLE: 'batch_layer' });
    assert.match(err.message, /SERVING_TABLE must differ from BATCH_TABLE/);
  });

  test('config refuses an ADMIN_TOKEN shorter than 16 characters without echoing it', () => {
    const err = configError({ ...BASE, ADMIN_TOKEN: 'short-tok3n' });
    assert.match(err.message, /ADMIN_TOKEN/);
    assert.doesNotMatch(err.message, /short-tok3n/);
    const cfg = loadConfig({ ...BASE, ADMIN_TOKEN: 'a-long-enough-admin-token' });
    assert.equal(cfg.adminToken, 'a-long-enough-admin-token');
    assert.doesNotMatch(JSON.stringify(describeConfig(cfg)), /a-long-enough-admin-token/);
  });

  test('config loads another view from the VIEW_CONFIG file', (t) => {
    const dir = withTempDir(t);
    const path = join(dir, 'view.json');
    writeFileSync(path, JSON.stringify({
      keyColumn: 'user_id',
      keyField: 'user',
      versionField: 'seq',
      metrics: [{ column: 'clicks', field: 'sum(clicks)' }, { column: 'views', field: 'count(*)' }],
    }));
    const cfg = loadConfig({ ...BASE, VIEW_CONFIG: path });
    assert.equal(cfg.view.keyColumn, 'user_id');
    assert.equal(cfg.view.keyField, 'user');
    assert.equal(cfg.view.versionField, 'seq');
    assert.equal(cfg.view.windowField, 'window');
    assert.deepEqual(cfg.view.metrics.map((m) => [m.column, m.field]), [['clicks', 'sum(clicks)'], ['views', 'count(*)']]);
  });

  test('config reports a VIEW_CONFIG file with invalid content along with other problems', (t) => {
    const dir = withTempDir(t);
    const path = join(dir, 'broken-view.json');
    writeFileSync(path, JSON.stringify({ keyColumn: 'bad column', keyField: 'k', metrics: [] }));
    const err = configError({ ...BASE, VIEW_CONFIG: path, PORT: '-1' });
    assert.match(err.message, /VIEW_CONFIG/);
    assert.match(err.message, /keyColumn/);
    assert.match(err.message, /metrics/);
    assert.match(err.message, /PORT/);
  });

  test('config reports a VIEW_CONFIG file that is not JSON or does not exist', (t) => {
    const dir = withTempDir(t);
    const path = join(dir, 'not-json.json');
    writeFileSync(path, '{"keyColumn": ');
    assert.match(configError({ ...BASE, VIEW_CONFIG: path }).message, /VIEW_CONFIG: .*cannot read/);
    assert.match(configError({ ...BASE, VIEW_CONFIG: join(dir, 'missing.json') }).message, /VIEW_CONFIG/);
  });
});

describe('parseDuration', () => {
  test('parseDuration reads milliseconds, seconds, minutes, hours and plain numbers', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('15m'), 900_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('250'), 250);
    assert.equal(parseDuration('1.5s'), 1500);
  });

  test('parseDuration refuses words, negative numbers and unknown units', () => {
    for (const bad of ['soon', '-5s', '10 minutes', '5w', '', 's']) {
      assert.equal(parseDuration(bad), undefined, `"${bad}" is not a duration`);
    }
  });
});

describe('the service process', () => {
  test('the service exits with code 2 and names every bad variable when the configuration is invalid', () => {
    const bad = {
      KAFKA_BROKERS: 'nohostport',
      WAREHOUSE_URL: 'mysql://x',
      FLUSH_INTERVAL: 'soon',
      PORT: '99999',
      BATCH_TABLE: 'drop table;',
    };
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: '/work/main',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...bad },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.error, undefined, `spawn failed: ${String(r.error)}`);
    assert.equal(r.status, 2, `exit status ${r.status}, stderr:\n${r.stderr}`);
    for (const name of Object.keys(bad)) assert.match(r.stderr, new RegExp(name), `stderr names ${name}`);
  });
});
