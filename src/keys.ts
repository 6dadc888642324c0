// Byte-string interning for the hot path: keys stay bytes until the partial is
// written, so counting a line never allocates a string.

const EMPTY_SLOT = 0;
const MAX_SAMPLED_COLLISIONS = 4;
const RETRY = -0x80000000;

/**
 * Hash of bytes [start, end): four bytes per step through a DataView over the
 * same memory as `buf` (a byte loop costs about four times as much on long keys).
 */
export function hashBytes(buf: Uint8Array, view: DataView, start: number, end: number): number {
  let h = 0x811c9dc5 ^ (end - start);
  let p = start;
  for (; p + 4 <= end; p += 4) {
    h = Math.imul(h ^ view.getInt32(p, true), 0x01000193);
    h ^= h >>> 15;
  }
  for (; p < end; p++) h = Math.imul(h ^ buf[p]!, 0x01000193);
  return finish(h);
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

/** Keys at least this long are hashed from a sample of their bytes. */
const SAMPLE_FROM = 24;

/**
 * Hash of a sample of a long key: its length and five 4-byte words spread over
 * it. Equal keys always hash equal; keys that differ only between the samples
 * collide, which costs comparisons, never correctness (see KeyTable).
 */
export function sampledHash(buf: Uint8Array, view: DataView, start: number, end: number): number {
  const len = end - start;
  if (len < SAMPLE_FROM) return hashBytes(buf, view, start, end);
  let h = 0x811c9dc5 ^ len;
  h = Math.imul(h ^ view.getInt32(start, true), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h ^ view.getInt32(start + (len >> 2), true), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h ^ view.getInt32(start + (len >> 1), true), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h ^ view.getInt32(start + ((len * 3) >> 2) - 4, true), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h ^ view.getInt32(end - 4, true), 0x01000193);
  return finish(h);
}

/** A DataView over exactly the bytes of `buf`. */
export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * An open-addressing table from byte strings to dense ids 0..size-1, with
 * `columns` float64 counters per id (float64 so counts never overflow int32
 * and deoptimise the JIT).
 */
export class KeyTable {
  size = 0;
  values: Float64Array;
  private slots: Int32Array;
  private slotHashes: Int32Array;
  private mask: number;
  private fullHash = false;
  private lastHash = 0;
  private arena: Uint8Array;
  private arenaView: DataView;
  private arenaUsed = 0;
  private starts: Int32Array;
  private lengths: Int32Array;

  constructor(
    readonly columns = 1,
    initialCapacity = 64,
  ) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.slots = new Int32Array(cap);
    this.slotHashes = new Int32Array(cap);
    this.mask = cap - 1;
    this.arena = new Uint8Array(4096);
    this.arenaView = viewOf(this.arena);
    this.starts = new Int32Array(initialCapacity);
    this.lengths = new Int32Array(initialCapacity);
    this.values = new Float64Array(initialCapacity * columns);
  }

  /** The id of bytes [start, end) of `buf` (`view` over the same memory), added if new. */
  intern(buf: Uint8Array, view: DataView, start: number, end: number): number {
    let slot = this.lookup(buf, view, start, end);
    if (slot === RETRY) slot = this.lookup(buf, view, start, end);
    return slot >= 0 ? this.slots[slot]! - 1 : this.add(buf, start, end - start, this.lastHash, ~slot);
  }

  /** The id of bytes [start, end), or -1 when the key is not in the table. */
  find(buf: Uint8Array, view: DataView, start: number, end: number): number {
    let slot = this.lookup(buf, view, start, end);
    if (slot === RETRY) slot = this.lookup(buf, view, start, end);
    return slot >= 0 ? this.slots[slot]! - 1 : -1;
  }

  /**
   * The slot holding the key, ~(the empty slot where it would go), or RETRY
   * after switching to whole-key hashing. One flat function: the JIT inlines
   * it into the parser, which a chain of small methods defeated.
   */
  private lookup(buf: Uint8Array, view: DataView, start: number, end: number): number {
    const len = end - start;
    const hash = this.fullHash ? hashBytes(buf, view, start, end) : sampledHash(buf, view, start, end);
    this.lastHash = hash;
    const slots = this.slots;
    const mask = this.mask;
    let slot = hash & mask;
    let collisions = 0;
    for (;;) {
      const entry = slots[slot]!;
      if (entry === EMPTY_SLOT) return ~slot;
      if (this.slotHashes[slot] === hash && this.lengths[entry - 1] === len) {
        const at = this.starts[entry - 1]!;
        const arenaView = this.arenaView;
        // Eight bytes per step as float64. Equal doubles have equal bits except
        // +0/-0, and NaNs never compare equal: both cases are settled as int32s.
        let k = 0;
        while (k + 8 <= len) {
          const x = arenaView.getFloat64(at + k, true);
          const y = view.getFloat64(start + k, true);
          if (
            (x !== y || x === 0) &&
            (arenaView.getInt32(at + k, true) !== view.getInt32(start + k, true) ||
              arenaView.getInt32(at + k + 4, true) !== view.getInt32(start + k + 4, true))
          ) {
            break;
          }
          k += 8;
        }
        if (k + 8 > len) {
          const arena = this.arena;
          while (k < len && arena[at + k] === buf[start + k]) k++;
          if (k === len) return slot;
        }
        // Many different keys sharing a sampled hash: hash whole keys from now on.
        if (++collisions > MAX_SAMPLED_COLLISIONS && !this.fullHash) {
          this.fullHash = true;
          this.rehash(slots.length);
          return RETRY;
        }
      }
      slot = (slot + 1) & mask;
    }
  }

  private add(buf: Uint8Array, start: number, len: number, hash: number, slot: number): number {
    const id = this.size++;
    if (id === this.starts.length) this.growIds();
    if (this.arenaUsed + len > this.arena.length) {
      let cap = this.arena.length * 2;
      while (cap < this.arenaUsed + len) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = next;
      this.arenaView = viewOf(next);
    }
    this.arena.set(buf.subarray(start, start + len), this.arenaUsed);
    this.starts[id] = this.arenaUsed;
    this.lengths[id] = len;
    this.arenaUsed += len;
    this.slots[slot] = id + 1;
    this.slotHashes[slot] = hash;
    if (this.size * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    return id;
  }

  private growIds(): void {
    const cap = this.starts.length * 2;
    const starts = new Int32Array(cap);
    starts.set(this.starts);
    this.starts = starts;
    const lengths = new Int32Array(cap);
    lengths.set(this.lengths);
    this.lengths = lengths;
    const values = new Float64Array(cap * this.columns);
    values.set(this.values);
    this.values = values;
  }

  private rehash(cap: number): void {
    const slots = new Int32Array(cap);
    const hashes = new Int32Array(cap);
    const mask = cap - 1;
    for (let s = 0; s < this.slots.length; s++) {
      const entry = this.slots[s]!;
      if (entry === EMPTY_SLOT) continue;
      const id = entry - 1;
      const at = this.starts[id]!;
      const h = this.fullHash ? hashBytes(this.arena, this.arenaView, at, at + this.lengths[id]!) : this.slotHashes[s]!;
      let slot = h & mask;
      while (slots[slot] !== EMPTY_SLOT) slot = (slot + 1) & mask;
      slots[slot] = entry;
      hashes[slot] = h;
    }
    this.slots = slots;
    this.slotHashes = hashes;
    this.mask = mask;
  }

  /** Key `id` as a binary string (one char per byte), exact for any bytes. */
  keyOf(id: number): string {
    const at = this.starts[id]!;
    return latin1.decode(this.arena.subarray(at, at + this.lengths[id]!));
  }

  /** Every key with its counter columns. */
  entries(): Array<[string, ...number[]]> {
    const out: Array<[string, ...number[]]> = [];
    for (let id = 0; id < this.size; id++) {
      const row: [string, ...number[]] = [this.keyOf(id)];
      for (let c = 0; c < this.columns; c++) row.push(this.values[id * this.columns + c]!);
      out.push(row);
    }
    return out;
  }
}

// "latin1" in TextDecoder is windows-1252, which remaps 0x80-0x9f; decode by hand.
const latin1 = {
  decode(bytes: Uint8Array): string {
    let s = "";
    for (let k = 0; k < bytes.length; k += 8192) {
      s += String.fromCharCode.apply(null, bytes.subarray(k, k + 8192) as unknown as number[]);
    }
    return s;
  },
};

export function binaryToBytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let k = 0; k < key.length; k++) out[k] = key.charCodeAt(k);
  return out;
}

