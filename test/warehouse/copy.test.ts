import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { detectDialect, POSTGRES, REDSHIFT } from '../../src/warehouse/dialect.js';
import { sql, viewColumns } from '../../src/warehouse/sql.js';
import { copyRowLine } from '../../src/warehouse/bulk.js';

const copyLine = (key: string | null, metrics: bigint[]) => copyRowLine([key, ...metrics]);
import { TWEET_VIEW, type View } from '../../src/view.js';

describe('copyLine', () => {
  test('copyLine writes the key and the metrics separated by tabs, ending with a newline', () => {
    assert.equal(copyLine('London', [12n, 3456n, 7n, -1n]), 'London\t12\t3456\t7\t-1\n');
  });

  test('copyLine writes \\N for the NULL key', () => {
    assert.equal(copyLine(null, [1n, 2n]), '\\N\t1\t2\n');
  });

  test('copyLine escapes backslash, tab, newline and carriage return in the key', () => {
    assert.equal(copyLine('a\\b', [1n]), 'a\\\\b\t1\n');
    assert.equal(copyLine('a\tb', [1n]), 'a\\tb\t1\n');
    assert.equal(copyLine('a\nb', [1n]), 'a\\nb\t1\n');
    assert.equal(copyLine('a\rb', [1n]), 'a\\rb\t1\n');
    assert.equal(copyLine('\\\t\n\r', [1n]), '\\\\\\t\\n\\r\t1\n');
  });

  test('copyLine keeps a key spelled \\N apart from the NULL key', () => {
    assert.equal(copyLine('\\N', [1n]), '\\\\N\t1\n');
    assert.notEqual(copyLine('\\N', [1n]), copyLine(null, [1n]));
  });

  test('copyLine keeps the empty key apart from the NULL key', () => {
    assert.equal(copyLine('', [1n]), '\t1\n');
  });

  test('copyLine writes int64 extremes exactly', () => {
    assert.equal(copyLine('k', [9223372036854775807n, -9223372036854775808n]), 'k\t9223372036854775807\t-9223372036854775808\n');
  });

  test('copyLine leaves other characters as they are', () => {
    assert.equal(copyLine('São Paulo, "SP" ; DROP', [0n]), 'São Paulo, "SP" ; DROP\t0\n');
  });
});

describe('sql.insertRows', () => {
  test('sql.insertRows numbers placeholders row after row without gaps', () => {
    const text = sql.insertRows({ schema: undefined, name: 'serving_layer_next' }, viewColumns(TWEET_VIEW), 3);
    assert.equal(
      text,
      'INSERT INTO "serving_layer_next" ("location", "count_id", "sum_followers_count", "sum_favorite_count", "sum_retweet_count") VALUES '
        + '($1, $2, $3, $4, $5), ($6, $7, $8, $9, $10), ($11, $12, $13, $14, $15)',
    );
  });

  test('sql.insertRows uses each placeholder once for a narrow view and many rows', () => {
    const view: View = { keyColumn: 'k', keyField: 'k', metrics: [{ column: 'm', field: 'm' }], windowField: 'window' };
    const rows = 1000;
    const text = sql.insertRows({ schema: 'analytics', name: 't' }, viewColumns(view), rows);
    assert.ok(text.startsWith('INSERT INTO "analytics"."t" ("k", "m") VALUES ($1, $2), ($3, $4)'));
    const numbers = [...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(numbers, Array.from({ length: rows * 2 }, (_, i) => i + 1));
  });

  test('sql.insertRows of one row has one tuple', () => {
    assert.match(sql.insertRows({ schema: undefined, name: 't' }, viewColumns(TWEET_VIEW), 1), /VALUES \(\$1, \$2, \$3, \$4, \$5\)$/);
  });
});

describe('detectDialect', () => {
  const PG_VERSION = 'PostgreSQL 16.4 (Debian 16.4-1.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit';
  const RS_VERSION = 'PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 20041017 (Red Hat 3.4.2-6.fc3), Redshift 1.0.77467';

  test('detectDialect picks Redshift when the version string says Redshift', () => {
    assert.equal(detectDialect(RS_VERSION, 'postgres://u:p@warehouse.internal:5432/dev'), REDSHIFT);
  });

  test('detectDialect picks Redshift for port 5439', () => {
    assert.equal(detectDialect(PG_VERSION, 'postgres://u:p@10.0.0.5:5439/dev'), REDSHIFT);
  });

  test('detectDialect picks Redshift for a redshift.amazonaws.com host', () => {
    assert.equal(detectDialect(PG_VERSION, 'postgres://u:p@examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com/dev'), REDSHIFT);
    assert.equal(detectDialect(PG_VERSION, 'postgres://u:p@wg.123456789012.us-east-1.redshift-serverless.amazonaws.com:5440/dev'), REDSHIFT);
  });

  test('detectDialect picks Redshift for a redshift:// URL', () => {
    assert.equal(detectDialect(PG_VERSION, 'redshift://u:p@host:5432/dev'), REDSHIFT);
  });

  test('detectDialect picks PostgreSQL for a plain PostgreSQL server', () => {
    assert.equal(detectDialect(PG_VERSION, 'postgres://u:p@localhost:5432/lambda'), POSTGRES);
    assert.equal(detectDialect(PG_VERSION, 'postgresql://localhost/lambda'), POSTGRES);
  });

  test('detectDialect is not fooled by a host that only mentions redshift', () => {
    assert.equal(detectDialect(PG_VERSION, 'postgres://u:p@redshift.amazonaws.com.evil.example:5432/db'), POSTGRES);
  });

  test('the dialect profiles differ in how they bulk write', () => {
    assert.equal(POSTGRES.bulkWrite, 'copy');
    assert.equal(REDSHIFT.bulkWrite, 'insert');
    assert.ok(REDSHIFT.maxStatementBytes < 16 * 1024 * 1024);
    assert.ok(REDSHIFT.maxParams <= 65_535);
  });
});
