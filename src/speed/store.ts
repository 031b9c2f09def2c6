// The speed layer in memory: key -> window -> the latest total (totals mode) or the running sum
// of increments (deltas mode). Each entry remembers the version that set it and the Kafka
// position it came from, so that:
//   - a newer total replaces an older one whatever order they arrive in (ties: later offset);
//   - a tombstone removes the key and masks totals older than itself;
//   - a partition's entries can be dropped when the partition is revoked;
//   - windows absorbed by the batch (end <= watermark) can be evicted.
//
// Entries are updated in place, and an update of a held window allocates nothing that outlives
// it: a metric that is a safe integer (every metric of a record the scanner reads, and nearly
// every total) is kept as a JS number in a double array, not as a BigInt, so the garbage a
// record makes dies young instead of being promoted with the entry it would be stored in. A
// metric beyond 2^53 turns its entry's metrics to BigInts (exact int64 either way). A key with
// one window (the usual case) holds its entry directly; a Map of windows only from the second.
// Readers use windows()/windowsOf() synchronously; whoever keeps entries across an await takes
// cut(). A cut hands out the entries themselves (a flush's cut of 100k entries would otherwise
// copy them all while nothing else runs) and the store copies an entry on its first update after
// the cut (copy on write: an entry older than the last cut's epoch is shared with that cut).
// Cuts are not released, so this copies each entry once after every cut, as the old copying
// cut() did, but spread over ingest instead of all at once while nothing else runs.
import { addInt64, INT64_MAX, INT64_MIN, MAX_SAFE, MIN_SAFE } from '../int64.js';
import type { RowMemo } from '../merge.js';
import type { Key, Metric, Tombstone, Update } from './decode.js';

/** Read-only outside the store, which updates it in place: do not keep one across an await
 * (the entries of a cut() stay as they are: the store changes copies of them). */
export interface WindowEntry {
  readonly key: Key;
  readonly window: string;
  readonly start: number;
  readonly end: number;
  /** Made on each read: read it once, not once per metric. */
  readonly metrics: readonly bigint[];
  /** The metrics as held, not copied: numbers while they are safe integers, else BigInts. The
   * store changes an entry's values only in place of a cut's (see cut()): read them now, or
   * from an entry of a cut. */
  readonly values: readonly Metric[];
  readonly version: bigint;
  readonly partition: number;
  /** Kafka offset (exact: offsets beyond 2^53 are refused by the consumer). */
  readonly offset: number;
}

/** A tombstone's masking version, per key (totals mode), as persisted in checkpoints. */
export interface TombstoneEntry {
  readonly key: Key;
  readonly version: bigint;
  readonly partition: number;
}

export type ApplyResult = 'applied' | 'stale';

/** The store's own, mutable form of a WindowEntry: metrics in `nums` (safe integers) unless
 * `big` holds them. Its memo is the flush's: where the key was in the last batch snapshot a flush
 * merged it with. Not part of the entry's value, and one object for an entry and its copies, so
 * what a flush learns on the entry of its cut also holds for the copy an update made meanwhile. */
class Entry implements WindowEntry {
  memo: RowMemo = { memoBatch: -1, memoRow: -1 };

  constructor(
    readonly key: Key,
    readonly window: string,
    readonly start: number,
    readonly end: number,
    public nums: number[],
    public big: bigint[] | undefined,
    public version: bigint,
    public partition: number,
    public offset: number,
  ) {}

  /** The store's epoch when this entry was made; older than the store's: a cut holds it. */
  epoch = 0;

  get metrics(): bigint[] {
    return this.big !== undefined ? this.big.slice() : this.nums.map(toBig);
  }

  get values(): readonly Metric[] {
    return this.big ?? this.nums;
  }

  copy(epoch: number): Entry {
    const e = new Entry(this.key, this.window, this.start, this.end, this.nums.slice(), this.big?.slice(), this.version, this.partition, this.offset);
    e.epoch = epoch;
    e.memo = this.memo;
    return e;
  }
}

const toBig = (v: number): bigint => BigInt(v);

/** A metric given as a number is a safe integer (decode.ts). */
const isSafe = (v: Metric): v is number => typeof v === 'number' || (v >= MIN_SAFE && v <= MAX_SAFE);

/** An entry for metrics ms: numbers if every one is safe, else BigInts. */
function entryOf(key: Key, window: string, start: number, end: number, ms: readonly Metric[], version: bigint, partition: number, offset: number): Entry {
  const e = new Entry(key, window, start, end, [], undefined, version, partition, offset);
  setMetrics(e, ms);
  return e;
}