/**
 * Whether bytes [at, at+len) of the arena equal bytes [start, start+len) of
 * buf, eight bytes per step as float64 (the last step overlapping the one
 * before). Equal doubles have equal bits except +0/-0, and NaNs never compare
 * equal: both cases are settled as int32s.
 */
export function equalBytes(arena: Uint8Array, arenaView: DataView, at: number, buf: Uint8Array, view: DataView, start: number, len: number): boolean {
  if (len < 8) {
    for (let k = 0; k < len; k++) if (arena[at + k] !== buf[start + k]) return false;
    return true;
  }
  let k = 0;
  for (;;) {
    const x = arenaView.getFloat64(at + k, true);
    const y = view.getFloat64(start + k, true);
    if (
      (x !== y || x === 0) &&
      (arenaView.getInt32(at + k, true) !== view.getInt32(start + k, true) ||
        arenaView.getInt32(at + k + 4, true) !== view.getInt32(start + k + 4, true))
    ) {
      return false;
    }
    if (k + 8 === len) return true;
    k = k + 16 <= len ? k + 8 : len - 8;
  }
}

const CACHE_PROBES = 8;

/**
 * A small, bounded memo from byte strings to an int payload, for the parser's
 * fast paths: a line whose first bytes equal a cached key parses the way the
 * line that created the entry did. The caller picks the hash (from bytes that
 * may run past the key: the same key can then sit in several entries). When
 * full it starts over, so its memory never grows; a miss only costs the slow
 * path, never a wrong count.
 */
