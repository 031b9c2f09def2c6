// The closed catalogue of this service's errors. Every error we raise on purpose is an LsError
// with one of these codes; `retryable` says whether the operation may be tried again as is.

export const ERRORS = {
  LS_CONFIG: { message: 'invalid configuration', retryable: false },
  LS_BAD_MESSAGE: { message: 'speed-layer record rejected', retryable: false },
  LS_INT64_OVERFLOW: { message: 'metric overflows int64', retryable: false },
  LS_WAREHOUSE_UNAVAILABLE: { message: 'warehouse unavailable', retryable: true },
  LS_WAREHOUSE_QUERY: { message: 'warehouse statement failed', retryable: false },
  LS_BATCH_LOAD: { message: 'batch layer load failed', retryable: false },
  LS_FLUSH: { message: 'snapshot flush failed', retryable: false },
  LS_KAFKA: { message: 'kafka client error', retryable: true },
  LS_SHUTTING_DOWN: { message: 'service is shutting down', retryable: false },
  LS_BAD_VIEW: { message: 'invalid view configuration', retryable: false },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class LsError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(detail ? `${ERRORS[code].message}: ${detail}` : ERRORS[code].message, { cause: options?.cause });
    this.name = 'LsError';
    this.code = code;
    this.retryable = options?.retryable ?? (ERRORS[code].retryable || isRetryable(options?.cause));
  }
}

/** SQLSTATEs worth retrying: serialization failure, deadlock, the server starting or shutting
 * down, connection failures, and statement/lock timeouts (the next try may win). */
const RETRYABLE_SQLSTATES = new Set([
  '40001', '40P01', // serialization_failure, deadlock_detected
  '57P01', '57P02', '57P03', // admin_shutdown, crash_shutdown, cannot_connect_now
  '53300', // too_many_connections
  '08000', '08001', '08003', '08004', '08006', // connection exceptions
  '55P03', '57014', // lock_not_available, query_canceled (statement_timeout)
  '1023', // Redshift: serializable isolation violation
]);

const RETRYABLE_NODE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
]);

const RETRYABLE_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
  'Serializable isolation violation', // Redshift error 1023 arrives as SQLSTATE XX000 with this text
];

/** Classifies an unknown error (pg, node net, kafkajs) as retryable or not. */
export function isRetryable(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; retryable?: unknown; message?: unknown; cause?: unknown };
  if (e instanceof LsError) return e.retryable;
  if (typeof e.code === 'string' && (RETRYABLE_SQLSTATES.has(e.code) || RETRYABLE_NODE_CODES.has(e.code))) return true;
  if (typeof e.retryable === 'boolean') return e.retryable; // kafkajs errors carry this flag
  if (typeof e.message === 'string' && RETRYABLE_MESSAGES.some((m) => (e.message as string).includes(m))) return true;
  return e.cause !== undefined && e.cause !== err ? isRetryable(e.cause) : false;
}

/** Exponential backoff with equal jitter: a random delay in [c/2, c], c = min(cap, base * 2^attempt). */
export function backoffDelay(attempt: number, baseMs = 200, capMs = 10_000, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