function setMetrics(e: Entry, ms: readonly Metric[]): void {
  let safe = true;
  for (let i = 0; i < ms.length; i++) if (!isSafe(ms[i] as Metric)) { safe = false; break; }
  if (!safe) {
    e.big = ms.map((v) => BigInt(v));
    e.nums = [];
    return;
  }
  e.big = undefined;
  if (e.nums.length === ms.length) {
    for (let i = 0; i < ms.length; i++) e.nums[i] = Number(ms[i]);
  } else {
    // a copy of exactly ms.length elements: an array grown by push() from empty reserves 17
    // slots (~150 bytes for 4 metrics), kept for the entry's life
    const nums = ms.slice() as number[];
    for (let i = 0; i < nums.length; i++) if (typeof nums[i] !== 'number') nums[i] = Number(nums[i]);
    e.nums = nums;
  }
}

/** What a key holds: its one entry, or its windows by id once it has two or more. */
type Windows = Entry | Map<string, Entry>;

function windowOf(w: Windows, window: string): Entry | undefined {
  if (w instanceof Entry) return w.window === window ? w : undefined;
  return w.get(window);
}

function sizeOf(w: Windows): number {
  return w instanceof Entry ? 1 : w.size;
}

export type Mode = 'totals' | 'deltas';

export class SpeedStore {
  private readonly keys = new Map<Key, Windows>();
  private readonly tombstones = new Map<Key, TombstoneEntry>();
  private readonly listeners: Array<(key: Key) => void> = [];
  private entryCount = 0;
  /** Bumped by every cut(): entries made before it are shared with that cut. */
  private epoch = 0;
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

  /** The windows of a key by id, in a new Map (for tests and tools, not per request). */
  windows(key: Key): ReadonlyMap<string, WindowEntry> | undefined {
    const w = this.keys.get(key);
    if (w === undefined) return undefined;
    return w instanceof Entry ? new Map([[w.window, w]]) : new Map(w);
  }

  /** The entries of a key, for a read. */
  windowsOf(key: Key): Iterable<WindowEntry> | undefined {
    const w = this.keys.get(key);
    return w === undefined ? undefined : w instanceof Entry ? [w] : w.values();
  }

  has(key: Key): boolean {
    return this.keys.has(key);
  }

  keyList(): IterableIterator<Key> {
    return this.keys.keys();
  }

  /** Calls f with every entry, those of one key one after another. */
  forEachEntry(f: (e: WindowEntry) => void): void {
    for (const w of this.keys.values()) {
      if (w instanceof Entry) f(w);
      else for (const e of w.values()) f(e);
    }
  }

  apply(u: Update, partition: number, offset: number): ApplyResult {
    if (this.mode === 'totals' && this.tombstones.size > 0) {
      const masked = this.tombstones.get(u.key);
      if (masked !== undefined && u.version <= masked.version) return 'stale';
    }
    const wins = this.keys.get(u.key);
    let cur = wins === undefined ? undefined : windowOf(wins, u.window);
    if (cur === undefined) {
      // the update's metrics are copied: the caller may reuse its array
      this.add(wins, entryOf(u.key, u.window, u.windowStart, u.windowEnd, u.metrics, u.version, partition, offset));
    } else if (this.mode === 'deltas') {
      cur = this.writable(wins as Windows, cur);
      addInPlace(cur, u.metrics);
      if (u.version > cur.version) cur.version = u.version;
      cur.partition = partition;
      cur.offset = offset;
    } else {
      // Newer version wins; on a tie the later offset. A redelivered record is a tie that loses.
      if (u.version < cur.version || (u.version === cur.version && offset <= cur.offset)) return 'stale';
      cur = this.writable(wins as Windows, cur);
      setMetrics(cur, u.metrics);
      cur.version = u.version;
      cur.partition = partition;
      cur.offset = offset;
    }
    this.changed(u.key);
    return 'applied';
  }

  /** cur, ready to be changed in place: if a cut holds it (made before the last cut), a copy put
   * in its place. Every in-place change of an entry goes through here. */
  private writable(wins: Windows, cur: Entry): Entry {
    if (cur.epoch === this.epoch) return cur;
    const e = cur.copy(this.epoch);
    if (wins instanceof Entry) this.keys.set(e.key, e);
    else wins.set(e.window, e);
    return e;
  }

  /** Adds a new window entry to its key (wins: what the key holds now, if anything). */
  private add(wins: Windows | undefined, e: Entry): void {
    e.epoch = this.epoch;
    if (wins === undefined) this.keys.set(e.key, e);
    else if (wins instanceof Entry) this.keys.set(e.key, new Map([[wins.window, wins], [e.window, e]]));
    else wins.set(e.window, e);
    this.entryCount++;
  }

