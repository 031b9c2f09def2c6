// What each warehouse can do. Code asks the profile, never "is this Redshift?".
export interface DialectProfile {
  readonly name: 'postgres' | 'redshift';
  /** How the staging table is filled: COPY FROM STDIN, or multi-row INSERT chunks. */
  readonly bulkWrite: 'copy' | 'insert';
  /** Column type of the key column in tables we create. */
  readonly keyType: string;
  /** Largest statement text we send, bytes (Redshift: 16 MB). */
  readonly maxStatementBytes: number;
  /** Most bind parameters in one statement. */
  readonly maxParams: number;
  /** SET LOCAL lock_timeout is understood (Redshift has no lock_timeout). */
  readonly lockTimeout: boolean;
}

export const POSTGRES: DialectProfile = Object.freeze({
  name: 'postgres',
  bulkWrite: 'copy',
  keyType: 'text',
  maxStatementBytes: 64 * 1024 * 1024,
  maxParams: 65_535,
  lockTimeout: true,
});

export const REDSHIFT: DialectProfile = Object.freeze({
  name: 'redshift',
  bulkWrite: 'insert',
  keyType: 'varchar(65535)',
  maxStatementBytes: 16 * 1024 * 1024 - 64 * 1024, // under 16 MB with room for the statement head
  maxParams: 65_535,
  lockTimeout: false,
});

export const PROFILES = { postgres: POSTGRES, redshift: REDSHIFT } as const;

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
