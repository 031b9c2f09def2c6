// Key -> row index of a batch snapshot: open addressing (linear probing) over an Int32Array of
// row numbers, hashing the key's UTF-16 code units (FNV-1a). A JS Map of a million string keys
// costs ~50 bytes and ~250 ns an insert; this costs 8 bytes a slot (load factor <= 0.5) and a
// fraction of the time, which is most of what loading the batch layer spends on the index.
// The keys themselves live in the snapshot's key array; the NULL key has its own slot.
import type { Key } from '../speed/decode.js';

const EMPTY = -1;

export function hashKey(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

export class KeyIndex {
  private slots: Int32Array;
  private mask: number;
  private count = 0;
  private nullRow = EMPTY;

  /** keys: the array the row numbers point into (appended to by the owner, never reordered). */
  constructor(private readonly keys: readonly Key[], expected = 1024) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.slots = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count + (this.nullRow === EMPTY ? 0 : 1);
  }

  get(key: Key): number | undefined {
    if (key === null) return this.nullRow === EMPTY ? undefined : this.nullRow;
    const { slots, mask, keys } = this;
    for (let j = hashKey(key) & mask; ; j = (j + 1) & mask) {
      const row = slots[j] as number;
      if (row === EMPTY) return undefined;
      if (keys[row] === key) return row;
    }
  }

  /** Records that keys[row] is at row; the caller has checked that the key is not there yet. */
  add(key: Key, row: number): void {
    if (key === null) { this.nullRow = row; return; }
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    this.place(hashKey(key), row);
    this.count++;
  }

  private place(hash: number, row: number): void {
    const { slots, mask } = this;
    let j = hash & mask;
    while (slots[j] !== EMPTY) j = (j + 1) & mask;
    slots[j] = row;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2).fill(EMPTY);
    this.mask = this.slots.length - 1;
    for (let j = 0; j < old.length; j++) {
      const row = old[j] as number;
      if (row !== EMPTY) this.place(hashKey(this.keys[row] as string), row);
    }
  }
}
