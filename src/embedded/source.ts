// The speed source of embedded mode: an in-process stand-in for the Kafka topic. A timer appends
// generated Spark-format records to an in-memory log of one partition (offsets 0, 1, 2, ...) at
// the configured rate; a drain loop reads the log from its position and runs each record through
// the same decode-and-apply code as the Kafka consumer (../speed/apply.ts). Only the transport is
// different: no broker, no consumer group, no dead-letter topic.
//
// States: stopped -> running (tick: produce; drain: apply up to DRAIN_CHUNK records, then yield
// the event loop and go on while records are pending) -> stopped. Lag is what the log holds
// beyond the position, as for Kafka.
import { Applier, Rejections } from '../speed/apply.js';
import type { RawRecord } from '../speed/decode.js';
import type { SpeedSource, SpeedSourceDeps, SpeedSourceStatus } from '../speed/source.js';
import type { SparkUpdates } from './generator.js';

export interface GeneratorSourceOptions extends SpeedSourceDeps {
  readonly updates: SparkUpdates;
  /** Records per second (0: none). */
  readonly rate: number;
  readonly tickMs?: number;
}

const PARTITION = 0;
const DRAIN_CHUNK = 2_000;
/** Applied records are dropped from the log once this many have piled up before the position. */
const COMPACT_AT = 50_000;

export class GeneratorSource implements SpeedSource {
  private log: RawRecord[] = [];
  /** Offset of log[0]. */
  private base = 0n;
  /** Next offset to apply. */
  private position = 0n;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private draining = false;
  private lastTick = 0;
  private carry = 0;
  private readonly rejections: Rejections;
  private readonly applier: Applier;

  constructor(private readonly o: GeneratorSourceOptions) {
    this.rejections = new Rejections(o.log, o.metrics);
    this.applier = new Applier(o);
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.running || signal?.aborted) return;
    this.running = true;
    this.lastTick = Date.now();
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 100);
    this.timer.unref();
    this.o.log.info({ rate: this.o.rate, partition: PARTITION }, 'in-process speed source started');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.running = false;
  }

  positions(): Record<string, string> {
    return { [String(PARTITION)]: this.position.toString() };
  }

  status(): SpeedSourceStatus {
    // nothing to catch up with at start: the log begins empty with this process
    return { running: this.running, assigned: [PARTITION], caughtUp: this.running, lag: { [String(PARTITION)]: this.lag().toString() }, lastError: undefined };
  }

  /** Nothing to commit: the in-process log has no consumer group. */
  async commitForMonitoring(): Promise<void> {}

  get restoringPartitions(): number {
    return 0;
  }

  /** Appends records to the log, as a producer would (also used by tests to inject records). */
  append(records: readonly RawRecord[]): void {
    for (const r of records) this.log.push(r);
    this.drainSoon();
  }

  private tick(): void {
    const now = Date.now();
    const due = (this.o.rate * (now - this.lastTick)) / 1000 + this.carry;
    this.lastTick = now;
    const n = Math.floor(due);
    this.carry = due - n;
    const batch: RawRecord[] = [];
    for (let i = 0; i < n; i++) batch.push(this.o.updates.next());
    this.append(batch);
  }

  private lag(): bigint {
    return this.base + BigInt(this.log.length) - this.position;
  }

  private drainSoon(): void {
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    if (!this.running) { this.draining = false; return; } // stopped: nothing is applied after stop()
    let i = Number(this.position - this.base);
    const end = Math.min(this.log.length, i + DRAIN_CHUNK);
    for (; i < end; i++) {
      const rec = this.log[i] as RawRecord;
      const outcome = this.applier.apply(rec, PARTITION, Number(this.position));
      if (typeof outcome === 'object') this.rejections.report(rec, PARTITION, this.position.toString(), outcome);
      this.position++;
    }
    if (i >= COMPACT_AT) {
      this.log = this.log.slice(i);
      this.base += BigInt(i);
    }
    this.applier.publish();
    this.o.metrics.consumerLag.set({ partition: String(PARTITION) }, Number(this.lag()));
    this.draining = false;
    if (this.lag() > 0n) this.drainSoon();
  }
}
