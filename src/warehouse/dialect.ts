// What each warehouse can do. Code asks the profile, never "is this Redshift?".
export interface DialectProfile {
  readonly name: 'postgres' | 'redshift' | 'embedded';
  /** How the staging table is filled: COPY FROM STDIN, or multi-row INSERT chunks. */
  readonly bulkWrite: 'copy' | 'insert';
  /** How the batch table is read: COPY (SELECT ...) TO STDOUT, or a server-side cursor. */
  readonly bulkRead: 'copy' | 'cursor';
  /** Column type of the key column in tables we create. */
  readonly keyType: string;
  /** Largest statement text we send, bytes (Redshift: 16 MB). */
  readonly maxStatementBytes: number;
  /** Most bind parameters in one statement. */
  readonly maxParams: number;
  /** SET LOCAL lock_timeout is understood (Redshift has no lock_timeout). */
  readonly lockTimeout: boolean;
  /** Statements are checked against what Redshift rejects before they are sent. */
  readonly checkStatements: boolean;
  /** COPY ... FROM 's3://' is available (used when S3 is configured). */
  readonly s3Copy: boolean;
  /** Most connections to open; undefined: the pool's default. */
  readonly maxConnections?: number;
}

export const POSTGRES: DialectProfile = Object.freeze({
  name: 'postgres',
  bulkWrite: 'copy',
  bulkRead: 'copy',
  keyType: 'text',
  maxStatementBytes: 64 * 1024 * 1024,
  maxParams: 65_535,
  lockTimeout: true,
  checkStatements: false,
  s3Copy: false,
});

export const REDSHIFT: DialectProfile = Object.freeze({
  name: 'redshift',
  bulkWrite: 'insert',
  bulkRead: 'cursor', // Redshift has no COPY TO STDOUT (only UNLOAD to S3)
  keyType: 'varchar(65535)',
  maxStatementBytes: 16 * 1024 * 1024 - 64 * 1024, // under 16 MB with room for the statement head
  maxParams: 65_535,
  lockTimeout: false,
  checkStatements: true,
  s3Copy: true,
});

/** PGlite behind pglite-socket (embedded mode): PostgreSQL SQL, but COPY FROM STDIN does not pass
 * through the socket, and every connection shares one session, so transactions and cursors of two
 * connections would interleave: one connection, INSERT chunks. */
export const EMBEDDED: DialectProfile = Object.freeze({
  name: 'embedded',
  bulkWrite: 'insert',
  bulkRead: 'cursor',
  keyType: 'text',
  maxStatementBytes: 4 * 1024 * 1024,
  maxParams: 65_535,
  lockTimeout: false,
  checkStatements: false,
  s3Copy: false,
  maxConnections: 1,
});

export const PROFILES = { postgres: POSTGRES, redshift: REDSHIFT, embedded: EMBEDDED } as const;

/** Decides the dialect from `select version()`, the port and the host name. */
export function detectDialect(version: string, url: string): DialectProfile {
  if (/redshift/i.test(version)) return REDSHIFT;
  try {
    const u = new URL(url);
    if (u.protocol === 'redshift:' || u.port === '5439' || /\.redshift(-serverless)?\.amazonaws\.com$/i.test(u.hostname)) return REDSHIFT;
  } catch {
    return POSTGRES; // an unparseable URL was already refused by config; default to postgres
  }
  return POSTGRES;
}
