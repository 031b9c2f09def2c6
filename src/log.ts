// pino, one root logger; components take child loggers. Secrets are redacted by path, and the
// warehouse URL is never logged whole (config.describeConfig strips its password).
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password', '*.password', 'adminToken', '*.adminToken', 'warehouseUrl', '*.warehouseUrl',
  'connectionString', '*.connectionString', 'req.headers.authorization', 'headers.authorization',
  'secretAccessKey', '*.secretAccessKey', '*.copySecretAccessKey', '*.uploadSecretAccessKey', '*.*.copySecretAccessKey', '*.*.uploadSecretAccessKey',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'lambda-serving' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: pino.stdSerializers.errWithCause },
    },
    destination,
  );
}
