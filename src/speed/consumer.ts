// The Kafka side: a kafkajs consumer (eachBatch) that decodes speed-layer records into the store.
//
// Positions are ours, not Kafka's. On every group join each assigned partition is sought to the
// position this process already holds for it, or, for a partition it does not hold, to the
// start position given by `startOffset` (a checkpoint) or else offset 0 (an offset below the log
// start resets to the earliest retained record). Partitions no longer assigned are dropped from
// the store. Kafka's committed offsets are written only for lag monitoring.
//
// Readiness: after a join, the consumer is "caught up" once every assigned partition has been
// read up to the high watermark it had at join time.
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { turn } from '../async.js';
import { backoffDelay, errorMessage, LsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { Applier, Rejections } from './apply.js';
import { Decoder, type RawRecord, type Rejection } from './decode.js';
import type { SpeedSource, SpeedSourceStatus } from './source.js';
import type { SpeedStore } from './store.js';

export interface ConsumerOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  readonly groupId: string;
  readonly deadLetterTopic: string | undefined;
  readonly decoder: Decoder;
  readonly store: SpeedStore;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Restores a partition this process does not hold from the last checkpoint (its speed entries
   * into the store) and returns the checkpointed next offset; undefined: no checkpoint, read the
   * partition from its start. */
  readonly restore?: (partitions: number[]) => Promise<Map<number, bigint>>;
  /** Updates of windows ending at or before this (the batch watermark) are already in the batch. */
  readonly watermark?: () => number | undefined;
  readonly sessionTimeoutMs?: number;
}

/** Longest stretch of record processing before HTTP requests get a turn. */
const YIELD_EVERY_MS = 5;

/** The clock is read once per this many records (a record takes about a microsecond). */
const CLOCK_EVERY = 32;

/** A Kafka offset (decimal text) as a number, which is exact: a partition would need 2^53
 * records (decades at ten million a second) to get beyond it. If one ever does, the batch fails
 * with this error in the consumer's crash log (kafkajs retries it) rather than losing order. */
function offsetOf(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new LsError('LS_KAFKA', `offset ${text} is beyond 2^53, which this service does not handle`, { retryable: false });
  return n;
}

interface Rejected { readonly rec: RawRecord; readonly offset: string; readonly r: Rejection }

/** No successful fetch for this long: the broker is out of reach (fetches return every 100 ms). */
const STALL_MS = 5_000;

export type ConsumerStatus = SpeedSourceStatus;

export class SpeedConsumer implements SpeedSource {
  private readonly consumer: Consumer;
  private dlq: Producer | undefined;
  /** partition -> next offset to apply (all records below it are in the store). */
  private readonly position = new Map<number, bigint>();
  private readonly highAtJoin = new Map<number, bigint>();
  private readonly lowAtJoin = new Map<number, bigint>();
  private readonly retentionWarned = new Set<number>();
  private restoring = new Set<number>();
  private generation = 0;
  private readonly lag = new Map<number, bigint>();
  private assigned = new Set<number>();
  private caughtUp = false;
  private running = false;
  private stopped = false;
  private lastFetchAt: number | undefined;
  private lastError: string | undefined;
  private adminConnected = false;
  private readonly rejections: Rejections;
  private readonly applier: Applier;

