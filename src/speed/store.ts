// The speed layer in memory: key -> window -> the latest total (totals mode) or the running sum
// of increments (deltas mode). Each entry remembers the version that set it and the Kafka
// position it came from, so that:
//   - a newer total replaces an older one whatever order they arrive in (ties: later offset);
//   - a tombstone removes the key and masks totals older than itself;
//   - a partition's entries can be dropped when the partition is revoked;
//   - windows absorbed by the batch (end <= watermark) can be evicted.
import { addInto } from '../int64.js';
import type { Key, Tombstone, Update } from './decode.js';

/** Immutable: an update replaces the entry object, so a flush can keep references to the
 * entries of its cut while consumption goes on. */
export interface WindowEntry {
  readonly key: Key;
  readonly window: string;
  readonly start: number;
  readonly end: number;
  readonly metrics: readonly bigint[];
  readonly version: bigint;
  readonly partition: number;
  readonly offset: bigint;
}

/** A tombstone's masking version, per key (totals mode), as persisted in checkpoints. */
export interface TombstoneEntry {
  readonly key: Key;
  readonly version: bigint;
  readonly partition: number;
}

export type ApplyResult = 'applied' | 'stale';

function entryOf(u: Update, metrics: readonly bigint[], version: bigint, partition: number, offset: bigint): WindowEntry {
  return { key: u.key, window: u.window, start: u.windowStart, end: u.windowEnd, metrics, version, partition, offset };
}

export type Mode = 'totals' | 'deltas';

export class SpeedStore {
  private readonly keys = new Map<Key, Map<string, WindowEntry>>();
  private readonly tombstones = new Map<Key, TombstoneEntry>();
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
      if (masked !== undefined && u.version <= masked.version) return 'stale';
    }
    let wins = this.keys.get(u.key);
    if (wins === undefined) {
      wins = new Map();
      this.keys.set(u.key, wins);
    }
    const cur = wins.get(u.window);
    // the update's metrics are copied: the caller may reuse its array
    if (cur === undefined) {
      wins.set(u.window, entryOf(u, u.metrics.slice(), u.version, partition, offset));
      this.entryCount++;
    } else if (this.mode === 'deltas') {
      const sum = cur.metrics.slice();
      addInto(sum, u.metrics, `speed ${String(u.key)}`);
      wins.set(u.window, entryOf(u, sum, u.version > cur.version ? u.version : cur.version, partition, offset));
    } else {
      // Newer version wins; on a tie the later offset. A redelivered record is a tie that loses.
      if (u.version < cur.version || (u.version === cur.version && offset <= cur.offset)) return 'stale';
      wins.set(u.window, entryOf(u, u.metrics.slice(), u.version, partition, offset));
    }
    this.changed(u.key);
    return 'applied';
  }

  /** Puts back an entry saved in a checkpoint (no version check: the store holds nothing of its
   * partition yet). */
  restore(e: WindowEntry): void {
    let wins = this.keys.get(e.key);
    if (wins === undefined) {
      wins = new Map();
      this.keys.set(e.key, wins);
    }
    if (!wins.has(e.window)) this.entryCount++;
    wins.set(e.window, e);
    this.changed(e.key);
  }

  restoreTombstone(t: TombstoneEntry): void {
    const prev = this.tombstones.get(t.key);
    if (prev === undefined || t.version > prev.version) this.tombstones.set(t.key, t);
  }

  /** Every entry and tombstone, for a checkpoint. Synchronous: one consistent cut. */
  cut(): { entries: WindowEntry[]; tombstones: TombstoneEntry[] } {
    const entries: WindowEntry[] = [];
    for (const wins of this.keys.values()) for (const e of wins.values()) entries.push(e);
    return { entries, tombstones: [...this.tombstones.values()] };
  }

  tombstone(t: Tombstone, partition = -1): ApplyResult {
    const prev = this.tombstones.get(t.key);
    const version = t.version;
    if (this.mode === 'totals' && version !== undefined && (prev === undefined || version > prev.version)) this.tombstones.set(t.key, { key: t.key, version, partition });
    const wins = this.keys.get(t.key);
    if (wins === undefined) return 'stale';
    if (this.mode === 'totals' && version !== undefined) {
      // Only entries older than the tombstone go; a newer total already seen stays.
      for (const [id, e] of wins) if (e.version <= version) { wins.delete(id); this.entryCount--; }
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
    for (const [key, t] of this.tombstones) if (partitions.has(t.partition)) this.tombstones.delete(key);
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
