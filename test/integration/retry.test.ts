// Retries are driven by the error the real database sends: serialization failures (SQLSTATE
// 40001, and Redshift's error 1023, which arrives as XX000 with its text) are retried with
// backoff; a syntax error is not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LsError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { TWEET_VIEW } from '../../src/view.js';
import { Warehouse } from '../../src/warehouse/warehouse.js';
import { DATABASE_URL, DIALECT } from '../helpers/harness.js';

function warehouse(t: { after(fn: () => unknown): void }, retried: string[]): Warehouse {
  const w = new Warehouse({
    url: DATABASE_URL, dialect: DIALECT as 'postgres' | 'redshift', view: TWEET_VIEW, batchTable: 'batch_layer', servingTable: 'serving_layer',
    statementTimeoutMs: 0, log: createLogger('silent'), onRetry: (what) => retried.push(what),
  });
  t.after(() => w.close());
  return w;
}

// raises, from the server, the error a conflicting transaction gets
const raise = (code: string, message: string) => `DO $$ BEGIN RAISE EXCEPTION '${message}' USING ERRCODE = '${code}'; END $$`;

test('a serialization failure (40001) from the database is retried with backoff until it passes', async (t) => {
  const retried: string[] = [];
  const w = warehouse(t, retried);
  let calls = 0;
  const started = Date.now();
  const result = await w.retry('swap', async () => {
    calls++;
    if (calls < 3) await w.pool.query(raise('40001', 'could not serialize access due to concurrent update'));
    return 'swapped';
  });
  assert.equal(result, 'swapped');
  assert.equal(calls, 3);
  assert.deepEqual(retried, ['swap', 'swap']);
  assert.ok(Date.now() - started >= 100 + 200, 'backed off between tries');
});

test("Redshift's error 1023 (XX000, 'Serializable isolation violation') is retried; a syntax error is not", async (t) => {
  const retried: string[] = [];
  const w = warehouse(t, retried);
  let calls = 0;
  await w.retry('flush', async () => {
    if (calls++ === 0) await w.pool.query(raise('XX000', '1023: Serializable isolation violation on table - 100123, transactions forming the cycle are: 1, 2'));
  });
  assert.equal(calls, 2);
  let syntaxCalls = 0;
  await assert.rejects(w.retry('flush', async () => { syntaxCalls++; await w.pool.query('SELEC 1'); }), (err: Error & { code?: string }) => err.code === '42601');
  assert.equal(syntaxCalls, 1, 'not retried');
  assert.deepEqual(retried, ['flush']);
});

test('retries stop after the limit and the last error is reported', async (t) => {
  const w = warehouse(t, []);
  let calls = 0;
  await assert.rejects(w.retry('load', async () => { calls++; await w.pool.query(raise('40P01', 'deadlock detected')); }, 3), /deadlock detected/);
  assert.equal(calls, 3);
  assert.ok(!(new LsError('LS_CONFIG').retryable));
});
