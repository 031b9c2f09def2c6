// A view: one key column plus additive int64 metric columns, and the message field each maps to.
// The default is the tweet example of DESIGN.md; VIEW_CONFIG names a JSON file for another view.
import { readFileSync } from 'node:fs';
import { LsError } from './errors.js';

export interface MetricDef {
  /** Warehouse column (a validated identifier). */
  readonly column: string;
  /** Field name in the speed-layer JSON message, e.g. "count(id)". */
  readonly field: string;
}

export interface View {
  readonly keyColumn: string;
  readonly keyField: string;
  readonly metrics: readonly MetricDef[];
  /** Message field that orders totals; absent: the Kafka record timestamp. */
  readonly versionField?: string;
  /** Message field holding Spark's window struct {start, end}. */
  readonly windowField: string;
}

export const TWEET_VIEW: View = Object.freeze({
  keyColumn: 'location',
  keyField: 'location',
  metrics: Object.freeze([
    { column: 'count_id', field: 'count(id)' },
    { column: 'sum_followers_count', field: 'sum(followers_count)' },
    { column: 'sum_favorite_count', field: 'sum(favorite_count)' },
    { column: 'sum_retweet_count', field: 'sum(retweet_count)' },
  ]),
  windowField: 'window',
});

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function isIdentifier(s: string): boolean {
  return IDENT.test(s);
}

/** Checks a parsed view description; returns every problem found (empty when valid). */
export function viewProblems(raw: unknown): string[] {
  const problems: string[] = [];
  if (raw === null || typeof raw !== 'object') return ['view must be a JSON object'];
  const v = raw as Record<string, unknown>;
  const str = (x: unknown): x is string => typeof x === 'string' && x.length > 0;
  if (!str(v.keyColumn) || !isIdentifier(v.keyColumn)) problems.push('keyColumn must be an identifier ([A-Za-z_][A-Za-z0-9_]*)');
  if (!str(v.keyField)) problems.push('keyField must be a non-empty string');
  if (v.versionField !== undefined && !str(v.versionField)) problems.push('versionField must be a non-empty string');
  if (v.windowField !== undefined && !str(v.windowField)) problems.push('windowField must be a non-empty string');
  if (!Array.isArray(v.metrics) || v.metrics.length === 0) {
    problems.push('metrics must be a non-empty array of {column, field}');
  } else {
    const seen = new Set<string>();
    v.metrics.forEach((m: unknown, i) => {
      const mm = (m ?? {}) as Record<string, unknown>;
      if (!str(mm.column) || !isIdentifier(mm.column)) problems.push(`metrics[${i}].column must be an identifier`);
      else if (seen.has(mm.column) || mm.column === v.keyColumn) problems.push(`metrics[${i}].column "${mm.column}" is used twice`);
      else seen.add(mm.column);
      if (!str(mm.field)) problems.push(`metrics[${i}].field must be a non-empty string`);
    });
  }
  return problems;
}

export function loadView(path: string): View {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LsError('LS_BAD_VIEW', `cannot read ${path}`, { cause: err });
  }
  const problems = viewProblems(raw);
  if (problems.length > 0) throw new LsError('LS_BAD_VIEW', `${path}: ${problems.join('; ')}`);
  const v = raw as Record<string, unknown> & { metrics: MetricDef[] };
  return Object.freeze({
    keyColumn: v.keyColumn as string,
    keyField: v.keyField as string,
    metrics: Object.freeze(v.metrics.map((m) => Object.freeze({ column: m.column, field: m.field }))),
    windowField: (v.windowField as string | undefined) ?? 'window',
    ...(v.versionField !== undefined ? { versionField: v.versionField as string } : {}),
  });
}
