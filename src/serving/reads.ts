// Merged reads: batch snapshot + speed store, computed on demand and kept, serialised, in an LRU
// cache. The cache entry of a key is deleted the moment that key's speed entries change, and the
// whole cache is cleared when the batch snapshot is replaced, so a read never returns a value
// older than what the service has applied.
// A merge is cheap (an index lookup, a few int64 additions, one string), so the cache earns its
// keep only on keys read again soon: a computed value is admitted on the key's second miss within
// a recent window (Doorkeeper, below), not on every miss, so reads spread over far more keys than the
// cache holds do not churn it.
import { LRUCache } from 'lru-cache';
import type { BatchSnapshot } from '../batch/snapshot.js';
import { mergeRow, speedPart, windowFate } from '../merge.js';
import type { Metrics } from '../metrics.js';
import type { Key } from '../speed/decode.js';
import type { SpeedStore } from '../speed/store.js';
import type { View } from '../view.js';

/** What reads need from the warehouse when the batch is not in memory (MERGE_STRATEGY=pushdown). */
export interface PushdownReads {
  lookupBatch(key: Key): Promise<bigint[] | undefined>;
  servingTop(metric: string, limit: number): Promise<Array<[Key, bigint[]]>>;
}

export interface MergedValue {
  readonly key: Key;
  readonly metrics: readonly bigint[];
  /** The row as JSON, exact int64 digits. */
  readonly json: string;
}

const MAX_TOP_PREFIX = 2000;

export class Reads {
  private readonly cache: LRUCache<CacheKey, MergedValue>;
  private readonly admission: Doorkeeper;
  /** rowJson's constant parts: `{"<key column>":` and `,"<metric column>":` for each metric. */
  private readonly keyPrefix: string;
  private readonly metricPrefixes: readonly string[];
  /** `"<metric column>":` for each metric. */
  private readonly metricFields: readonly string[];
  private readonly topPrefix = new Map<number, Int32Array>();
  /** Pushdown: batch rows looked up in the warehouse, { v: undefined } for a key it lacks. */
  private readonly batchRows: LRUCache<CacheKey, { v: bigint[] | undefined }>;
  private batchGeneration = 0;
  private readonly cacheHit: { inc(): void };
  private readonly cacheMiss: { inc(): void }; // metric -> best batch rows, for the current snapshot
  private topCache: { key: string; batchId: number; gen: number; json: string } | undefined;

  constructor(
    private readonly view: View,
    private readonly batch: () => BatchSnapshot,
    private readonly speed: SpeedStore,
    private readonly metrics: Metrics,
    cacheMax: number,
    private readonly pushdown?: PushdownReads,
  ) {
    this.cache = new LRUCache({ max: cacheMax });
    this.admission = new Doorkeeper(2 * cacheMax);
    this.keyPrefix = `{${JSON.stringify(view.keyColumn)}:`;
    this.metricFields = view.metrics.map((d) => `${JSON.stringify(d.column)}:`);
    this.metricPrefixes = this.metricFields.map((f) => `,${f}`);
    // label children resolved once: labels() hashes on every call, and this is per request
    this.cacheHit = metrics.cacheRequests.labels({ result: 'hit' });
    this.cacheMiss = metrics.cacheRequests.labels({ result: 'miss' });
    this.batchRows = new LRUCache({ max: cacheMax });
    // an empty cache (no reads yet, or just cleared) has nothing to drop: ingest skips the lookup
    speed.onChange((key) => { if (this.cache.size > 0) this.cache.delete(cacheKey(key)); });
  }

