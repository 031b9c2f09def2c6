// Redshift's bulk path through S3: the rows as gzip CSV in one object, then COPY ... FROM 's3://'.
// The object is written with @aws-sdk/client-s3 (any S3-compatible endpoint works); Redshift
// reads it with an IAM role (preferred) or keys. Keys never reach a log line: statements that
// carry them are redacted wherever they are shown.
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Cell } from './bulk.js';

export interface S3Settings {
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  /** An S3-compatible endpoint (path-style addressing); undefined: AWS. */
  readonly endpoint: string | undefined;
  /** Credentials for the upload; undefined: the AWS SDK's default chain. */
  readonly uploadAccessKeyId: string | undefined;
  readonly uploadSecretAccessKey: string | undefined;
  /** How Redshift reads the object: an IAM role ARN, or keys. */
  readonly copyIamRole: string | undefined;
  readonly copyAccessKeyId: string | undefined;
  readonly copySecretAccessKey: string | undefined;
}

export interface StagedObject {
  readonly bucket: string;
  readonly key: string;
  readonly rows: number;
  readonly bytes: number;
}

export function s3Client(s: S3Settings): S3Client {
  return new S3Client({
    region: s.region,
    // S3-compatible servers: path-style, and checksums only where the API requires them (newer
    // SDKs add checksum headers by default that not every S3-compatible server implements)
    ...(s.endpoint ? { endpoint: s.endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    ...(s.uploadAccessKeyId && s.uploadSecretAccessKey ? { credentials: { accessKeyId: s.uploadAccessKeyId, secretAccessKey: s.uploadSecretAccessKey } } : {}),
  });
}

/** One CSV line: every text quoted (so an empty string is not NULL), \N unquoted for NULL. */
export function csvLine(row: readonly Cell[]): string {
  let line = '';
  for (let i = 0; i < row.length; i++) {
    const c = row[i];
    if (i > 0) line += ',';
    line += c === null || c === undefined ? '\\N' : typeof c === 'string' ? `"${c.replace(/"/g, '""')}"` : String(c);
  }
  return `${line}\n`;
}

/** Writes the rows as one gzip CSV object under the prefix; returns where. */
export async function stageRows(client: S3Client, s: S3Settings, table: string, rows: Iterable<readonly Cell[]>): Promise<StagedObject> {
  const parts: string[] = [];
  let n = 0;
  for (const r of rows) { parts.push(csvLine(r)); n++; }
  const body = gzipSync(Buffer.from(parts.join(''), 'utf8'));
  const key = `${s.prefix}${table}/${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.csv.gz`;
  await client.send(new PutObjectCommand({ Bucket: s.bucket, Key: key, Body: body, ContentType: 'text/csv', ContentEncoding: 'gzip' }));
  return { bucket: s.bucket, key, rows: n, bytes: body.length };
}

export async function removeStaged(client: S3Client, o: StagedObject): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: o.bucket, Key: o.key }));
}

/** The authorization clause of COPY. */
export function copyAuthorization(s: S3Settings): string {
  if (s.copyIamRole) return `IAM_ROLE '${s.copyIamRole.replace(/'/g, "''")}'`;
  return `ACCESS_KEY_ID '${(s.copyAccessKeyId ?? '').replace(/'/g, "''")}' SECRET_ACCESS_KEY '${(s.copySecretAccessKey ?? '').replace(/'/g, "''")}'`;
}

/** A statement with its credentials masked, for logs and error messages. */
export function redactSql(text: string): string {
  return text.replace(/\b(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|CREDENTIALS)\s+'(?:[^']|'')*'/gi, "$1 '***'");
}
