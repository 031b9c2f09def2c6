// A PostgreSQL wire-protocol server over PGlite: pglite-socket's connection handler (framing,
// SSL refusal, cancel requests) with a session-aware queue in place of its own.
//
// PGlite is one PostgreSQL session. pglite-socket's queue keeps a transaction's statements
// together but interleaves the messages of an extended-protocol exchange (Parse, Bind, Execute
// ... Sync) of one connection with another connection's: a psql query landing between a
// cursor's Executes drops the cursor's portal. Here a connection owns the session from its first
// message until it is at a sync point (after Sync, a simple Query or the startup message, outside
// a transaction); the messages of other connections wait until then.
//
// This relies on the handler's queue contract of @electric-sql/pglite-socket 0.2.x
// (enqueue, clearQueueForHandler, clearTransactionIfNeeded).
import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler } from '@electric-sql/pglite-socket';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

interface Queued {
  readonly handlerId: number;
  readonly message: Uint8Array;
  readonly onData: (data: Uint8Array) => void;
  readonly resolve: (bytes: number) => void;
  readonly reject: (err: unknown) => void;
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

export class SessionQueue {
  private queue: Queued[] = [];
  private owner: number | undefined;
  private pumping = false;

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ handlerId, message, onData, resolve, reject });
      void this.pump();
    });
  }

  clearQueueForHandler(handlerId: number): void {
    this.queue = this.queue.filter((q) => {
      if (q.handlerId === handlerId) q.reject(new Error('connection closed'));
      return q.handlerId !== handlerId;
    });
  }

  /** A closed connection gives the session back, rolling back a transaction it left open. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
    this.owner = undefined;
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const i = this.owner === undefined ? 0 : this.queue.findIndex((q) => q.handlerId === this.owner);
        if (i < 0 || i >= this.queue.length) return; // idle, or the owner has not sent its next message yet
        const [q] = this.queue.splice(i, 1) as [Queued];
        this.owner = q.handlerId;
        let bytes = 0;
        try {
          await this.db.runExclusive(() => this.db.execProtocolRawStream(q.message, { onRawData: (d) => { bytes += d.length; q.onData(d); } }));
          q.resolve(bytes);
        } catch (err) {
          q.reject(err);
        }
        const type = q.message[0];
        const atSyncPoint = type === SYNC || type === QUERY || type === TERMINATE || type === 0; // 0: the startup message (a length, no type byte)
        if (atSyncPoint && !this.db.isInTransaction()) this.owner = undefined;
      }
    } finally {
      this.pumping = false;
    }
  }
}

export interface PgliteServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves db on host, on a free port. */
export async function servePglite(db: PGlite, log: Logger, host = '127.0.0.1'): Promise<PgliteServer> {
  const queue = new SessionQueue(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const server: Server = createServer((socket: Socket) => {
    // the handler's option is typed as pglite-socket's own (unexported) queue class
    const handler = new PGLiteSocketHandler({ queryQueue: queue as never, closeOnDetach: true });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener('close', forget);
    handler.addEventListener('error', (e) => {
      forget();
      log.debug({ err: errorMessage((e as CustomEvent).detail) }, 'embedded warehouse connection error');
    });
    handler.attach(socket).catch((err: unknown) => {
      forget();
      log.warn({ err: errorMessage(err) }, 'embedded warehouse connection refused');
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => { server.off('error', reject); resolve(); });
  });
  server.on('error', (err) => log.warn({ err: err.message }, 'embedded warehouse server error'));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('embedded warehouse: no TCP address');
  return {
    host,
    port: address.port,
    close: async () => {
      await Promise.all([...handlers].map((h) => h.detach(true)));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
