// The speed layer in memory: key -> window -> the latest total (totals mode) or the running sum
// of increments (deltas mode). Each entry remembers the version that set it and the Kafka
// position it came from, so that:
//   - a newer total replaces an older one whatever order they arrive in (ties: later offset);
//   - a tombstone removes the key and masks totals older than itself;
//   - a partition's entries can be dropped when the partition is revoked;
//   - windows absorbed by the batch (end <= watermark) can be evicted.
import { addInto } from '../int64.js';
import type { Key, Tombstone, Update } from './decode.js';

export interface WindowEntry {
  readonly window: string;
  readonly start: number;
  readonly end: number;
  metrics: bigint[];
  version: bigint;
  partition: number;
  offset: bigint;
}

export type ApplyResult = 'applied' | 'stale';

export type Mode = 'totals' | 'deltas';

export class SpeedStore {
  private readonly keys = new Map<Key, Map<string, WindowEntry>>();
  private readonly tombstones = new Map<Key, bigint>();
  private readonly listeners: Array<(key: Key) => void> = [];
  private entryCount = 0;
  /** Bumped on every change; readers use it to know when derived views are out of date. */
  generation = 0;

  constructor(readonly mode: Mode) {}

  onChange(listener: (key: Key) => void): void {
    this.listeners.push(listener);
  }

  get keyCount(): number {
    return this.keys.size;
  }

  get windowCount(): number {
    return this.entryCount;
  }

  windows(key: Key): ReadonlyMap<string, WindowEntry> | undefined {
    return this.keys.get(key);
  }

  has(key: Key): boolean {
    return this.keys.has(key);
  }

  entries(): IterableIterator<[Key, ReadonlyMap<string, WindowEntry>]> {
    return this.keys.entries();
  }

  apply(u: Update, partition: number, offset: bigint): ApplyResult {
    if (this.mode === 'totals') {
      const masked = this.tombstones.get(u.key);
      if (masked !== undefined && u.version <= masked) return 'stale';
    }
    let wins = this.keys.get(u.key);
    if (wins === undefined) {
      wins = new Map();
      this.keys.set(u.key, wins);
    }
    const cur = wins.get(u.window);
    if (cur === undefined) {
      wins.set(u.window, { window: u.window, start: u.windowStart, end: u.windowEnd, metrics: u.metrics.slice(), version: u.version, partition, offset });
      this.entryCount++;
    } else if (this.mode === 'deltas') {
      addInto(cur.metrics, u.metrics, `speed ${String(u.key)}`);
      if (u.version > cur.version) cur.version = u.version;
      cur.partition = partition;
      cur.offset = offset;
    } else {
      // Newer version wins; on a tie the later offset. A redelivered record is a tie that loses.
      if (u.version < cur.version || (u.version === cur.version && offset <= cur.offset)) return 'stale';
      cur.metrics = u.metrics.slice();
      cur.version = u.version;
      cur.partition = partition;
      cur.offset = offset;
    }
    this.changed(u.key);
    return 'applied';
  }

  tombstone(t: Tombstone): ApplyResult {
    const prev = this.tombstones.get(t.key);
    if (this.mode === 'totals' && (prev === undefined || t.version > prev)) this.tombstones.set(t.key, t.version);
    const wins = this.keys.get(t.key);
    if (wins === undefined) return 'stale';
    if (this.mode === 'totals') {
      // Only entries older than the tombstone go; a newer total already seen stays.
      for (const [id, e] of wins) if (e.version <= t.version) { wins.delete(id); this.entryCount--; }
      if (wins.size === 0) this.keys.delete(t.key);
    } else {
      this.entryCount -= wins.size;
      this.keys.delete(t.key);
    }
    this.changed(t.key);
    return 'applied';
  }

  /** Drops windows that end at or before the watermark: the batch layer holds them now. */
  evictBefore(watermark: number): number {
    let evicted = 0;
    for (const [key, wins] of this.keys) {
      let touched = false;
      for (const [id, e] of wins) {
        if (e.end <= watermark) { wins.delete(id); evicted++; touched = true; }
      }
      if (wins.size === 0) this.keys.delete(key);
      if (touched) this.changed(key);
    }
    this.entryCount -= evicted;
    return evicted;
  }

  /** Drops every entry last written from one of these partitions (they were revoked). */
  dropPartitions(partitions: ReadonlySet<number>): number {
    let dropped = 0;
    for (const [key, wins] of this.keys) {
      let touched = false;
      for (const [id, e] of wins) {
        if (partitions.has(e.partition)) { wins.delete(id); dropped++; touched = true; }
      }
      if (wins.size === 0) this.keys.delete(key);
      if (touched) this.changed(key);
    }
    this.entryCount -= dropped;
    return dropped;
  }

  clear(): void {
    const keys = [...this.keys.keys()];
    this.keys.clear();
    this.tombstones.clear();
    this.entryCount = 0;
    for (const k of keys) this.changed(k);
  }

  private changed(key: Key): void {
    this.generation++;
    for (const l of this.listeners) l(key);
  }
}