  constructor(private readonly o: ConsumerOptions) {
    this.rejections = new Rejections(o.log, o.metrics);
    this.applier = new Applier(o);
    this.consumer = o.kafka.consumer({
      groupId: o.groupId,
      // a member that died (kill -9) holds its partitions until this expires: keep it short
      sessionTimeout: o.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 100,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 10_000 },
    });
    const ev = this.consumer.events;
    this.consumer.on(ev.GROUP_JOIN, (e) => this.onJoin(e.payload.memberAssignment[o.topic] ?? []));
    this.consumer.on(ev.CRASH, (e) => {
      this.lastError = errorMessage(e.payload.error);
      o.log.error({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed');
    });
    this.consumer.on(ev.CONNECT, () => { this.lastError = undefined; });
    // fetches return every maxWaitTime even when idle: a gap means the broker is out of reach
    this.consumer.on(ev.FETCH, () => { this.lastFetchAt = Date.now(); });
    this.consumer.on(ev.REQUEST_TIMEOUT, (e) => { this.lastError = `request timeout to ${e.payload.broker}`; });
  }

  /** Connects and starts consuming. A missing topic is waited for (readyz says so) rather
   * than failing the start: the streaming job may create it later. */
  async start(signal?: AbortSignal): Promise<void> {
    await this.waitForTopic(signal);
    if (signal?.aborted) return;
    if (this.o.deadLetterTopic !== undefined) {
      this.dlq = this.o.kafka.producer({ allowAutoTopicCreation: true, idempotent: false });
      await this.dlq.connect();
    }
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.o.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.eachBatch(p),
    });
    this.running = true;
  }

  private async waitForTopic(signal?: AbortSignal): Promise<void> {
    const admin = this.o.kafka.admin();
    try {
      for (let attempt = 0; !signal?.aborted; attempt++) {
        try {
          if (attempt === 0 || !this.adminConnected) { await admin.connect(); this.adminConnected = true; }
          const topics = await admin.listTopics();
          if (topics.includes(this.o.topic)) { this.lastError = undefined; return; }
          this.lastError = `topic "${this.o.topic}" does not exist (yet)`;
        } catch (err) {
          this.adminConnected = false;
          this.lastError = `kafka unavailable: ${errorMessage(err)}`;
        }
        if (attempt % 10 === 0) this.o.log.warn({ topic: this.o.topic, reason: this.lastError }, 'waiting for the speed topic');
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, 250, 5_000)).unref());
      }
    } finally {
      await admin.disconnect().catch((e: Error) => this.o.log.debug({ err: e.message }, 'admin disconnect failed'));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
    await this.dlq?.disconnect();
  }

  /** The consumed positions: partition -> next offset (a consistent cut with the store). */
  positions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [p, o] of this.position) if (this.assigned.has(p)) out[String(p)] = o.toString();
    return out;
  }

  /** Commits positions to Kafka for lag monitoring (our own checkpoint is what restarts use). */
  async commitForMonitoring(positions: Record<string, string>): Promise<void> {
    const partitions = Object.entries(positions).map(([partition, offset]) => ({ topic: this.o.topic, partition: Number(partition), offset }));
    if (partitions.length > 0 && this.running) await this.consumer.commitOffsets(partitions);
  }

  /** Partitions assigned but not yet restored: a checkpoint now would miss them. */
  get restoringPartitions(): number {
    return this.restoring.size;
  }

  status(): ConsumerStatus {
    const lag: Record<string, string> = {};
    for (const [p, l] of this.lag) if (this.assigned.has(p)) lag[String(p)] = l.toString();
    const sinceFetch = this.lastFetchAt === undefined ? undefined : Date.now() - this.lastFetchAt;
    const stalled = this.running && sinceFetch !== undefined && sinceFetch > STALL_MS ? `no fetch from Kafka for ${Math.round(sinceFetch / 1000)}s` : undefined;
    return { running: this.running, assigned: [...this.assigned].sort((a, b) => a - b), caughtUp: this.caughtUp, lag, lastError: stalled ?? this.lastError };
  }

  // On a join: revoked partitions are dropped; partitions this process still holds continue at
  // its own position; newly assigned ones are paused while their checkpointed state is restored,
  // then sought to the checkpointed offset (or 0) and resumed. Nothing is applied to a partition
  // before its state is back.
  private onJoin(partitions: number[]): void {
    const next = new Set(partitions);
    const revoked = new Set([...this.assigned].filter((p) => !next.has(p)));
    if (revoked.size > 0) {
      const dropped = this.o.store.dropPartitions(revoked);
      for (const p of revoked) { this.position.delete(p); this.lag.delete(p); }
      this.o.log.info({ revoked: [...revoked], droppedEntries: dropped }, 'partitions revoked; their speed state dropped');
    }
    this.assigned = next;
    this.caughtUp = false;
    this.highAtJoin.clear();
    const generation = ++this.generation;
    const fresh: number[] = [];
    for (const p of partitions) {
      const held = this.position.get(p);
      if (held !== undefined) this.consumer.seek({ topic: this.o.topic, partition: p, offset: held.toString() });
      else fresh.push(p);
    }
    if (fresh.length > 0) {
      this.restoring = new Set(fresh);
      this.consumer.pause([{ topic: this.o.topic, partitions: fresh }]);
      void this.restorePartitions(fresh, generation);
    }
    this.o.log.info({ partitions, restoring: fresh }, 'joined consumer group');
    void this.readHighWatermarks(partitions, generation);
  }

  private async restorePartitions(partitions: number[], generation: number): Promise<void> {
    for (let attempt = 0; generation === this.generation && !this.stopped; attempt++) {
      try {
        const offsets = (await this.o.restore?.(partitions)) ?? new Map<number, bigint>();
        if (generation !== this.generation) {
          // A newer join took over. Restoring is idempotent (entries are set, not added), so what
          // this pass restored for partitions still assigned is restored again by the newer pass;
          // only partitions no longer assigned are dropped. Dropping them all here would race the
          // newer pass and could empty its partitions.
          this.o.store.dropPartitions(new Set(partitions.filter((p) => !this.assigned.has(p))));
          return;
        }
        for (const p of partitions) {
          const offset = offsets.get(p) ?? 0n;
          this.position.set(p, offset);
          this.consumer.seek({ topic: this.o.topic, partition: p, offset: offset.toString() });
        }
        this.restoring = new Set();
        this.consumer.resume([{ topic: this.o.topic, partitions }]);
        this.o.log.info({ positions: this.positions() }, 'partitions restored from the checkpoint; consuming');
        this.checkCaughtUp();
        return;
      } catch (err) {
        // a partial restore is undone (the next try starts clean) unless a newer join owns it now
        if (generation === this.generation) this.o.store.dropPartitions(new Set(partitions));
        else this.o.store.dropPartitions(new Set(partitions.filter((p) => !this.assigned.has(p))));
        this.lastError = `restoring partitions from the checkpoint: ${errorMessage(err)}`;
        const delay = backoffDelay(attempt, 500, 15_000);
        this.o.log.warn({ err: errorMessage(err), partitions, retryInMs: delay }, 'could not restore partitions from the checkpoint; retrying');
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  private async readHighWatermarks(partitions: number[], generation: number): Promise<void> {
    const admin = this.o.kafka.admin();
    try {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(this.o.topic);
      if (generation !== this.generation) return;
      for (const o of offsets) {
        if (!partitions.includes(o.partition)) continue;
        this.highAtJoin.set(o.partition, BigInt(o.high));
        this.lowAtJoin.set(o.partition, BigInt(o.low));
      }
      this.checkCaughtUp();
    } catch (err) {
      this.lastError = errorMessage(err);
      this.o.log.warn({ err: errorMessage(err) }, 'could not read high watermarks; readiness waits for the next join');
    } finally {
      await admin.disconnect().catch((e: Error) => this.o.log.debug({ err: e.message }, 'admin disconnect failed'));
    }
  }

  private checkCaughtUp(): void {
    // no partition assigned (yet): this instance holds none of the speed layer, so it is not
    // caught up with anything (an instance of a group larger than the partition count stays so)
    if (this.caughtUp || this.assigned.size === 0 || this.restoring.size > 0 || this.highAtJoin.size < this.assigned.size) return;
    for (const [p, high] of this.highAtJoin) {
      const pos = this.position.get(p);
      if (pos === undefined) return;
      const low = this.lowAtJoin.get(p) ?? 0n;
      if (pos > 0n && pos < low && !this.retentionWarned.has(p)) {
        // records after the checkpoint were deleted before this process read them
        this.retentionWarned.add(p);
        this.o.log.error({ partition: p, position: pos.toString(), logStart: low.toString() }, 'Kafka retention deleted speed records that no checkpoint holds: the speed state of this partition is incomplete; raise retention.ms above the checkpoint interval');
      }
      if ((pos > low ? pos : low) < high) return;
    }
    this.caughtUp = true;
    this.o.log.info({ positions: this.positions() }, 'speed layer caught up with the topic');
  }

  private setLag(partition: number, lag: bigint): void {
    const l = lag < 0n ? 0n : lag;
    this.lag.set(partition, l);
    this.o.metrics.consumerLag.set({ partition: String(partition) }, Number(l));
  }

  // One fetched batch of one partition, applied in slices of at most YIELD_EVERY_MS so that
  // reads get turns. Only an await lets anything else run, so between awaits nothing can stop
  // the consumer, seek the partition or rejoin the group: those are checked once after every
  // await, not per record. The position and the counters are kept in locals and
  // written back before every await (a flush takes its cut of store + positions() at one).
  // Rejected records reach the dead-letter topic before their offsets are heartbeated past.
  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { partition, messages } = batch;
    if (this.restoring.has(partition)) return; // fetched before the pause took effect: not applied, not resolved
    const generation = this.generation;
    const held = this.position.get(partition);
    const from = held === undefined ? -1 : Number(held); // records below it are applied already (redelivery after a seek)
    let last: number | undefined; // offset of the last record applied or rejected, not yet in this.position
    let rejected: Rejected[] | undefined;
    let lastHeartbeat = performance.now();
    let i = 0;
    try {
      while (i < messages.length && isRunning() && !isStale() && this.generation === generation) {
        const sliceStart = performance.now();
        while (i < messages.length) {
          const msg = messages[i++] as RawRecord & { offset: string };
          const offset = offsetOf(msg.offset);
          if (offset < from) continue;
          const outcome = this.applier.apply(msg, partition, offset);
          if (typeof outcome === 'object') {
            this.rejections.report(msg, partition, msg.offset, outcome);
            (rejected ??= []).push({ rec: msg, offset: msg.offset, r: outcome });
          }
          last = offset;
          if (i % CLOCK_EVERY === 0 && performance.now() - sliceStart > YIELD_EVERY_MS) break;
        }
        this.writeBack(partition, last);
        last = undefined;
        if (i >= messages.length) break;
        // a fetched batch can hold thousands of records: let reads in between slices
        await turn();
        if (performance.now() - lastHeartbeat > 1000) {
          if (rejected) { await this.deadLetter(partition, rejected); rejected = undefined; }
          const pos = this.position.get(partition);
          if (pos !== undefined && pos > 0n) resolveOffset((pos - 1n).toString());
          await heartbeat();
          lastHeartbeat = performance.now();
        }
      }
    } finally {
      // also when applying threw (an int64 overflow): what was applied before it is not redone
      this.writeBack(partition, last);
    }
    if (rejected) await this.deadLetter(partition, rejected);
    const pos = this.position.get(partition);
    if (pos !== undefined && pos > 0n) resolveOffset((pos - 1n).toString());
    const high = BigInt(batch.highWatermark);
    this.setLag(partition, high - (pos ?? 0n));
    this.checkCaughtUp();
  }

  /** Records up to `last` are in the store: moves the position past it and publishes counters. */
  private writeBack(partition: number, last: number | undefined): void {
    if (last !== undefined) this.position.set(partition, BigInt(last + 1));
    this.applier.publish();
  }

  private async deadLetter(partition: number, rejected: Rejected[]): Promise<void> {
    if (!this.dlq || this.o.deadLetterTopic === undefined) return;
    await this.dlq.send({
      topic: this.o.deadLetterTopic,
      messages: rejected.map(({ rec, offset, r }) => ({
        key: rec.key,
        value: rec.value,
        headers: { 'ls-reason': r.reason, 'ls-detail': r.detail, 'ls-source': `${this.o.topic}/${partition}/${offset}` },
      })),
    });
    this.o.metrics.deadLettered.inc(rejected.length);
  }
}
