// The lambda-serving command, run as users run it: bin/lambda-serving.mjs in a child process.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { startEmbeddedService } from './helpers/embedded.js';
import { ADMIN_TOKEN } from './helpers/harness.js';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = `${ROOT}bin/lambda-serving.mjs`;
const PATH = process.env.PATH ?? '/usr/bin:/bin';

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, String(r.error));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking the event loop (for a server in this process). */
function cliAsync(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('the lambda-serving command', () => {
  test('lambda-serving --help lists the commands', () => {
    const r = cli(['--help']);
    assert.equal(r.status, 0);
    for (const c of ['start', 'flush', 'check-config', 'produce']) assert.match(r.stdout, new RegExp(`\\n  ${c} `));
    assert.equal(cli([]).status, 64, 'no command is a usage error');
    const unknown = cli(['launch']);
    assert.equal(unknown.status, 64);
    assert.match(unknown.stderr, /unknown command "launch"/);
  });

  test('lambda-serving check-config prints every problem of a bad configuration and exits 2', () => {
    const bad = {
      KAFKA_BROKERS: 'nohostport',
      WAREHOUSE_URL: 'mysql://root:s3cret-pw@db/x',
      FLUSH_INTERVAL: 'soon',
      PORT: '99999',
      BATCH_TABLE: 'drop table;',
      SPEED_MODE: 'sometimes',
      ADMIN_TOKEN: 'short',
    };
    const r = cli(['check-config'], bad);
    assert.equal(r.status, 2, r.stderr);
    for (const name of Object.keys(bad)) assert.match(r.stderr, new RegExp(`- ${name}`), `names ${name}`);
    assert.match(r.stderr, /7 problem/);
    assert.doesNotMatch(r.stderr + r.stdout, /s3cret-pw/);
  });

  test('lambda-serving check-config names the missing half of KAFKA_BROKERS and WAREHOUSE_URL', () => {
    const r = cli(['check-config'], { KAFKA_BROKERS: 'kafka:9092' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /WAREHOUSE_URL is required when KAFKA_BROKERS is set/);
  });

  test('lambda-serving check-config prints a summary of a good configuration, without secrets, and exits 0', () => {
    const r = cli(['check-config'], { KAFKA_BROKERS: 'kafka:9092', WAREHOUSE_URL: 'redshift://etl:pa55word-x@cluster:5439/dw', ADMIN_TOKEN: 'a-long-enough-admin-token' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /configuration OK \(external mode\)/);
    assert.match(r.stdout, /warehouse: redshift:\/\/etl@cluster:5439\/dw/);
    assert.doesNotMatch(r.stdout, /pa55word-x|a-long-enough-admin-token/);
    const embedded = cli(['check-config']);
    assert.equal(embedded.status, 0);
    assert.match(embedded.stdout, /configuration OK \(embedded mode\)/);
  });

  test('lambda-serving flush asks a running instance for a snapshot with ADMIN_TOKEN', async (t) => {
    const svc = await startEmbeddedService(t, { EMBEDDED_RATE: '0', FLUSH_INTERVAL: '1h' });
    const port = new URL(svc.url).port;
    const ok = await cliAsync(['flush'], { PORT: port, ADMIN_TOKEN });
    assert.equal(ok.status, 0, ok.stderr);
    const body = JSON.parse(ok.stdout) as { snapshotId: string; rows: number };
    assert.match(body.snapshotId, /^\d+$/);
    assert.equal(body.rows, svc.service.batch.status().rows);
    const wrong = await cliAsync(['flush', '--url', svc.url], { ADMIN_TOKEN: 'not-the-admin-token-at-all' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /answered 401/);
    const none = await cliAsync(['flush'], { PORT: port });
    assert.equal(none.status, 2);
    assert.match(none.stderr, /ADMIN_TOKEN is not set/);
  });

  test('lambda-serving produce refuses bad options with exit 64', () => {
    const r = cli(['produce', '--rate', 'fast', '--mode', 'sometimes']);
    assert.equal(r.status, 64);
    assert.match(r.stderr, /--rate/);
    assert.match(r.stderr, /--mode/);
    assert.equal(cli(['produce', '--nope']).status, 64);
  });
});
