// Byte-string interning for the hot path: keys stay bytes until the partial is
// written, so counting a line never allocates a string.

import { CR, LF, QUOTE } from "../../core/text.ts";

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
  // Read directly by tableFind (the parser's loop); replaced when the table grows.
  /** @internal */ slots: Int32Array;
  /** @internal */ slotHashes: Int32Array;
  /** @internal */ mask: number;
  /** @internal */ fullHash = false;
  private lastHash = 0;
  /** @internal */ arena: Uint8Array;
  /** @internal */ arenaView: DataView;
  private arenaUsed = 0;
  /** @internal */ starts: Int32Array;
  /** @internal */ lengths: Int32Array;
  // Four more copies of each key, one at each address mod 4, while they fit
  // in ALIGNED_BUDGET: a key then compares as whole int32 words against the
  // line whatever the line's alignment (about twice as fast as DataView reads).
  /** @internal */ alignedStarts: Int32Array;
  /** @internal */ aligned = new Uint8Array(4096);
  /** @internal */ alignedWords = new Int32Array(this.aligned.buffer);
  private alignedUsed = 0;
  private wordsOf: Uint8Array = new Uint8Array(0);
  private bufWords: Int32Array<ArrayBufferLike> = new Int32Array(0);

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
    this.alignedStarts = new Int32Array(initialCapacity * 4).fill(-1);
    this.values = new Float64Array(initialCapacity * columns);
  }

  private viewWords(buf: Uint8Array): void {
    this.wordsOf = buf;
    this.bufWords = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
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
        const id = entry - 1;
        const abs = buf.byteOffset + start;
        const copy = this.alignedStarts[id * 4 + (abs & 3)]!;
        if (copy >= 0 && buf !== this.wordsOf) this.viewWords(buf);
        if (copy >= 0 && alignedFits(this.bufWords, abs, len)
          ? equalAligned(this.alignedWords, copy, this.bufWords, abs, len)
          : equalBytes(this.arena, this.arenaView, this.starts[id]!, buf, view, start, len)) {
          return slot;
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
    this.addAlignedCopies(buf, start, len, id);
    this.slots[slot] = id + 1;
    this.slotHashes[slot] = hash;
    if (this.size * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    return id;
  }

  private addAlignedCopies(buf: Uint8Array, start: number, len: number, id: number): void {
    const need = this.alignedUsed + 4 * (len + 4);
    if (len < 8 || need > ALIGNED_BUDGET || !LITTLE_ENDIAN) return;
    if (need > this.aligned.length) {
      let cap = this.aligned.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.aligned.subarray(0, this.alignedUsed));
      this.aligned = next;
      this.alignedWords = new Int32Array(next.buffer);
    }
    const key = buf.subarray(start, start + len);
    for (let a = 0; a < 4; a++) {
      const at = ((this.alignedUsed + 3) & ~3) + a;
      this.aligned.set(key, at);
      this.alignedStarts[id * 4 + a] = at;
      this.alignedUsed = at + len;
    }
  }

  private growIds(): void {
    const cap = this.starts.length * 2;
    const starts = new Int32Array(cap);
    starts.set(this.starts);
    this.starts = starts;
    const lengths = new Int32Array(cap);
    lengths.set(this.lengths);
    this.lengths = lengths;
    const alignedStarts = new Int32Array(cap * 4).fill(-1);
    alignedStarts.set(this.alignedStarts);
    this.alignedStarts = alignedStarts;
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

/**
 * Whether bytes [at, at+len) of an arena equal bytes [abs, abs+len) of a
 * buffer, when at and abs are equal mod 4, compared as the int32 words
 * `words` and `bufWords` (the arena's and the buffer's whole ArrayBuffers)
 * that hold them. Needs len >= 1, little-endian words (see LITTLE_ENDIAN) and
 * the word of byte abs+len-1 inside bufWords (see alignedFits).
 */
function equalAligned(words: Int32Array, at: number, bufWords: Int32Array, abs: number, len: number): boolean {
  let wa = at >> 2;
  let wb = abs >> 2;
  const last = (abs + len - 1) >> 2;
  // The first and last words hold bytes of the key and bytes around it: the
  // key's bytes are kept by masks (little-endian words: byte k is bits 8k..8k+7).
  const headMask = -1 << ((abs & 3) << 3);
  const tailBytes = ((abs + len - 1) & 3) + 1;
  const tailMask = tailBytes === 4 ? -1 : (1 << (tailBytes << 3)) - 1;
  if (wb === last) return ((words[wa]! ^ bufWords[wb]!) & headMask & tailMask) === 0;
  if (((words[wa]! ^ bufWords[wb]!) & headMask) !== 0) return false;
  wa++;
  wb++;
  // Four words per step, their differences or-ed: the loop's bounds and exit
  // checks, not the compares, are most of its cost (docs/profiling.md).
  while (wb + 4 <= last) {
    if (((words[wa]! ^ bufWords[wb]!) | (words[wa + 1]! ^ bufWords[wb + 1]!) | (words[wa + 2]! ^ bufWords[wb + 2]!) | (words[wa + 3]! ^ bufWords[wb + 3]!)) !== 0) return false;
    wa += 4;
    wb += 4;
  }
  while (wb < last) {
    if (words[wa] !== bufWords[wb]) return false;
    wa++;
    wb++;
  }
  return ((words[wa]! ^ bufWords[wb]!) & tailMask) === 0;
}

/** Whether int32 words hold their first byte in their low bits (as on x64 and arm64); if not, keys get no aligned copies. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Whether equalAligned may compare bytes [abs, abs+len) through `bufWords` (not the last bytes of a buffer whose length is no multiple of 4). */
function alignedFits(bufWords: Int32Array, abs: number, len: number): boolean {
  return abs + len <= bufWords.length * 4;
}

/** Bytes of aligned key copies a KeyTable may hold (beyond it, keys compare through a DataView). */
const ALIGNED_BUDGET = 4 << 20;

const CACHE_PROBES = 8;
/** Bytes of a memo key held as int32 words (the words read to hash it). */
const MEMO_WORDS = 4;

/**
 * A small, bounded memo from byte strings to an int payload, for the parser's
 * fast paths: a line whose first bytes equal a cached key parses as the line
 * that created the entry did. An entry is found by the four int32 words at the
 * lookup position (hashed, then compared as they are, so a key shorter than 16
 * bytes also pins the bytes that followed it: only a stricter match), and the
 * rest of a longer key is compared four bytes at a time. The same key can sit
 * in several entries. When full it starts over, so its memory never grows; a
 * miss only costs the slow path, never a wrong count.
 */
export class KeyCache {
  lengths: Int32Array;
  payloads: Int32Array;
  // Read directly by memoFind (the parser's loop); replaced when the cache grows.
  /** @internal */ keyWords: Int32Array;
  // Slots grow with the entries (four per entry): a lookup lands on
  // a random slot, and a table sized for 4,096 entries spread a handful of
  // keys over 32 KiB, a cache miss per lookup.
  /** @internal */ slots: Int32Array;
  /** @internal */ mask: number;
  private arena: Uint8Array;
  /** @internal */ arenaView: DataView;
  private size = 0;

  constructor(
    private readonly maxEntries = 4096,
    readonly maxKeyBytes = 64,
  ) {
    // Entry storage starts small (a counter is made per task) and doubles up to maxEntries.
    const first = Math.min(maxEntries, 64);
    let cap = 16;
    while (cap < first * 4) cap *= 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.lengths = new Int32Array(first);
    this.payloads = new Int32Array(first);
    this.keyWords = new Int32Array(first * MEMO_WORDS);
    this.arena = new Uint8Array(first * maxKeyBytes);
    this.arenaView = viewOf(this.arena);
  }

  private grow(): void {
    const cap = Math.min(this.maxEntries, this.lengths.length * 2);
    const grown = <T extends Int32Array | Uint8Array>(old: T, next: T): T => {
      next.set(old);
      return next;
    };
    this.lengths = grown(this.lengths, new Int32Array(cap));
    this.payloads = grown(this.payloads, new Int32Array(cap));
    this.keyWords = grown(this.keyWords, new Int32Array(cap * MEMO_WORDS));
    this.arena = grown(this.arena, new Uint8Array(cap * this.maxKeyBytes));
    this.arenaView = viewOf(this.arena);
    this.rehash(cap * 4);
  }

  /** Spreads the entries over `cap` slots (a power of two). */
  private rehash(cap: number): void {
    const slots = new Int32Array(cap);
    const mask = cap - 1;
    const words = this.keyWords;
    for (let id = 0; id < this.size; id++) {
      const k = id * MEMO_WORDS;
      let slot = memoHash(words[k]!, words[k + 1]!, words[k + 2]!, words[k + 3]!) & mask;
      // As in add(): an entry that find() would not reach is left out.
      for (let probe = 0; probe < CACHE_PROBES; probe++) {
        if (slots[slot] === 0) {
          slots[slot] = id + 1;
          break;
        }
        slot = (slot + 1) & mask;
      }
    }
    this.slots = slots;
    this.mask = mask;
  }

  /** The entry whose key equals the bytes at `start` (ending at or before `limit`), or -1; start + 16 must be in bounds. */
  find(view: DataView, start: number, limit: number): number {
    return memoFind(this, view, start, limit);
  }

  /** Remembers the key buf[start, start+len) (keys longer than maxKeyBytes are not kept); start + 16 must be in bounds. */
  add(buf: Uint8Array, view: DataView, start: number, len: number, payload: number): void {
    if (len > this.maxKeyBytes) return;
    if (this.size === this.maxEntries) {
      this.slots.fill(0);
      this.size = 0;
    }
    if (this.size === this.lengths.length) this.grow();
    const w0 = view.getInt32(start, true);
    const w1 = view.getInt32(start + 4, true);
    const w2 = view.getInt32(start + 8, true);
    const w3 = view.getInt32(start + 12, true);
    let slot = memoHash(w0, w1, w2, w3) & this.mask;
    for (let probe = 0; probe < CACHE_PROBES; probe++) {
      if (this.slots[slot] === 0) {
        const id = this.size++;
        const k = id * MEMO_WORDS;
        this.keyWords[k] = w0;
        this.keyWords[k + 1] = w1;
        this.keyWords[k + 2] = w2;
        this.keyWords[k + 3] = w3;
        this.arena.set(buf.subarray(start, start + len), id * this.maxKeyBytes);
        this.lengths[id] = len;
        this.payloads[id] = payload;
        this.slots[slot] = id + 1;
        return;
      }
      slot = (slot + 1) & this.mask;
    }
  }
}

/**
 * Hash of a memo key's four words. Ends with a full avalanche: a slot is
 * taken from the low bits, and without it a small table saw keys that differ
 * only in a word's top byte land in one cluster, past the probe limit.
 */
function memoHash(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0, 0x9e3779b1) ^ Math.imul(w1, 0x85ebca6b);
  h = (h ^ (h >>> 15)) + (Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f));
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

/**
 * KeyCache.find as a plain function of the cache, for the parser's loop
 * (which keeps the caches in locals). Still a call there: written into the
 * loop it made the loop's optimising compile cost more than it saved
 * (docs/profiling.md).
 */
export function memoFind(cache: KeyCache, view: DataView, start: number, limit: number): number {
  const w0 = view.getInt32(start, true);
  const w1 = view.getInt32(start + 4, true);
  const w2 = view.getInt32(start + 8, true);
  const w3 = view.getInt32(start + 12, true);
  const words = cache.keyWords;
  const slots = cache.slots;
  const mask = cache.mask;
  let slot = memoHash(w0, w1, w2, w3) & mask;
  for (let probe = 0; probe < CACHE_PROBES; probe++) {
    const entry = slots[slot]!;
    if (entry === 0) return -1;
    const id = entry - 1;
    const k = id * MEMO_WORDS;
    if (words[k] === w0 && words[k + 1] === w1 && words[k + 2] === w2 && words[k + 3] === w3) {
      const len = cache.lengths[id]!;
      if (start + len <= limit) {
        // Bytes 16..len, four at a time, the last step overlapping.
        const arenaView = cache.arenaView;
        const at = id * cache.maxKeyBytes;
        let k = 16;
        // `| 0`: no overflow check per step (offsets stay far below 2^31).
        while (k < len) {
          if (((k + 4) | 0) > len) k = (len - 4) | 0;
          if (arenaView.getInt32((at + k) | 0, true) !== view.getInt32((start + k) | 0, true)) break;
          k = (k + 4) | 0;
        }
        if (k >= len) return id;
      }
    }
    slot = (slot + 1) & mask;
  }
  return -1;
}

/**
 * KeyTable.find for the parser's loop, like memoFind: the id of bytes
 * [start, end) of buf, or -1 when absent (or after a run of sampled-hash
 * collisions, which the table's own lookup then settles). `bufWords` views
 * buf's whole ArrayBuffer as int32 words.
 */
export function tableFind(table: KeyTable, buf: Uint8Array, view: DataView, bufWords: Int32Array, start: number, end: number): number {
  const len = end - start;
  const hash = table.fullHash ? hashBytes(buf, view, start, end) : sampledHash(buf, view, start, end);
  const slots = table.slots;
  const mask = table.mask;
  let slot = hash & mask;
  for (let collisions = 0; collisions <= MAX_SAMPLED_COLLISIONS; slot = (slot + 1) & mask) {
    const entry = slots[slot]!;
    if (entry === EMPTY_SLOT) return -1;
    const id = entry - 1;
    if (table.slotHashes[slot] === hash && table.lengths[id] === len) {
      const abs = buf.byteOffset + start;
      const copy = table.alignedStarts[id * 4 + (abs & 3)]!;
      if (copy >= 0 && alignedFits(bufWords, abs, len) ? equalAligned(table.alignedWords, copy, bufWords, abs, len) : equalBytes(table.arena, table.arenaView, table.starts[id]!, buf, view, start, len)) {
        return id;
      }
      collisions++;
    }
  }
  return -1;
}

/** Bytes a KeyStartIndex hashes at a key's start. */
const START_BYTES = 24;
/** Keys of at least this many bytes go into a KeyStartIndex (shorter ones would hash bytes of the next line). */
export const INDEXED_KEY_BYTES = START_BYTES - 1;
/** Keys sharing their first 24 bytes that a KeyStartIndex holds; one more, and it gives up on that start. */
export const MAX_SHARING_START = 16;
/** A slot that stops lookups of its hash (see MAX_SHARING_START). */
const CROWDED = -1;

/**
 * The keys of a KeyTable found by their first 24 bytes, for a key whose end
 * is not known yet: a log line's tail ('referer" "agent') ends at the quote
 * before the line feed, so finding the tail from its start finds the line's
 * end too, without a scan for the line feed (a native indexOf per line,
 * most of whose cost is the call). Keys sharing their first 24 bytes share a
 * hash and sit in one probe run; the bytes after each one's length (a quote,
 * then LF or CR LF) pick the candidate, and the whole key is compared before
 * it is taken. (24 bytes rather than 16, so that tails sharing
 * '-" "Mozilla/5.0 (' or 'https://example.' are told apart by their hash.)
 * Bounded like KeyCache: when full it starts over, and a miss costs only
 * the scan it would have saved.
 */
export class KeyStartIndex {
  /** Key id + 1, 0 for an empty slot, or CROWDED. */
  /** @internal */ slotIds: Int32Array;
  /** @internal */ slotHashes: Int32Array;
  /** @internal */ slotLengths: Int32Array;
  /** @internal */ mask: number;
  private size = 0;
  /** Lookups that found a key, and that did not, since the owner last reset these. */
  hits = 0;
  misses = 0;

  /** maxEntries: a power of two. */
  constructor(private readonly maxEntries = 4096) {
    const slots = Math.min(maxEntries, 64) * 4;
    this.slotIds = new Int32Array(slots);
    this.slotHashes = new Int32Array(slots);
    this.slotLengths = new Int32Array(slots);
    this.mask = slots - 1;
  }

  /** Adds key `id` of the table, which starts at `start` of the buffer `view` covers (START_BYTES in bounds); keys shorter than INDEXED_KEY_BYTES are left out. */
  add(table: KeyTable, view: DataView, start: number, id: number): void {
    const len = table.lengths[id]!;
    if (len < INDEXED_KEY_BYTES) return;
    const hash = startHash(view, start);
    let slot = hash & this.mask;
    let sharing = 0;
    let firstSharing = -1;
    for (let entry = this.slotIds[slot]!; entry !== 0; entry = this.slotIds[slot]!) {
      if (this.slotHashes[slot] === hash) {
        if (entry === CROWDED || entry === id + 1) return;
        if (firstSharing < 0) firstSharing = slot;
        sharing++;
      }
      slot = (slot + 1) & this.mask;
    }
    if (sharing >= MAX_SHARING_START) {
      // Real logs have hundreds of agents sharing their first 24 bytes
      // ('-" "Mozilla/5.0 (Windows NT 10.0; ...'): walking them all cost 50
      // times the scan. The first of them now stops every lookup of that start.
      this.slotIds[firstSharing] = CROWDED;
      return;
    }
    if (this.size === this.maxEntries) {
      this.slotIds.fill(0);
      this.size = 0;
    } else if (this.size * 4 === this.slotIds.length) {
      this.grow();
    }
    slot = hash & this.mask;
    while (this.slotIds[slot] !== 0) slot = (slot + 1) & this.mask;
    this.slotIds[slot] = id + 1;
    this.slotHashes[slot] = hash;
    this.slotLengths[slot] = len;
    this.size++;
  }

  private grow(): void {
    const { slotIds, slotHashes, slotLengths } = this;
    const cap = slotIds.length * 2;
    this.slotIds = new Int32Array(cap);
    this.slotHashes = new Int32Array(cap);
    this.slotLengths = new Int32Array(cap);
    this.mask = cap - 1;
    for (let s = 0; s < slotIds.length; s++) {
      if (slotIds[s] === 0) continue;
      let slot = slotHashes[s]! & this.mask;
      while (this.slotIds[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slotIds[slot] = slotIds[s]!;
      this.slotHashes[slot] = slotHashes[s]!;
      this.slotLengths[slot] = slotLengths[s]!;
    }
  }
}

function startHash(view: DataView, start: number): number {
  const h = memoHash(view.getInt32(start, true), view.getInt32(start + 4, true), view.getInt32(start + 8, true), view.getInt32(start + 12, true));
  return memoHash(h, view.getInt32(start + 16, true), view.getInt32(start + 20, true), 0);
}

/**
 * The id of the table key that starts at `start` of buf and is followed by
 * a quote and a line end (LF or CR LF) before `limit`; -1 when there is
 * none, -2 when too many keys share that start to be held. The caller
 * finds the line's end from the key's length. `bufWords` views buf's whole
 * ArrayBuffer as int32 words.
 */
export function lineEndKeyFind(
  index: KeyStartIndex, table: KeyTable, buf: Uint8Array, view: DataView, bufWords: Int32Array, start: number, limit: number,
  /** The byte after the key's closing quote: LF (or CR LF), or the first of what a format appends. */
  after = LF,
): number {
  if (start + START_BYTES > limit) return -1;
  const hash = startHash(view, start);
  const ids = index.slotIds;
  const hashes = index.slotHashes;
  const lengths = index.slotLengths;
  const mask = index.mask;
  for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
    const entry = ids[slot]!;
    if (entry === 0) {
      index.misses++;
      return -1;
    }
    if (hashes[slot] !== hash) continue;
    if (entry === CROWDED) {
      index.misses++;
      return -2;
    }
    const len = lengths[slot]!;
    const at = start + len;
    if (at + 1 >= limit || buf[at] !== QUOTE) continue;
    const c = buf[at + 1];
    if (c !== after && (after !== LF || c !== CR || at + 2 >= limit || buf[at + 2] !== LF)) continue;
    const id = entry - 1;
    const abs = buf.byteOffset + start;
    const copy = table.alignedStarts[id * 4 + (abs & 3)]!;
    if (copy < 0 || !alignedFits(bufWords, abs, len)) {
      if (equalBytes(table.arena, table.arenaView, table.starts[id]!, buf, view, start, len)) {
        index.hits++;
        return id;
      }
      continue;
    }
    // equalAligned, written out: the JIT does not inline it here, and the
    // call is dear on every line. A key of 15 bytes or more spans at least
    // four words.
    const words = table.alignedWords;
    let wa = copy >> 2;
    let wb = abs >> 2;
    const last = (abs + len - 1) >> 2;
    const tailBytes = ((abs + len - 1) & 3) + 1;
    const tailMask = tailBytes === 4 ? -1 : (1 << (tailBytes << 3)) - 1;
    let diff = (words[wa]! ^ bufWords[wb]!) & (-1 << ((abs & 3) << 3));
    wa++;
    wb++;
    // `| 0` on the word indexes: a plain `+` is checked for overflow at each step.
    while (diff === 0 && ((wb + 4) | 0) <= last) {
      diff = (words[wa]! ^ bufWords[wb]!) | (words[(wa + 1) | 0]! ^ bufWords[(wb + 1) | 0]!) | (words[(wa + 2) | 0]! ^ bufWords[(wb + 2) | 0]!) | (words[(wa + 3) | 0]! ^ bufWords[(wb + 3) | 0]!);
      wa = (wa + 4) | 0;
      wb = (wb + 4) | 0;
    }
    while (diff === 0 && wb < last) {
      diff = words[wa]! ^ bufWords[wb]!;
      wa = (wa + 1) | 0;
      wb = (wb + 1) | 0;
    }
    if (diff === 0 && ((words[wa]! ^ bufWords[wb]!) & tailMask) === 0) {
      index.hits++;
      return id;
    }
  }
}
