// The speed layer in memory: key -> window -> the latest total (totals mode) or the running sum
// of increments (deltas mode). Each entry remembers the version that set it and the Kafka
// position it came from, so that:
//   - a newer total replaces an older one whatever order they arrive in (ties: later offset);
//   - a tombstone removes the key and masks totals older than itself;
//   - a partition's entries can be dropped when the partition is revoked;
//   - windows absorbed by the batch (end <= watermark) can be evicted.
//
// Entries are updated in place (an update of a held window allocates nothing). Readers use
// windows()/entries() synchronously; whoever keeps entries across an await takes cut(), which
// copies them.
import { addInt64, INT64_MAX, INT64_MIN } from '../int64.js';
import type { Key, Tombstone, Update } from './decode.js';

/** Read-only outside the store, which updates it in place: do not keep one across an await
 * (cut() gives copies that stay as they are). */
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

/** The store's own, mutable form of a WindowEntry. */
interface Entry {
  readonly key: Key;
  readonly window: string;
  readonly start: number;
  readonly end: number;
  readonly metrics: bigint[];
  version: bigint;
  partition: number;
  offset: bigint;
}

function entryOf(key: Key, window: string, start: number, end: number, metrics: readonly bigint[], version: bigint, partition: number, offset: bigint): Entry {
  return { key, window, start, end, metrics: metrics.slice(), version, partition, offset };
}

function overwrite(dst: bigint[], src: readonly bigint[]): void {
  if (dst.length !== src.length) dst.length = src.length;
  for (let i = 0; i < src.length; i++) dst[i] = src[i] as bigint;
}

export type Mode = 'totals' | 'deltas';

export class SpeedStore {
  private readonly keys = new Map<Key, Map<string, Entry>>();
  private readonly tombstones = new Map<Key, TombstoneEntry>();
  private readonly listeners: Array<(key: Key) => void> = [];
  private entryCount = 0;
  /** Deltas mode: the sums of one update, all checked before any is stored. */
  private readonly sums: bigint[] = [];
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
    if (this.mode === 'totals' && this.tombstones.size > 0) {
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
      wins.set(u.window, entryOf(u.key, u.window, u.windowStart, u.windowEnd, u.metrics, u.version, partition, offset));
      this.entryCount++;
    } else if (this.mode === 'deltas') {
      this.addInPlace(cur, u.metrics);
      if (u.version > cur.version) cur.version = u.version;
      cur.partition = partition;
      cur.offset = offset;
    } else {
      // Newer version wins; on a tie the later offset. A redelivered record is a tie that loses.
      if (u.version < cur.version || (u.version === cur.version && offset <= cur.offset)) return 'stale';
      overwrite(cur.metrics, u.metrics);
      cur.version = u.version;
      cur.partition = partition;
      cur.offset = offset;
    }
    this.changed(u.key);
    return 'applied';
  }

  /** Adds d into e's metrics: every sum is checked first, so an overflow leaves e unchanged. */
  private addInPlace(e: Entry, d: readonly bigint[]): void {
    const m = e.metrics;
    const sums = this.sums;
    for (let i = 0; i < m.length; i++) {
      const a = m[i] as bigint;
      const b = d[i] as bigint;
      const s = a + b;
      // addInt64 builds the same LS_INT64_OVERFLOW error; its description is made only then
      sums[i] = s > INT64_MAX || s < INT64_MIN ? addInt64(a, b, `speed ${String(e.key)}`) : s;
    }
    for (let i = 0; i < m.length; i++) m[i] = sums[i] as bigint;
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
    wins.set(e.window, entryOf(e.key, e.window, e.start, e.end, e.metrics, e.version, e.partition, e.offset));
    this.changed(e.key);
  }

  restoreTombstone(t: TombstoneEntry): void {
    const prev = this.tombstones.get(t.key);
    if (prev === undefined || t.version > prev.version) this.tombstones.set(t.key, t);
  }

  /** Every entry and tombstone, for a checkpoint. Synchronous: one consistent cut, made of copies
   * that later updates leave alone. The entries of one key are adjacent (the flush sums them in
   * one pass). */
  cut(): { entries: WindowEntry[]; tombstones: TombstoneEntry[] } {
    const entries: WindowEntry[] = [];
    for (const wins of this.keys.values()) {
      for (const e of wins.values()) entries.push(entryOf(e.key, e.window, e.start, e.end, e.metrics, e.version, e.partition, e.offset));
    }
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
