// pino, one root logger; components take child loggers. Secrets are redacted by path, and the
// warehouse URL is never logged whole (config.describeConfig strips its password).
import pino, { type Bindings, type ChildLoggerOptions, type Level, type Logger } from 'pino';

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

/**
 * A child logger made on its first write. The HTTP server gives every request a logger bound to
 * its request id, and at read rates almost none of them is ever written to; a pino child is not
 * free (with `redact` configured, child() serialises and redacts its bindings: about a quarter of
 * the server's CPU per read). Lines are the same as the eager child's; a level that is off for
 * the parent (and not lowered for the child) costs nothing.
 */
export class LazyChildLogger {
  private made: Logger | undefined;

  constructor(private readonly parent: Logger, private readonly bindings: Bindings, private readonly options: ChildLoggerOptions = {}) {}

  /** The real child, made now if not yet. */
  get logger(): Logger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  fatal(obj: unknown, msg?: string, ...args: unknown[]): void { this.write('fatal', obj, msg, args); }
  error(obj: unknown, msg?: string, ...args: unknown[]): void { this.write('error', obj, msg, args); }
  warn(obj: unknown, msg?: string, ...args: unknown[]): void { this.write('warn', obj, msg, args); }
  info(obj: unknown, msg?: string, ...args: unknown[]): void { this.write('info', obj, msg, args); }
  debug(obj: unknown, msg?: string, ...args: unknown[]): void { this.write('debug', obj, msg, args); }
  trace(obj: unknown, msg?: string, ...args: unknown[]): void { this.write('trace', obj, msg, args); }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.logger.child(bindings, options);
  }

  private write(level: Level, obj: unknown, msg: string | undefined, args: unknown[]): void {
    if (this.made === undefined && this.options.level === undefined && !this.parent.isLevelEnabled(level)) return;
    const log = this.logger;
    if (msg === undefined) log[level](obj);
    else log[level](obj, msg, ...args);
  }
}
