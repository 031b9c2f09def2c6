// The keys of a batch snapshot, for a million keys at a time: every key's UTF-8 bytes back to
// back in one buffer (row i is bytes offsets[i]..offsets[i+1]), found through an open-addressing
// hash (FNV-1a over the bytes, linear probing, load <= 0.5) of row numbers. A JS Map of a million
// strings costs ~50 bytes and ~250 ns a key to build plus the garbage collector's time to move a
// million strings; here a key costs its bytes + 12 and is copied once, straight from the
// warehouse's COPY stream. Strings are made only when a key is asked for (keyAt).
// PostgreSQL text is valid UTF-8, so a string that is not well-formed UTF-16 is no key here.
import type { Key } from '../speed/decode.js';

const EMPTY = -1;

export function hashBytes(b: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = s; i < e; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h;
}

/** Scratch space to encode a looked-up key (lookups are synchronous, so one is enough). */
let scratch = Buffer.allocUnsafe(1024);

export class KeyTable {
  private bytes: Buffer;
  private used = 0;
  private offsets: Int32Array;
  private n = 0;
  private slots: Int32Array;
  private mask: number;
  private nullRow = EMPTY;

  constructor(expected = 1024) {
    const rows = Math.max(16, expected);
    this.bytes = Buffer.allocUnsafe(rows * 12);
    this.offsets = new Int32Array(rows + 1);
    let cap = 1024;
    while (cap < rows * 2) cap *= 2;
    this.slots = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.n;
  }

  /** The row of key, or -1. An ASCII key (the usual case) is hashed and compared as it is, its
   * chars being its UTF-8 bytes; any other is encoded first. */
  find(key: Key): number {
    if (key === null) return this.nullRow;
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) return this.findEncoded(key);
      h = Math.imul(h ^ c, 0x01000193);
    }
    const { slots, mask, bytes, offsets } = this;
    const len = key.length;
    for (let j = h & mask; ; j = (j + 1) & mask) {
      const row = slots[j] as number;
      if (row === EMPTY) return EMPTY;
      const from = offsets[row] as number;
      if ((offsets[row + 1] as number) - from !== len) continue;
      let k = 0;
      while (k < len && bytes[from + k] === key.charCodeAt(k)) k++;
      if (k === len) return row;
    }
  }

  private findEncoded(key: string): number {
    if (!(key as unknown as { isWellFormed(): boolean }).isWellFormed()) return EMPTY; // lone surrogates: not text PostgreSQL holds
    if (key.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(key.length * 3 + 1024);
    const len = scratch.write(key, 0, 'utf8');
    return this.findBytes(scratch, 0, len, hashBytes(scratch, 0, len));
  }

  /** The row whose key is bytes [s, e) of buf (hash: hashBytes of them), or -1. */
  findBytes(buf: Uint8Array, s: number, e: number, hash: number): number {
    const { slots, mask, bytes, offsets } = this;
    const len = e - s;
    for (let j = hash & mask; ; j = (j + 1) & mask) {
      const row = slots[j] as number;
      if (row === EMPTY) return EMPTY;
      const from = offsets[row] as number;
      if ((offsets[row + 1] as number) - from !== len) continue; // (the NULL key is in no slot)
      let k = 0;
      while (k < len && bytes[from + k] === buf[s + k]) k++;
      if (k === len) return row;
    }
  }

  /** Appends a key the caller found absent; returns its row. */
  appendBytes(buf: Uint8Array, s: number, e: number, hash: number): number {
    const len = e - s;
    if (this.used + len > this.bytes.length) this.growBytes(len);
    if (this.n + 1 >= this.offsets.length) this.growRows();
    if ((this.n + 1) * 2 > this.slots.length) this.growSlots();
    const row = this.n++;
    if (len < 32) for (let k = 0; k < len; k++) this.bytes[this.used + k] = buf[s + k] as number;
    else this.bytes.set(buf.subarray(s, e), this.used);
    this.used += len;
    this.offsets[row + 1] = this.used;
    this.place(hash, row);
    return row;
  }

  /** Appends the NULL key (absent so far); returns its row. */
  appendNull(): number {
    if (this.n + 1 >= this.offsets.length) this.growRows();
    const row = this.n++;
    this.offsets[row + 1] = this.used;
    this.nullRow = row;
    return row;
  }

  /** Appends a key given as a string (the cursor path); the caller found it absent. */
  append(key: Key): number {
    if (key === null) return this.appendNull();
    const b = Buffer.from(key, 'utf8');
    return this.appendBytes(b, 0, b.length, hashBytes(b, 0, b.length));
  }

  keyAt(row: number): Key {
    if (row === this.nullRow) return null;
    return this.bytes.toString('utf8', this.offsets[row] as number, this.offsets[row + 1] as number);
  }

  isNull(row: number): boolean {
    return row === this.nullRow;
  }

  /** The UTF-8 bytes of every key and where each starts (row i: offsets[i]..offsets[i+1]). */
  get keyBytes(): { readonly bytes: Buffer; readonly offsets: Int32Array } {
    return { bytes: this.bytes, offsets: this.offsets };
  }

  private place(hash: number, row: number): void {
    const { slots, mask } = this;
    let j = hash & mask;
    while (slots[j] !== EMPTY) j = (j + 1) & mask;
    slots[j] = row;
  }

  private growBytes(atLeast: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + atLeast));
    this.bytes.copy(next, 0, 0, this.used);
    this.bytes = next;
  }

  private growRows(): void {
    const next = new Int32Array(this.offsets.length * 2);
    next.set(this.offsets);
    this.offsets = next;
  }

  private growSlots(): void {
    this.slots = new Int32Array(this.slots.length * 2).fill(EMPTY);
    this.mask = this.slots.length - 1;
    const { bytes, offsets } = this;
    for (let row = 0; row < this.n; row++) {
      if (row !== this.nullRow) this.place(hashBytes(bytes, offsets[row] as number, offsets[row + 1] as number), row);
    }
  }
}
