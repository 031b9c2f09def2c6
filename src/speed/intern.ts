// Record keys as strings, by their bytes. A speed topic repeats the same keys over and over; making
// a fresh string from a key's UTF-8 bytes for every record (a call into C++, an allocation, and a
// hash computed again when the string is looked up in a Map) costs more than applying the record.
// The interner remembers the string of each ASCII key it has seen: a key seen before costs an
// FNV-1a hash of its bytes and a comparison with the string it gave last time, and comes back as
// that same string, whose hash V8 already holds. A key with any byte >= 0x80 is decoded each time
// with Buffer.toString('utf8') (as every key is on a miss), so what comes back is always exactly
// what decoding the bytes gives. Bounded: when it holds `max` keys it starts over.

export class Interner {
  /** Open addressing, linear probing: [hash, id + 1] per slot; id + 1 = 0: empty. */
  private slots: Int32Array;
  private mask: number;
  private strings: string[] = [];

  constructor(private readonly max = 1 << 19, private readonly initial = 1 << 12) {
    if (!Number.isInteger(Math.log2(initial))) throw new RangeError(`initial size ${initial} is not a power of two`);
    this.slots = new Int32Array(initial * 4);
    this.mask = initial * 2 - 1;
  }

  get size(): number {
    return this.strings.length;
  }

  /** The string of b[start, end) as UTF-8. */
  get(b: Buffer, start: number, end: number): string {
    // | 0: the offset basis as an int32, as the table stores it (an empty key hashes to it as is)
    let h = 0x811c9dc5 | 0;
    let high = 0;
    for (let i = start; i < end; i++) {
      const c = b[i] as number;
      high |= c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    if (high >= 0x80) return b.toString('utf8', start, end);
    const len = end - start;
    const slots = this.slots;
    const mask = this.mask;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const id = (slots[2 * s + 1] as number) - 1;
      if (id < 0) return this.add(b.toString('latin1', start, end), h, s);
      if (slots[2 * s] !== h) continue;
      const str = this.strings[id] as string;
      if (str.length !== len) continue;
      let k = 0;
      while (k < len && str.charCodeAt(k) === b[start + k]) k++;
      if (k === len) return str;
    }
  }

  private add(s: string, h: number, slot: number): string {
    if (this.strings.length >= this.max) {
      this.strings = [];
      this.slots = new Int32Array(this.initial * 4);
      this.mask = this.initial * 2 - 1;
      slot = this.free(h);
    } else if (2 * (this.strings.length + 1) > this.mask + 1) {
      this.grow();
      slot = this.free(h);
    }
    this.strings.push(s);
    this.slots[2 * slot] = h;
    this.slots[2 * slot + 1] = this.strings.length;
    return s;
  }

  /** The first empty slot on h's probe path. */
  private free(h: number): number {
    let s = h & this.mask;
    while (this.slots[2 * s + 1] !== 0) s = (s + 1) & this.mask;
    return s;
  }

  /** Twice the slots, so the table stays at most half full. */
  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.mask = old.length - 1;
    for (let s = 0; s < old.length; s += 2) {
      if (old[s + 1] === 0) continue;
      const f = this.free(old[s] as number);
      this.slots[2 * f] = old[s] as number;
      this.slots[2 * f + 1] = old[s + 1] as number;
    }
  }
}
