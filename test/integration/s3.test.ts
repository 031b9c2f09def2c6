// The Redshift S3 bulk path against a real S3-compatible server (S3Proxy, started by
// scripts/services.sh on 127.0.0.1:9000): the staged gzip CSV object holds exactly the rows, the
// COPY statement is what Redshift expects (and passes the Redshift rules), credentials never show,
// and the object is removed afterwards. PostgreSQL cannot run a COPY from S3, so the last step is
// checked up to the warehouse boundary: the statement sent, and PostgreSQL refusing it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';
import { REDSHIFT } from '../../src/warehouse/dialect.js';
import { bulkWrite } from '../../src/warehouse/bulk.js';
import { redshiftViolations } from '../../src/warehouse/redshift-rules.js';
import { redactSql, s3Client, stageRows, copyAuthorization, type S3Settings } from '../../src/warehouse/s3.js';
import { parseTable, sql, viewColumns } from '../../src/warehouse/sql.js';
import { TWEET_VIEW } from '../../src/view.js';
import { DATABASE_URL, freshDb, uid } from '../helpers/harness.js';

const ENDPOINT = process.env.TEST_S3_ENDPOINT ?? 'http://127.0.0.1:9000';

function settings(bucket: string, auth: 'role' | 'keys'): S3Settings {
  return {
    bucket, prefix: 'staging/', region: 'us-east-1', endpoint: ENDPOINT,
    uploadAccessKeyId: 'local-access-key', uploadSecretAccessKey: 'local-secret-key',
    copyIamRole: auth === 'role' ? 'arn:aws:iam::123456789012:role/redshift-copy' : undefined,
    copyAccessKeyId: auth === 'keys' ? 'AKIAEXAMPLEKEY' : undefined,
    copySecretAccessKey: auth === 'keys' ? 'very-secret-value-123' : undefined,
  };
}

/** A small RFC 4180 reader, with \N unquoted as NULL. */
function parseCsv(text: string): Array<Array<string | null>> {
  const rows: Array<Array<string | null>> = [];
  let row: Array<string | null> = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (text[i] === '"' && text[i + 1] === '"') { v += '"'; i += 2; } else if (text[i] === '"') { i++; break; } else { v += text[i]; i++; }
      }
      row.push(v);
    } else {
      let j = i;
      while (j < text.length && text[j] !== ',' && text[j] !== '\n') j++;
      const raw = text.slice(i, j);
      row.push(raw === '\\N' ? null : raw);
      i = j;
    }
    if (text[i] === ',') i++;
    else if (text[i] === '\n') { rows.push(row); row = []; i++; }
  }
  return rows;
}

test('rows are staged in S3 as gzip CSV that holds them exactly, NULL key and awkward characters included', async () => {
  const bucket = `ls-${uid()}`;
  const s = settings(bucket, 'role');
  const client = s3Client(s);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const rows = [
    ['London', 1n, 2n, 3n, 4n],
    [null, 5n, 6n, 7n, 8n],
    ['', 0n, 0n, 0n, 0n],
    ['São "Paulo", SP\nline2', 9223372036854775807n, -9223372036854775808n, 0n, 1n],
    ['\\N', 1n, 1n, 1n, 1n],
  ] as const;
  const staged = await stageRows(client, s, 'serving_layer_next', rows);
  assert.equal(staged.rows, rows.length);
  assert.match(staged.key, /^staging\/serving_layer_next\/.+\.csv\.gz$/);
  const obj = await client.send(new GetObjectCommand({ Bucket: bucket, Key: staged.key }));
  const body = gunzipSync(Buffer.from(await obj.Body!.transformToByteArray())).toString('utf8');
  assert.deepEqual(parseCsv(body), rows.map((r) => r.map((c) => (c === null ? null : String(c)))));
  client.destroy();
});

test('the COPY statement names the object, the columns, CSV GZIP and the IAM role, and passes the Redshift rules; keys are redacted', () => {
  const t = parseTable('analytics.serving_layer_next');
  const role = sql.copyFromS3(t, viewColumns(TWEET_VIEW), 'my-bucket', 'staging/x.csv.gz', 'eu-west-1', copyAuthorization(settings('my-bucket', 'role')));
  assert.equal(role, `COPY "analytics"."serving_layer_next" ("location", "count_id", "sum_followers_count", "sum_favorite_count", "sum_retweet_count") FROM 's3://my-bucket/staging/x.csv.gz' IAM_ROLE 'arn:aws:iam::123456789012:role/redshift-copy' FORMAT AS CSV GZIP NULL AS '\\\\N' REGION 'eu-west-1'`);
  assert.deepEqual(redshiftViolations(role), []);
  const keys = sql.copyFromS3(t, viewColumns(TWEET_VIEW), 'my-bucket', 'k', 'us-east-1', copyAuthorization(settings('my-bucket', 'keys')));
  assert.ok(keys.includes('very-secret-value-123'));
  assert.ok(!redactSql(keys).includes('very-secret-value-123'));
  assert.ok(!redactSql(keys).includes('AKIAEXAMPLEKEY'));
  assert.match(redactSql(keys), /SECRET_ACCESS_KEY '\*\*\*'/);
});

test('the redshift S3 bulk path uploads, sends exactly that COPY, and removes the object even when the COPY fails', async (t) => {
  const db = await freshDb(t);
  const bucket = `ls-${uid()}`;
  const s = settings(bucket, 'keys');
  const client = s3Client(s);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const sent: string[] = [];
  const conn = new pg.Client({ connectionString: DATABASE_URL });
  await conn.connect();
  t.after(() => conn.end());
  const query = conn.query.bind(conn) as (...a: unknown[]) => unknown;
  // observe (not replace) what reaches the real database
  (conn as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => { if (typeof a[0] === 'string') sent.push(a[0]); return query(...a); };
  const table = parseTable(db.t('serving_layer_next'));
  await conn.query(sql.createStaging(TWEET_VIEW, table, REDSHIFT));
  const rows = Array.from({ length: 1000 }, (_, i) => [`k${i}`, BigInt(i), 0n, 0n, 0n] as const);
  await assert.rejects(bulkWrite(conn as unknown as pg.PoolClient, REDSHIFT, table, viewColumns(TWEET_VIEW), rows, { settings: s, client }), (err: Error) => {
    // PostgreSQL reads COPY FROM '<file>' as a server file and refuses Redshift's options
    assert.match(err.message, /syntax error|could not open file|s3:/i);
    return true;
  });
  const copy = sent.find((x) => x.startsWith('COPY'));
  assert.ok(copy, 'a COPY was sent');
  assert.match(copy, new RegExp(`FROM 's3://${bucket}/staging/serving_layer_next/[^']+\\.csv\\.gz' ACCESS_KEY_ID 'AKIAEXAMPLEKEY' SECRET_ACCESS_KEY 'very-secret-value-123' FORMAT AS CSV GZIP`));
  assert.deepEqual(redshiftViolations(copy), []);
  const left = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  assert.equal(left.KeyCount ?? 0, 0, 'the staged object was removed');
  client.destroy();
});