export class KeyCache {
  readonly lengths: Int32Array;
  readonly payloads: Int32Array;
  private readonly starts: Int32Array;
  private readonly slots: Int32Array;
  private readonly slotHashes: Int32Array;
  private readonly mask: number;
  private readonly arena: Uint8Array;
  private readonly arenaView: DataView;
  private arenaUsed = 0;
  private size = 0;

  constructor(
    private readonly maxEntries = 4096,
    readonly maxKeyBytes = 64,
  ) {
    let cap = 16;
    while (cap < maxEntries * 2) cap *= 2;
    this.slots = new Int32Array(cap);
    this.slotHashes = new Int32Array(cap);
    this.mask = cap - 1;
    this.lengths = new Int32Array(maxEntries);
    this.payloads = new Int32Array(maxEntries);
    this.starts = new Int32Array(maxEntries);
    this.arena = new Uint8Array(maxEntries * maxKeyBytes);
    this.arenaView = viewOf(this.arena);
  }

  /** The entry whose key equals buf[start, start+len) for its own len, with start+len <= limit; or -1. */
  find(buf: Uint8Array, view: DataView, start: number, limit: number, hash: number): number {
    const slots = this.slots;
    let slot = hash & this.mask;
    for (let probe = 0; probe < CACHE_PROBES; probe++) {
      const entry = slots[slot]!;
      if (entry === 0) return -1;
      if (this.slotHashes[slot] === hash) {
        const id = entry - 1;
        const len = this.lengths[id]!;
        if (start + len <= limit && equalBytes(this.arena, this.arenaView, this.starts[id]!, buf, view, start, len)) return id;
      }
      slot = (slot + 1) & this.mask;
    }
    return -1;
  }

  /** Remembers buf[start, start+len) under `hash` (keys longer than maxKeyBytes are not kept). */
  add(buf: Uint8Array, start: number, len: number, hash: number, payload: number): void {
    if (len > this.maxKeyBytes) return;
    if (this.size === this.maxEntries) {
      this.slots.fill(0);
      this.size = 0;
      this.arenaUsed = 0;
    }
    let slot = hash & this.mask;
    for (let probe = 0; probe < CACHE_PROBES; probe++) {
      if (this.slots[slot] === 0) {
        const id = this.size++;
        this.arena.set(buf.subarray(start, start + len), this.arenaUsed);
        this.starts[id] = this.arenaUsed;
        this.lengths[id] = len;
        this.payloads[id] = payload;
        this.arenaUsed += len;
        this.slots[slot] = id + 1;
        this.slotHashes[slot] = hash;
        return;
      }
      slot = (slot + 1) & this.mask;
    }
  }
}

/** A hash of the four int32 words at p (callers make sure p+16 is in bounds). */
export function hashWords4(view: DataView, p: number): number {
  let h = Math.imul(view.getInt32(p, true), 0x9e3779b1);
  h ^= Math.imul(view.getInt32(p + 4, true), 0x85ebca6b);
  h = (h ^ (h >>> 15)) + Math.imul(view.getInt32(p + 8, true), 0xc2b2ae35);
  h ^= Math.imul(view.getInt32(p + 12, true), 0x27d4eb2f);
  return h ^ (h >>> 16);
}

/** A hash of the three int32 words at p (callers make sure p+12 is in bounds). */
export function hashWords3(view: DataView, p: number): number {
  let h = Math.imul(view.getInt32(p, true), 0x9e3779b1);
  h ^= Math.imul(view.getInt32(p + 4, true), 0x85ebca6b);
  h = (h ^ (h >>> 15)) + Math.imul(view.getInt32(p + 8, true), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
