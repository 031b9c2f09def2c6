// Composition root: configuration, logger, service, signals.
// SIGTERM/SIGINT: graceful stop within SHUTDOWN_TIMEOUT; a second signal forces exit.
import { loadConfig } from './config.js';
import { LsError } from './errors.js';
import { createLogger } from './log.js';
import { Service } from './service.js';

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadConfig(process.env);
  } catch (err) {
    if (err instanceof LsError && err.code === 'LS_CONFIG') {
      process.stderr.write(`lambda-serving: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(cfg.logLevel);
  const service = new Service(cfg, log);

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now');
      log.flush();
      process.exit(130);
    }
    log.info({ signal: sig, timeoutMs: cfg.shutdownTimeoutMs }, 'shutting down');
    const hard = setTimeout(() => {
      log.error('shutdown timed out; exiting');
      log.flush();
      process.exit(1);
    }, cfg.shutdownTimeoutMs);
    hard.unref();
    service.stop().then(
      () => { log.flush(); process.exitCode = 0; },
      (err: unknown) => { log.error({ err }, 'shutdown failed'); log.flush(); process.exitCode = 1; },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await service.start();
  } catch (err) {
    log.fatal({ err }, 'start failed');
    await service.stop().catch(() => undefined);
    log.flush();
    process.exit(1);
  }
}

void main();
