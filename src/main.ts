// Composition root: configuration, logger, (embedded warehouse and speed source,) service, signals.
// SIGTERM/SIGINT: graceful stop within SHUTDOWN_TIMEOUT; a second signal forces exit.
import { loadConfigFromEnv } from './config.js';
import { startEmbedded, type Embedded } from './embedded/index.js';
import { LsError } from './errors.js';
import { createLogger } from './log.js';
import { Service } from './service.js';

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadConfigFromEnv();
  } catch (err) {
    if (err instanceof LsError && err.code === 'LS_CONFIG') {
      process.stderr.write(`lambda-serving: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(cfg.logLevel);
  let embedded: Embedded | undefined;
  let service: Service | undefined;
  let stopping: Promise<void> | undefined;
  // the service first (its final flush writes to the warehouse), then the embedded warehouse
  const stopAll = () => (stopping ??= (async () => {
    await service?.stop();
    await embedded?.close();
  })());

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
    stopAll().then(
      () => { log.flush(); process.exitCode = 0; },
      (err: unknown) => { log.error({ err }, 'shutdown failed'); log.flush(); process.exitCode = 1; },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    if (cfg.mode === 'embedded') {
      embedded = await startEmbedded(cfg, log);
      if (signals > 0) { await stopAll(); return; } // stopped while the embedded warehouse started
    }
    service = new Service(embedded?.config ?? cfg, log, embedded ? { speedSource: embedded.speedSource } : {});
    await service.start();
  } catch (err) {
    log.fatal({ err }, 'start failed');
    await stopAll().catch((e: unknown) => log.error({ err: e }, 'stop after a failed start failed'));
    log.flush();
    process.exit(1);
  }
}

void main();
