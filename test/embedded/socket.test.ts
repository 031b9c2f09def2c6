import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { servePglite } from '../../src/embedded/socket.js';
import { createLogger } from '../../src/log.js';
import { defer } from '../helpers/harness.js';

test('connections to the embedded warehouse take turns: a cursor survives another connection, a transaction stays private', async (t) => {
  const db = await PGlite.create();
  defer(t, () => db.close());
  const server = await servePglite(db, createLogger('silent'));
  defer(t, () => server.close());
  const url = `postgres://postgres@127.0.0.1:${server.port}/postgres`;
  const a = new pg.Client(url);
  const b = new pg.Client(url);
  await a.connect();
  defer(t, () => a.end());
  await b.connect();
  defer(t, () => b.end());
  await a.query('CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 3000) g');

  // a reads through a cursor (Execute after Execute) while b sends simple and extended queries
  let rows = 0;
  const stream = a.query(new QueryStream('SELECT x FROM t', [], { batchSize: 10 }));
  const other = (async () => {
    for (let i = 0; i < 100; i++) {
      await b.query('SELECT 1');
      assert.equal((await b.query('SELECT $1::int AS v', [i])).rows[0].v, i);
    }
  })();
  for await (const _ of stream as AsyncIterable<unknown>) rows++;
  await other;
  assert.equal(rows, 3000);

  await a.query('BEGIN');
  await a.query('INSERT INTO t VALUES (-1)');
  const seen = b.query('SELECT count(*)::int AS n FROM t WHERE x = -1');
  await new Promise((r) => setTimeout(r, 50));
  await a.query('ROLLBACK');
  assert.equal((await seen).rows[0].n, 0, 'b waited for the transaction and did not see its row');
});
