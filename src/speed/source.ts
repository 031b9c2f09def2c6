// Where speed-layer records come from, as the service sees it. The Kafka consumer is the real one;
// embedded mode (src/embedded/) has an in-process generator. Both decode and apply records with
// the same code (./apply.ts), so only the transport differs.
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Decoder } from './decode.js';
import type { SpeedStore } from './store.js';

export interface SpeedSourceStatus {
  readonly running: boolean;
  readonly assigned: number[];
  /** Every assigned partition has been read up to where it stood when it was assigned. */
  readonly caughtUp: boolean;
  /** partition -> records not yet applied. */
  readonly lag: Record<string, string>;
  readonly lastError: string | undefined;
}

export interface SpeedSource {
  /** Starts consuming; resolves once running (or when the signal aborts a wait). */
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  /** partition -> next offset to apply: a consistent cut with the store. */
  positions(): Record<string, string>;
  status(): SpeedSourceStatus;
  /** Called after each swapped-in snapshot with the positions it holds. */
  commitForMonitoring(positions: Record<string, string>): Promise<void>;
  /** Partitions assigned but not yet restored from the checkpoint: a snapshot now would miss them. */
  readonly restoringPartitions: number;
}

/** What the service gives every speed source. */
export interface SpeedSourceDeps {
  readonly decoder: Decoder;
  readonly store: SpeedStore;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Restores partitions from the last checkpoint; returns their checkpointed next offsets. */
  readonly restore: (partitions: number[]) => Promise<Map<number, bigint>>;
  /** Updates of windows ending at or before this (the batch watermark) are already in the batch. */
  readonly watermark: () => number | undefined;
}

export type SpeedSourceFactory = (deps: SpeedSourceDeps) => SpeedSource;