  /** Called when the batch snapshot is replaced (pushdown: on each reload tick). */
  batchReplaced(): void {
    this.batchGeneration++;
    this.batchRows.clear();
    this.cache.clear();
    this.topPrefix.clear();
    this.topCache = undefined;
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /** The cached merged value of a key, counting the hit or miss. */
  private cached(ck: CacheKey): MergedValue | undefined {
    const hit = this.cache.get(ck);
    (hit === undefined ? this.cacheMiss : this.cacheHit).inc();
    return hit;
  }

  get(key: Key): MergedValue | undefined {
    const ck = cacheKey(key);
    const hit = this.cached(ck);
    if (hit !== undefined) return hit;
    const merged = this.compute(key);
    if (merged !== undefined) this.keep(ck, merged);
    return merged;
  }

  /** True when reads need no I/O (the batch is in memory): get() answers them synchronously. */
  get inMemory(): boolean {
    return this.pushdown === undefined;
  }

  private keep(ck: CacheKey, merged: MergedValue): void {
    if (this.admission.admit(ck)) this.cache.set(ck, merged);
  }

  /** The merged value; with MERGE_STRATEGY=pushdown the batch part comes from a cached point
   * lookup in the warehouse, else from memory (then this is get()). */
  async lookup(key: Key): Promise<MergedValue | undefined> {
    if (!this.pushdown) return this.get(key);
    const ck = cacheKey(key);
    const hit = this.cached(ck);
    if (hit !== undefined) return hit;
    const gen = this.batchGeneration;
    const b = await this.batchPart(key);
    // the speed part is taken after the await, so it is as fresh as the store
    const metrics = mergeRow(b, this.speedOf(key, this.batch()), key);
    if (metrics === undefined) return undefined;
    const merged = { key, metrics, json: this.rowJson(key, metrics) };
    if (gen === this.batchGeneration) this.keep(ck, merged);
    return merged;
  }

  async explainAsync(key: Key): Promise<string | undefined> {
    if (!this.pushdown) return this.explain(key);
    return this.explain(key, await this.batchPart(key));
  }

  async topAsync(m: number, limit: number): Promise<string> {
    if (!this.pushdown) return this.top(m, limit);
    const metric = this.view.metrics[m]?.column as string;
    const rows = await this.pushdown.servingTop(metric, limit);
    return `{"metric":${JSON.stringify(metric)},"asOf":"last snapshot","items":[${rows.map(([k, ms]) => this.rowJson(k, ms)).join(',')}]}`;
  }

  private async batchPart(key: Key): Promise<bigint[] | undefined> {
    const ck = cacheKey(key);
    let b = this.batchRows.get(ck);
    if (b === undefined) {
      const gen = this.batchGeneration;
      b = { v: await (this.pushdown as PushdownReads).lookupBatch(key) };
      if (gen === this.batchGeneration) this.batchRows.set(ck, b);
    }
    return b.v;
  }

  /** The merge, uncached. */
  compute(key: Key): MergedValue | undefined {
    const snap = this.batch();
    const speed = this.speedOf(key, snap);
    const metrics = mergeRow(snap.get(key), speed, key);
    return metrics === undefined ? undefined : { key, metrics, json: this.rowJson(key, metrics) };
  }

  explain(key: Key, pushedBatchPart?: bigint[]): string | undefined {
    const snap = this.batch();
    const batchPart = this.pushdown ? pushedBatchPart : snap.get(key);
    const mergedMetrics = mergeRow(batchPart, this.speedOf(key, snap), key);
    if (mergedMetrics === undefined) return undefined;
    const merged = { json: this.rowJson(key, mergedMetrics) };
    const windows = [...(this.speed.windowsOf(key) ?? [])].map((w) => {
      const fate = windowFate(w, snap.watermark);
      return `{"window":${w.window === '' ? 'null' : JSON.stringify({ start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString() })},"fate":"${fate}","version":"${w.version}","partition":${w.partition},"offset":"${w.offset}","metrics":${this.metricsJson(w.metrics)}}`;
    });
    const watermark = snap.watermark === undefined ? 'null' : JSON.stringify(new Date(snap.watermark).toISOString());
    return `{"merged":${merged.json},"batch":${batchPart === undefined ? 'null' : this.metricsJson(batchPart)},"speed":[${windows.join(',')}],"watermark":${watermark},"batchLoadedAt":${JSON.stringify(snap.loadedAt.toISOString())}}`;
  }

  /** The top `limit` keys by merged metric m, as a JSON body. */
  top(m: number, limit: number): string {
    const snap = this.batch();
    const ck = `${m}/${limit}`;
    const c = this.topCache;
    if (c && c.key === ck && c.batchId === snap.id && c.gen === this.speed.generation) return c.json;
    const rows = this.topRows(snap, m, limit);
    const json = `{"metric":${JSON.stringify(this.view.metrics[m]?.column)},"items":[${rows.map((r) => this.rowJson(r.key, r.metrics)).join(',')}]}`;
    this.topCache = { key: ck, batchId: snap.id, gen: this.speed.generation, json };
    return json;
  }

  rowJson(key: Key, metrics: readonly bigint[]): string {
    let s = this.keyPrefix + (key === null ? 'null' : JSON.stringify(key));
    const prefixes = this.metricPrefixes;
    for (let i = 0; i < prefixes.length; i++) s += prefixes[i] + String(metrics[i]);
    return `${s}}`;
  }

  private metricsJson(metrics: readonly bigint[]): string {
    return `{${this.metricFields.map((f, i) => f + String(metrics[i])).join(',')}}`;
  }

  private speedOf(key: Key, snap: BatchSnapshot): bigint[] | undefined {
    const wins = this.speed.windowsOf(key);
    if (wins === undefined) return undefined;
    return speedPart(wins, this.view.metrics.length, snap.watermark);
  }

  // Keys with speed entries are merged one by one; keys without are batch-only, and the best of
  // those come from a per-snapshot prefix of the batch ordered by the metric (a full scan only
  // if the prefix runs out because too many of its keys also have speed entries).
  private topRows(snap: BatchSnapshot, m: number, limit: number): Array<{ key: Key; metrics: readonly bigint[] }> {
    const cands: Array<{ key: Key; metrics: readonly bigint[]; v: bigint }> = [];
    for (const key of this.speed.keyList()) {
      const merged = mergeRow(snap.get(key), this.speedOf(key, snap), key);
      if (merged) cands.push({ key, metrics: merged, v: merged[m] as bigint });
    }
    const col = snap.columns[m] as BigInt64Array;
    let prefix = this.topPrefix.get(m);
    if (!prefix) { prefix = bestRows(col, Math.min(MAX_TOP_PREFIX, col.length)); this.topPrefix.set(m, prefix); }
    let taken = 0;
    for (const i of prefix) {
      const key = snap.keyAt(i);
      if (this.speed.has(key)) continue;
      cands.push({ key, metrics: snap.row(i), v: col[i] as bigint });
      if (++taken === limit) break;
    }
    if (taken < limit && prefix.length < col.length) {
      // not enough batch-only keys in the prefix: scan everything
      for (let i = 0; i < col.length; i++) {
        const key = snap.keyAt(i);
        if (!this.speed.has(key)) cands.push({ key, metrics: snap.row(i), v: col[i] as bigint });
      }
    }
    cands.sort((a, b) => (a.v === b.v ? compareKeys(a.key, b.key) : a.v > b.v ? -1 : 1));
    return cands.slice(0, limit);
  }
}

/** The key itself; the NULL key (which no string can stand for) as a symbol. */
type CacheKey = string | symbol;
const NULL_KEY = Symbol('NULL key');

function cacheKey(key: Key): CacheKey {
  return key === null ? NULL_KEY : key;
}

/**
 * Cache admission (TinyLFU's "doorkeeper"): a key is admitted on its second miss since the filter
 * was last cleared, not its first. The filter is a Bloom filter (2 probes, 8 bits per remembered
 * key, so about 5% of first misses pass too) cleared after `window` keys were remembered, so it
 * forgets keys not read again soon. A key read often is admitted on its second read; keys read
 * once in a long while (random reads over far more keys than the cache holds) are not, and do not
 * evict entries that would have been read again.
 */
export class Doorkeeper {
  private readonly words: Int32Array;
  private readonly mask: number;
  private remembered = 0;

