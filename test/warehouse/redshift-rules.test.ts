import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { redshiftViolations } from '../../src/warehouse/redshift-rules.js';
import { sql, parseTable, speedStateColumns, viewColumns } from '../../src/warehouse/sql.js';
import { REDSHIFT } from '../../src/warehouse/dialect.js';
import { TWEET_VIEW } from '../../src/view.js';

describe('redshift statement rules', () => {
  const bad: Array<[string, RegExp]> = [
    ['COPY "t" ("a") FROM STDIN', /COPY FROM STDIN/],
    ['INSERT INTO t VALUES ($1) ON CONFLICT DO NOTHING', /ON CONFLICT/],
    ['INSERT INTO t VALUES ($1) RETURNING id', /RETURNING/],
    ['SELECT * FROM t WHERE k = ANY($1)', /ANY\(array\)/],
    ['SELECT unnest($1::text[])', /UNNEST|array type/],
    ['SELECT ARRAY[1,2]', /array constructor/],
    ['SELECT * FROM generate_series(1, 10)', /generate_series/],
    ['SELECT pg_advisory_lock(42)', /advisory locks/],
    ['CREATE TEMP TABLE x (a int)', /TEMP table/],
    ['CREATE TEMPORARY TABLE x (a int)', /TEMP table/],
    ['SET LOCAL lock_timeout = 1000', /lock_timeout|SET LOCAL/],
    ['SELECT 1 WHERE a IS NOT DISTINCT FROM b', /IS DISTINCT FROM/],
    ['CREATE TABLE t (a jsonb)', /jsonb/],
    ['CREATE TABLE t (id bigserial)', /serial/],
    ['CREATE INDEX i ON t (a)', /indexes/],
    ['SELECT to_regclass($1)', /regclass/],
    ['TRUNCATE t', /TRUNCATE/],
    ['SELECT * FROM (VALUES (1), (2)) AS v(a)', /VALUES list/],
    ['SELECT pg_sleep(1)', /pg_sleep/],
  ];
  for (const [text, rule] of bad) {
    test(`refuses: ${text}`, () => {
      const v = redshiftViolations(text);
      assert.ok(v.some((x) => rule.test(x.rule)), `${text}: ${JSON.stringify(v)}`);
    });
  }

  test('refuses a statement over 16 MB and one with more than 65535 parameters', () => {
    assert.match(redshiftViolations(`SELECT '${'x'.repeat(16 * 1024 * 1024)}'`)[0]?.rule ?? '', /16 MB/);
    assert.match(redshiftViolations('SELECT 1', 65_536)[0]?.rule ?? '', /65535/);
  });

  test('does not fire on words inside string literals or quoted identifiers', () => {
    assert.deepEqual(redshiftViolations(`INSERT INTO "returning" ("on conflict") VALUES ('generate_series(1) RETURNING')`), []);
  });

  test('accepts every statement the service builds for the redshift profile, including DROP TABLE IF EXISTS', () => {
    const t = parseTable('analytics.serving_layer');
    const statements = [
      sql.dropTableIfExists(t), sql.createStaging(TWEET_VIEW, t, REDSHIFT), sql.createSpeedState(TWEET_VIEW, t, REDSHIFT),
      sql.insertRows(t, viewColumns(TWEET_VIEW), 100), sql.insertRows(t, speedStateColumns(TWEET_VIEW), 10),
      sql.renameTable(t, 'serving_layer_prev'), sql.createCheckpointTable(t), sql.insertCheckpoint(t).text,
      sql.pruneCheckpoints(t), sql.latestCheckpoint(t), sql.selectBatch(TWEET_VIEW, t), sql.selectSpeedState(TWEET_VIEW, t),
      sql.tableExists(t).text, sql.setStatementTimeout(1000), sql.version(),
    ];
    for (const s of statements) assert.deepEqual(redshiftViolations(s), [], s);
  });
});