  /** Puts back an entry saved in a checkpoint (no version check: the store holds nothing of its
   * partition yet). */
  restore(e: Omit<WindowEntry, 'values'>): void {
    const wins = this.keys.get(e.key);
    let cur = wins === undefined ? undefined : windowOf(wins, e.window);
    if (cur === undefined) {
      this.add(wins, entryOf(e.key, e.window, e.start, e.end, e.metrics, e.version, e.partition, e.offset));
    } else {
      cur = this.writable(wins as Windows, cur);
      setMetrics(cur, e.metrics);
      cur.version = e.version;
      cur.partition = e.partition;
      cur.offset = e.offset;
    }
    this.changed(e.key);
  }

  restoreTombstone(t: TombstoneEntry): void {
    const prev = this.tombstones.get(t.key);
    if (prev === undefined || t.version > prev.version) this.tombstones.set(t.key, t);
  }

  /** Every entry and tombstone, for a checkpoint. Synchronous: one consistent cut, which later
   * updates leave alone (they change copies: see epoch). The entries of one key are adjacent (the
   * flush sums them in one pass). */
  cut(): { entries: Array<WindowEntry & { readonly memo: RowMemo }>; tombstones: TombstoneEntry[] } {
    const entries: Array<WindowEntry & { readonly memo: RowMemo }> = [];
    for (const wins of this.keys.values()) {
      if (wins instanceof Entry) entries.push(wins);
      else for (const e of wins.values()) entries.push(e);
    }
    this.epoch++;
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
      this.removeWhere(t.key, wins, (e) => e.version <= version);
    } else {
      this.entryCount -= sizeOf(wins);
      this.keys.delete(t.key);
    }
    this.changed(t.key);
    return 'applied';
  }

  /** Removes the entries of key that match; returns how many. */
  private removeWhere(key: Key, wins: Windows, drop: (e: Entry) => boolean): number {
    let removed = 0;
    if (wins instanceof Entry) {
      if (drop(wins)) { this.keys.delete(key); removed = 1; }
    } else {
      for (const [id, e] of wins) if (drop(e)) { wins.delete(id); removed++; }
      if (wins.size === 0) this.keys.delete(key);
      else if (wins.size === 1) this.keys.set(key, wins.values().next().value as Entry);
    }
    this.entryCount -= removed;
    return removed;
  }

  /** Drops windows that end at or before the watermark: the batch layer holds them now. */
  evictBefore(watermark: number): number {
    return this.removeAll((e) => e.end <= watermark);
  }

  /** Drops every entry last written from one of these partitions (they were revoked). */
  dropPartitions(partitions: ReadonlySet<number>): number {
    const dropped = this.removeAll((e) => partitions.has(e.partition));
    for (const [key, t] of this.tombstones) if (partitions.has(t.partition)) this.tombstones.delete(key);
    return dropped;
  }

  private removeAll(drop: (e: Entry) => boolean): number {
    let removed = 0;
    // deleting the current key of a Map while iterating it is safe; re-setting it moves nothing
    for (const [key, wins] of this.keys) {
      const n = this.removeWhere(key, wins, drop);
      if (n > 0) { removed += n; this.changed(key); }
    }
    return removed;
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

/** Adds d into e's metrics: every sum is checked first, so an overflow leaves e unchanged. */
function addInPlace(e: Entry, d: readonly Metric[]): void {
  if (e.big === undefined) {
    const nums = e.nums;
    let safe = true;
    for (let i = 0; i < nums.length && safe; i++) {
      const v = d[i] as Metric;
      // a BigInt delta (the general decoding path gives those) counts as a number when safe
      safe = isSafe(v) && Number.isSafeInteger((nums[i] as number) + Number(v));
    }
    if (safe) {
      for (let i = 0; i < nums.length; i++) nums[i] = (nums[i] as number) + Number(d[i]);
      return;
    }
    // a sum beyond 2^53 (or a BigInt delta): the entry's metrics become BigInts
    e.big = nums.map(toBig);
    e.nums = [];
  }
  const m = e.big;
  const sums = new Array<bigint>(m.length);
  for (let i = 0; i < m.length; i++) {
    const a = m[i] as bigint;
    const b = BigInt(d[i] as Metric);
    const s = a + b;
    // addInt64 builds the same LS_INT64_OVERFLOW error; its description is made only then
    sums[i] = s > INT64_MAX || s < INT64_MIN ? addInt64(a, b, `speed ${String(e.key)}`) : s;
  }
  // back to numbers once every sum is a safe integer again
  if (sums.every(isSafe)) { e.nums = sums.map(Number); e.big = undefined; return; }
  for (let i = 0; i < m.length; i++) m[i] = sums[i] as bigint;
}
