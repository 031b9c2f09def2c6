// Demo data with the shape of the real thing: a batch layer, and speed-layer records exactly as a
// Spark Structured Streaming job writes them (to_json(struct(*)) of a windowed groupBy, update
// output mode). Keys are real city names plus a NULL location, with a Zipf-like skew: a few keys
// get most of the traffic, a long tail gets a little, as tweet locations do.
import type { SpeedMode } from '../config.js';
import type { Key, RawRecord } from '../speed/decode.js';
import type { View } from '../view.js';
import { CITIES } from './cities.js';

/** The demo keys in rank order: the NULL location is common (most tweets have none), so it ranks
 * third, which also shows that NULL keys survive the merge (the classic SQL lost them). */
export const DEMO_KEYS: readonly Key[] = Object.freeze([...CITIES.slice(0, 2), null, ...CITIES.slice(2)]);

/** A small seeded PRNG (mulberry32): the same seed gives the same data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks keys with weight 1 / (rank + 1)^s. */
export class ZipfKeys {
  private readonly cumulative: Float64Array;

  constructor(readonly keys: readonly Key[], private readonly random: () => number, readonly s = 1.07) {
    this.cumulative = new Float64Array(keys.length);
    let sum = 0;
    for (let r = 0; r < keys.length; r++) this.cumulative[r] = sum += 1 / (r + 1) ** s;
  }

  /** The share of all picks that goes to rank r. */
  share(r: number): number {
    const total = this.cumulative[this.cumulative.length - 1] as number;
    return 1 / (r + 1) ** this.s / total;
  }

  pickIndex(): number {
    const x = this.random() * (this.cumulative[this.cumulative.length - 1] as number);
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.cumulative[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Mean value per event of each metric, by position: count(id) counts events; the others are
 * sums with tweet-like magnitudes (followers, favourites, retweets); a view with more metrics
 * cycles through them. */
const EVENT_MEANS = [1, 1200, 4, 1.5];

function eventMean(m: number): number {
  return m === 0 ? 1 : (EVENT_MEANS[1 + ((m - 1) % (EVENT_MEANS.length - 1))] as number);
}

/** A batch layer: per key, the totals of `events` historical events spread by the skew. */
export function generateBatch(view: View, opts: { events?: number; seed?: number; keys?: readonly Key[] } = {}): Array<[Key, bigint[]]> {
  const random = seededRandom(opts.seed ?? 20_260_101);
  const zipf = new ZipfKeys(opts.keys ?? DEMO_KEYS, random);
  const events = opts.events ?? 20_000_000;
  return zipf.keys.map((key, r) => {
    const count = Math.max(1, Math.round(events * zipf.share(r) * (0.9 + 0.2 * random())));
    const metrics = view.metrics.map((_, m) => BigInt(m === 0 ? count : Math.round(count * eventMean(m) * (0.8 + 0.4 * random()))));
    return [key, metrics];
  });
}

export interface SparkUpdatesOptions {
  readonly view: View;
  /** totals: each record is the running total of its (key, window); deltas: the increment. */
  readonly mode: SpeedMode;
  readonly random?: () => number;
  readonly now?: () => number;
  /** One malformed record in this many (0: none), so the rejection path has something to show. */
  readonly badEvery?: number;
  /** Tumbling window length (Spark's window(created_at, '1 hour')). */
  readonly windowMs?: number;
  readonly keys?: readonly Key[];
}

/** Malformed records, from the key field ("location":"Paris") and the first metric's field name. */
const BAD_RECORDS = [
  (k: string, m: string) => `{${k},${m}:`, // bad_json: cut short
  (k: string, m: string) => `{${k},${m}:1.5}`, // bad_metric: fractional
  (_k: string, m: string) => `{${m}:3}`, // missing_key
];

/** An endless stream of Spark-format speed records (RawRecord: the bytes a Kafka record holds). */
export class SparkUpdates {
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly zipf: ZipfKeys;
  private readonly windowMs: number;
  /** "<key rank>|<window start>" -> running totals. */
  private readonly totals = new Map<string, bigint[]>();
  private produced = 0;
  private evictedBefore = 0;

  constructor(private readonly o: SparkUpdatesOptions) {
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
    this.zipf = new ZipfKeys(o.keys ?? DEMO_KEYS, this.random);
    this.windowMs = o.windowMs ?? 3_600_000;
  }

  next(): RawRecord {
    const now = this.now();
    const r = this.zipf.pickIndex();
    const key = this.zipf.keys[r] as Key;
    const keyJson = `${JSON.stringify(this.o.view.keyField)}:${JSON.stringify(key)}`;
    this.produced++;
    const badEvery = this.o.badEvery ?? 0;
    if (badEvery > 0 && this.produced % badEvery === 0) {
      const bad = BAD_RECORDS[(this.produced / badEvery) % BAD_RECORDS.length] as (k: string, m: string) => string;
      return this.record(key, bad(keyJson, JSON.stringify(this.o.view.metrics[0]?.field)), now);
    }
    const start = Math.floor(now / this.windowMs) * this.windowMs;
    this.evictOldWindows(start);
    // one Spark trigger's worth of events for this key: a few, sometimes more
    const events = 1 + Math.floor(-Math.log(1 - this.random()) * 2);
    const delta = this.o.view.metrics.map((_, m) => {
      let v = 0;
      for (let e = 0; e < events; e++) v += m === 0 ? 1 : Math.round(-Math.log(1 - this.random()) * eventMean(m));
      return BigInt(v);
    });
    const id = `${r}|${start}`;
    const total = this.totals.get(id) ?? delta.map(() => 0n);
    for (let m = 0; m < total.length; m++) total[m] = (total[m] as bigint) + (delta[m] as bigint);
    this.totals.set(id, total);
    const values = this.o.mode === 'totals' ? total : delta;
    let json = `{${keyJson}`;
    this.o.view.metrics.forEach((m, i) => { json += `,${JSON.stringify(m.field)}:${values[i]}`; });
    if (this.o.view.versionField !== undefined) json += `,${JSON.stringify(this.o.view.versionField)}:${now}`;
    const window = { start: new Date(start).toISOString(), end: new Date(start + this.windowMs).toISOString() };
    json += `,${JSON.stringify(this.o.view.windowField)}:${JSON.stringify(window)}}`;
    return this.record(key, json, now);
  }

  private record(key: Key, json: string, now: number): RawRecord {
    return { key: key === null ? null : Buffer.from(key), value: Buffer.from(json), timestamp: String(now) };
  }

  /** Spark drops the state of windows past its watermark; so does the generator. */
  private evictOldWindows(currentStart: number): void {
    const horizon = currentStart - 2 * this.windowMs;
    if (horizon <= this.evictedBefore) return;
    this.evictedBefore = horizon;
    for (const id of this.totals.keys()) if (Number(id.split('|')[1]) < horizon) this.totals.delete(id);
  }
}
