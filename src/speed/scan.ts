// The fast path of decode.ts.
//
// Spark's to_json writes flat objects of plain numbers and strings. The scanner reads such a
// record straight from its bytes: no UTF-8 text of the whole value, no parsed object, no field
// lookups by name. It accepts only what it can decide exactly as the general path would, and
// gives up (scan() returns false) on anything else: escapes or control characters in a
// string, a number with a fraction, an exponent or more than 15 digits (JSON.parse is exact up
// to there), a nested value other than the window struct, a field named twice, a missing key,
// any syntax error, a field name that is not plain ASCII. The general path then decides the
// record and gives the rejection reason, so the scanner never rejects anything itself.
import type { Key, Metric } from './decode.js';
import type { View } from '../view.js';
import { Interner } from './intern.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LOWER_F = 0x66;
/** JSON.parse is exact for integers of up to 15 digits (below 2^53). */
const MAX_DIGITS = 15;

/** Roles of the view's fields; metrics are 0, 1, ... */
const KEY = -1;
const WINDOW = -2;
const VERSION = -3;
const UNKNOWN = -4;
const FAIL = -5;

/** Printable ASCII without quote or backslash: written as is inside a JSON string. */
const isPlainName = (s: string): boolean => /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(s);
const bytesOf = (s: string): number[] => [...Buffer.from(s)];
const WINDOW_NAMES = [bytesOf('start'), bytesOf('end')];

/** The byte at i, or -1 past the end. Every read goes through it: a read past the end of a typed
 * array makes V8 compile that load (and all that uses its value) for `undefined` too, which made
 * the whole scanner several times slower. */
function at(b: Buffer, i: number): number {
  return i < b.length ? (b[i] as number) : -1;
}

export class Scanner {
  // what the last successful scan() read; window text ranges are -1 for the open window
  key: Key = null;
  /** Safe integers (at most MAX_DIGITS digits). */
  metrics: Metric[] = [];
  version: bigint | undefined;
  windowStart = -1;
  windowStartEnd = -1;
  windowEnd = -1;
  windowEndEnd = -1;
  /** The view's field names as byte values, and the role of each. */
  private readonly names: number[][];
  private readonly roles: number[];
  /** Slot of the field that followed slot j last time (j = names.length: the first field). */
  private readonly next: number[];
  private readonly zeros: number[];
  private readonly keys = new Interner();
  private b: Buffer = Buffer.alloc(0);
  private i = 0;
  // set by the value readers
  private num = 0;
  private strStart = 0;
  private strEnd = 0;
  private winStart = 0;
  private winStartEnd = 0;
  private winEnd = 0;
  private winEndEnd = 0;

  /** A scanner for the view, or undefined if its field names rule the fast path out (a field
   * playing two roles, a name that is not plain ASCII, more fields than the duplicate mask holds). */
  static for(view: View): Scanner | undefined {
    const names = [view.keyField, view.windowField, ...(view.versionField === undefined ? [] : [view.versionField]), ...view.metrics.map((m) => m.field)];
    if (new Set(names).size !== names.length || names.length > 30 || !names.every(isPlainName)) return undefined;
    return new Scanner(view);
  }

  private constructor(private readonly view: View) {
    const names = [view.keyField, view.windowField];
    this.roles = [KEY, WINDOW];
    if (view.versionField !== undefined) { names.push(view.versionField); this.roles.push(VERSION); }
    view.metrics.forEach((m, i) => { names.push(m.field); this.roles.push(i); });
    this.names = names.map(bytesOf);
    this.next = this.names.map((_, j) => j + 1);
    this.next.push(0);
    this.zeros = view.metrics.map(() => 0);
  }

