// What Amazon Redshift does not accept, as checks on statement text. The redshift profile runs
// every statement through these before sending it (so a run against PostgreSQL with
// WAREHOUSE_DIALECT=redshift fails where Redshift would), and tests capture what was sent.
// Sources: Redshift's "Unsupported PostgreSQL features/functions" and its limits (16 MB per
// statement; bind parameters counted by the wire protocol's int16).

export interface Violation {
  readonly rule: string;
  readonly excerpt: string;
}

export const MAX_STATEMENT_BYTES = 16 * 1024 * 1024;
export const MAX_BIND_PARAMS = 65_535;

const RULES: ReadonlyArray<readonly [string, RegExp]> = [
  ['COPY FROM STDIN (Redshift loads from S3)', /\bCOPY\b[\s\S]*?\bFROM\s+STDIN\b/i],
  ['COPY TO STDOUT', /\bTO\s+STDOUT\b/i],
  ['ON CONFLICT (no upsert clause)', /\bON\s+CONFLICT\b/i],
  ['RETURNING', /\bRETURNING\b/i],
  ['array constructor', /\bARRAY\s*\[/i],
  ['array type', /\b\w+\s*\[\s*\]/],
  ['UNNEST', /\bUNNEST\s*\(/i],
  ['ANY(array)', /\b(ANY|ALL)\s*\(\s*\$\d+/i],
  ['ARRAY_AGG / STRING_AGG', /\b(ARRAY_AGG|STRING_AGG)\s*\(/i],
  ['generate_series', /\bGENERATE_(SERIES|SUBSCRIPTS)\s*\(/i],
  ['advisory locks', /\bPG_(TRY_)?ADVISORY_\w*/i],
  ['TEMP table (gone with its session)', /\b(CREATE\s+(LOCAL\s+|GLOBAL\s+)?(TEMP|TEMPORARY)\s+TABLE|INTO\s+(TEMP|TEMPORARY)\b)/i],
  ['UNLOGGED table', /\bUNLOGGED\b/i],
  ['lock_timeout', /\block_timeout\b/i],
  ['SET LOCAL', /\bSET\s+LOCAL\b/i],
  ['IS DISTINCT FROM', /\bIS\s+(NOT\s+)?DISTINCT\s+FROM\b/i],
  ['jsonb', /\bJSONB\b/i],
  ['serial types', /\b(SMALL|BIG)?SERIAL\b/i],
  ['indexes', /\bCREATE\s+(UNIQUE\s+)?INDEX\b/i],
  ['regclass', /::\s*regclass\b|\bTO_REGCLASS\s*\(/i],
  ['pg_sleep', /\bPG_SLEEP\s*\(/i],
  ['clock_timestamp / transaction_timestamp', /\b(CLOCK|TRANSACTION)_TIMESTAMP\s*\(/i],
  ['FORMAT()', /\bFORMAT\s*\(/i],
  ['ROLLBACK TO SAVEPOINT', /\bROLLBACK\s+TO\b/i],
  ['row locking (FOR UPDATE / SKIP LOCKED)', /\bFOR\s+(NO\s+KEY\s+)?UPDATE\b|\bSKIP\s+LOCKED\b/i],
  ['TRUNCATE (commits the transaction on Redshift)', /\bTRUNCATE\b/i],
  ['VALUES list as a table', /\bFROM\s*\(\s*VALUES\b/i],
  ['COLLATE', /\bCOLLATE\b/i],
];

/** Removes string literals, quoted identifiers and comments, so a rule does not fire on data. */
function code(text: string): string {
  return text
    .replace(/'[^']*(?:''[^']*)*'/g, "''") // unrolled: no per-character backtracking stack on 16 MB literals
    .replace(/"[^"]*(?:""[^"]*)*"/g, '""')
    .replace(/--[^\n]*/g, '')
    .replace(/\/\*[\s\S]*?\*\//g, '');
}

export function redshiftViolations(text: string, params = 0): Violation[] {
  const out: Violation[] = [];
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_STATEMENT_BYTES) out.push({ rule: `statement over 16 MB (${bytes} bytes)`, excerpt: text.slice(0, 80) });
  if (params > MAX_BIND_PARAMS) out.push({ rule: `more than ${MAX_BIND_PARAMS} bind parameters (${params})`, excerpt: text.slice(0, 80) });
  const c = code(text);
  for (const [rule, re] of RULES) {
    const m = re.exec(c);
    if (m) out.push({ rule, excerpt: c.slice(Math.max(0, m.index - 30), m.index + 50) });
  }
  return out;
}