  constructor(private readonly window: number) {
    let bits = 1024;
    while (bits < window * 8) bits *= 2;
    this.words = new Int32Array(bits >>> 5);
    this.mask = bits - 1;
  }

  /** True if the key was seen since the filter was last cleared; otherwise remembers it. */
  admit(key: CacheKey): boolean {
    const h1 = typeof key === 'string' ? fnv1a(key) : 0;
    const h2 = mix32(h1);
    const a = h1 & this.mask, b = h2 & this.mask;
    const w = this.words;
    const ba = 1 << (a & 31), bb = 1 << (b & 31);
    if (((w[a >>> 5] as number) & ba) !== 0 && ((w[b >>> 5] as number) & bb) !== 0) return true;
    if (++this.remembered > this.window) { w.fill(0); this.remembered = 1; }
    w[a >>> 5] = (w[a >>> 5] as number) | ba;
    w[b >>> 5] = (w[b >>> 5] as number) | bb;
    return false;
  }
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** murmur3's finaliser: a second, independent-enough hash from the first. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function compareKeys(a: Key, b: Key): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** Indices of the n largest values of col, largest first (a bounded min-heap scan). */
export function bestRows(col: BigInt64Array, n: number): Int32Array {
  if (n <= 0) return new Int32Array(0);
  const heap = new Int32Array(n);
  let size = 0;
  const less = (a: number, b: number) => (col[a] as bigint) < (col[b] as bigint);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let s = i;
      if (l < size && less(heap[l] as number, heap[s] as number)) s = l;
      if (r < size && less(heap[r] as number, heap[s] as number)) s = r;
      if (s === i) return;
      const t = heap[i] as number; heap[i] = heap[s] as number; heap[s] = t; i = s;
    }
  };
  for (let i = 0; i < col.length; i++) {
    if (size < n) {
      heap[size] = i;
      let j = size++;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!less(heap[j] as number, heap[p] as number)) break;
        const t = heap[j] as number; heap[j] = heap[p] as number; heap[p] = t; j = p;
      }
    } else if ((col[i] as bigint) > (col[heap[0] as number] as bigint)) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.slice(0, size).sort((a, b) => ((col[a] as bigint) === (col[b] as bigint) ? a - b : (col[a] as bigint) > (col[b] as bigint) ? -1 : 1));
}