  /** Reads b into key, metrics, version and the window fields; false: leave it to JSON.parse. */
  scan(b: Buffer): boolean {
    this.b = b;
    this.i = 0;
    const metrics = this.zeros.slice();
    let key: Key = null;
    let version: bigint | undefined;
    let ws = -1, wse = -1, we = -1, wee = -1;
    let seen = 0;
    this.ws();
    if (at(b, this.i) !== OPEN_BRACE) return false;
    this.i++;
    this.ws();
    if (at(b, this.i) === CLOSE_BRACE) return false; // no key field
    const next = this.next;
    let prev = this.names.length;
    for (;;) {
      const slot = this.fieldName(this.names, next[prev] as number);
      if (slot === FAIL || !this.colon()) return false;
      if (slot !== UNKNOWN) { next[prev] = slot; prev = slot; }
      const role = slot === UNKNOWN ? UNKNOWN : this.roles[slot] as number;
      if (role !== UNKNOWN) {
        if (seen & (1 << slot)) return false; // named twice: JSON.parse keeps the last
        seen |= 1 << slot;
      }
      if (role >= 0) {
        if (this.int()) metrics[role] = this.num;
        else if (!this.nullLiteral()) return false;
      } else if (role === KEY) {
        if (this.string()) key = this.keys.get(b, this.strStart, this.strEnd);
        else if (!this.nullLiteral()) return false;
      } else if (role === WINDOW) {
        if (at(b, this.i) === OPEN_BRACE) {
          if (!this.windowStruct()) return false;
          ws = this.winStart; wse = this.winStartEnd; we = this.winEnd; wee = this.winEndEnd;
        } else if (!this.nullLiteral()) return false;
      } else if (role === VERSION) {
        if (!this.int()) return false;
        version = BigInt(this.num);
      } else if (!this.scalar()) return false;
      this.ws();
      const c = at(b, this.i++);
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) return false;
      this.ws();
    }
    this.ws();
    if (this.i !== b.length || !(seen & 1)) return false; // trailing bytes; no key field
    if (this.view.versionField !== undefined && !(seen & 4)) return false;
    this.key = key;
    this.metrics = metrics;
    this.version = version;
    this.windowStart = ws;
    this.windowStartEnd = wse;
    this.windowEnd = we;
    this.windowEndEnd = wee;
    return true;
  }

  /** {"start": "...", "end": "..."} (other scalar fields ignored): the text ranges of start and
   * end into winStart.. and winEnd.. */
  private windowStruct(): boolean {
    this.i++;
    this.ws();
    let s = -1, se = -1, e = -1, ee = -1;
    if (at(this.b, this.i) === CLOSE_BRACE) return false;
    for (;;) {
      const which = this.fieldName(WINDOW_NAMES, s < 0 ? 0 : 1);
      if (which === FAIL || !this.colon()) return false;
      if (which === UNKNOWN) {
        if (!this.scalar()) return false;
      } else {
        if ((which === 0 ? s : e) >= 0 || !this.string()) return false;
        if (which === 0) { s = this.strStart; se = this.strEnd; } else { e = this.strStart; ee = this.strEnd; }
      }
      this.ws();
      const c = at(this.b, this.i++);
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) return false;
      this.ws();
    }
    if (s < 0 || e < 0) return false;
    this.winStart = s; this.winStartEnd = se; this.winEnd = e; this.winEndEnd = ee;
    return true;
  }

  private ws(): void {
    const b = this.b;
    let i = this.i;
    const n = b.length;
    while (i < n) {
      const c = b[i] as number;
      if (c > 0x20 || (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09)) break;
      i++;
    }
    this.i = i;
  }

  private colon(): boolean {
    this.ws();
    if (at(this.b, this.i) !== COLON) return false;
    this.i++;
    this.ws();
    return true;
  }

  /** A field name: its index in names, UNKNOWN, or FAIL (not a plain ASCII string). `hint`, the
   * name expected here, is tried first: writers put the fields in the same order every time. */
  private fieldName(names: readonly (readonly number[])[], hint: number): number {
    const b = this.b;
    if (at(b, this.i) !== QUOTE) return FAIL;
    const s = this.i + 1;
    for (let t = 0; t < names.length; t++) {
      const j = (hint + t) % names.length;
      const name = names[j] as readonly number[];
      const len = name.length;
      if (at(b, s + len) !== QUOTE) continue;
      let k = 0;
      while (k < len && name[k] === b[s + k]) k++;
      if (k === len) {
        this.i = s + len + 1;
        return j;
      }
    }
    for (let i = s; i < b.length; i++) {
      const c = b[i] as number;
      if (c === QUOTE) { this.i = i + 1; return UNKNOWN; }
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return FAIL;
    }
    return FAIL;
  }

  /** A string without escapes or control characters: its bytes in strStart/strEnd. */
  private string(): boolean {
    const b = this.b;
    if (at(b, this.i) !== QUOTE) return false;
    const start = this.i + 1;
    for (let i = start; i < b.length; i++) {
      const c = b[i] as number;
      if (c === QUOTE) {
        this.strStart = start;
        this.strEnd = i;
        this.i = i + 1;
        return true;
      }
      if (c === BACKSLASH || c < 0x20) return false;
    }
    return false;
  }

  /** An integer of at most MAX_DIGITS digits, into num; false on anything else (unread). */
  private int(): boolean {
    const b = this.b;
    let i = this.i;
    const neg = at(b, i) === MINUS;
    if (neg) i++;
    const first = i;
    let v = 0;
    let c = at(b, i);
    if (c === ZERO) {
      c = at(b, ++i);
    } else {
      while (c >= ZERO && c <= NINE) { v = v * 10 + (c - ZERO); c = at(b, ++i); }
      if (i === first || i - first > MAX_DIGITS) return false;
    }
    if ((c >= ZERO && c <= NINE) || c === DOT || c === LOWER_E || c === UPPER_E) return false;
    this.num = neg ? -v : v;
    this.i = i;
    return true;
  }

  private nullLiteral(): boolean {
    return this.literal(LOWER_N, 'null');
  }

  private literal(first: number, word: string): boolean {
    const b = this.b;
    if (at(b, this.i) !== first) return false;
    for (let k = 1; k < word.length; k++) if (at(b, this.i + k) !== word.charCodeAt(k)) return false;
    this.i += word.length;
    return true;
  }

  /** Skips a string, number, true, false or null (a field the view does not name). */
  private scalar(): boolean {
    const c = at(this.b, this.i);
    if (c === QUOTE) return this.string();
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.number();
    return this.literal(LOWER_T, 'true') || this.literal(LOWER_F, 'false') || this.nullLiteral();
  }

  /** Skips a JSON number of any form: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
  private number(): boolean {
    const b = this.b;
    let i = this.i;
    if (at(b, i) === MINUS) i++;
    if (at(b, i) === ZERO) i++;
    else if ((i = digitsEnd(b, i)) < 0) return false;
    if (at(b, i) === DOT && (i = digitsEnd(b, i + 1)) < 0) return false;
    const e = at(b, i);
    if (e === LOWER_E || e === UPPER_E) {
      i++;
      const sign = at(b, i);
      if (sign === PLUS || sign === MINUS) i++;
      if ((i = digitsEnd(b, i)) < 0) return false;
    }
    this.i = i;
    return true;
  }
}

/** The end of the run of digits at i; -1 if there is none. */
function digitsEnd(b: Buffer, i: number): number {
  const from = i;
  for (let c = at(b, i); c >= ZERO && c <= NINE; c = at(b, ++i));
  return i > from ? i : -1;
}
