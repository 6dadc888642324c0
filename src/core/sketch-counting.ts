// Counting durations into sketches (the map side): the bucket of a value,
// tables for whole milliseconds, and many keys' sketches at once. Apart from
// sketch.ts so that the parent, which only merges and reads sketches, never
// builds the tables.

import { BUCKETS, emptySketch, LOG_GAMMA, OFFSET, type SketchData } from "./sketch.ts";

/**
 * Exact bucketOf for durations of whole milliseconds below a minute (what
 * nginx and Caddy mostly write). The bucket grows with the value, so each
 * bucket is one run of the table, found by probing near its estimated end:
 * a few thousand logarithms at start-up instead of 60,000.
 */
const MS_BUCKETS = (() => {
  const table = new Int16Array(60_000); // MS_LIMIT
  for (let ms = 1; ms < table.length; ) {
    const k = slowBucketOf(ms / 1000);
    let end = Math.max(ms + 1, Math.min(table.length, Math.floor(Math.exp(k * LOG_GAMMA) * 1000)));
    while (end > ms + 1 && slowBucketOf((end - 1) / 1000) !== k) end--;
    while (end < table.length && slowBucketOf(end / 1000) === k) end++;
    table.fill(k, ms, end);
    ms = end;
  }
  return table;
})();

/** The seconds of n whole milliseconds, n / 1000 as the division gives it, for readers that have n (a table read is cheaper than a division). */
export const SECONDS_OF_MS = (() => {
  const table = new Float64Array(MS_BUCKETS.length);
  for (let ms = 0; ms < table.length; ms++) table[ms] = ms / 1000;
  return table;
})();

/** Whole milliseconds below this have their seconds in SECONDS_OF_MS and their bucket in bucketOfMs. */
export const MS_LIMIT = 60_000;

/** bucketOf(ms / 1000) for 0 < ms < MS_LIMIT. */
export function bucketOfMs(ms: number): number {
  return MS_BUCKETS[ms]!;
}

/** The bucket of `seconds` > 0 by its logarithm (what the tables hold, computed each time). */
export function slowBucketOf(seconds: number): number {
  const k = Math.ceil(Math.log(seconds) / LOG_GAMMA);
  return k < -OFFSET ? -OFFSET : k >= OFFSET ? OFFSET - 1 : k;
}

/**
 * The bucket of a duration of `seconds` > 0, clamped to the dense range.
 * Computed once a line and handed to every sketch the line goes into.
 */
export function bucketOf(seconds: number): number {
  // A table lookup when the value is the double of a whole number of milliseconds (a logarithm costs more).
  const ms = Math.round(seconds * 1000);
  return ms > 0 && ms < 60_000 && ms / 1000 === seconds ? MS_BUCKETS[ms]! : slowBucketOf(seconds);
}

/** Keys whose buckets move to a dense row once they have this many values, and how many rows at most. */
const DENSE_AFTER = 64;
const MAX_DENSE_ROWS = 512;
/** A dense row's buckets: -1024..1023 span about 1 ns to 24 years (8 KiB a row); others stay in the map. A task counts far fewer than 2^31 lines. */
const ROW_WIDTH = 2048;
const ROW_OFFSET = ROW_WIDTH / 2;
/** The columns of a dense row that whole milliseconds below MS_LIMIT land in. */
const MS_FIRST_COLUMN = MS_BUCKETS[1]! + ROW_OFFSET;
const MS_LAST_COLUMN = MS_BUCKETS[MS_BUCKETS.length - 1]! + ROW_OFFSET;
/** Numbers kept a key: count, microseconds, max, zeros. */
const STATS = 4;

/**
 * A sketch for each of many keys (request and status class, host), by key
 * id: the totals in growable arrays, a busy key's buckets in a dense row,
 * the others' in one map, so a rare key costs only the buckets it uses.
 */
export class KeyedSketches {
  /** A key's count, microseconds, max and zeros side by side: one cache line a key, not four. */
  private stats = new Float64Array(64 * STATS);
  /** A key's dense row, or -1 while its buckets are in `sparse`. */
  private rowOf = new Int32Array(64).fill(-1);
  /** The largest whole milliseconds addMsMany gave a key (its max in seconds is the larger of this and the stats'). */
  private maxMs = new Int32Array(64);
  private rows = new Int32Array(0);
  private rowCount = 0;
  /** key * BUCKETS + bucket + OFFSET -> values. */
  private readonly sparse = new Map<number, number>();
  /** Key ids with a value, in the order first seen. */
  // In a typed array: a new tally's empty array changes its kind at its first
  // push, and the optimised loop of the last task's tally left for that.
  private keyList = new Int32Array(64);
  private keyCount = 0;
  /** The columns rows hold values in lie within these (an empty span while last < first). */
  private firstColumn = ROW_WIDTH;
  private lastColumn = -1;

  /** Adds a duration, its whole microseconds and its bucket (bucketOf; anything for 0), computed once by the caller. */
  addIn(key: number, seconds: number, micros: number, bucket: number): void {
    if (key >= this.rowOf.length) this.grow(key);
    const stats = this.stats;
    const at = key * STATS;
    const n = stats[at]!;
    if (n === 0) this.listKey(key);
    stats[at] = n + 1;
    stats[at + 1]! += micros;
    if (seconds > stats[at + 2]!) stats[at + 2] = seconds;
    if (seconds <= 0) {
      stats[at + 3]!++;
      return;
    }
    let row = this.rowOf[key]!;
    if (row < 0 && n >= DENSE_AFTER && this.rowCount < MAX_DENSE_ROWS) row = this.makeRow(key);
    const column = bucket + ROW_OFFSET;
    if (row >= 0 && column >= 0 && column < ROW_WIDTH) {
      this.rows[row * ROW_WIDTH + column]!++;
      this.spanColumns(column, column);
      return;
    }
    const slot = key * BUCKETS + bucket + OFFSET;
    this.sparse.set(slot, (this.sparse.get(slot) ?? 0) + 1);
  }

  /** addIn of n durations of whole milliseconds (0 <= ms < MS_LIMIT), keys[i] and ms[i]. */
  addMsMany(keys: Int32Array, ms: Int32Array, n: number): void {
    // A key gets its dense row at its first value here (not after DENSE_AFTER):
    // the usual timed log has few (path, class) pairs, so the general addIn
    // stays cold.
    for (let i = 0; i < n; i++) {
      const key = keys[i]!;
      const v = ms[i]!;
      let row = key < this.rowOf.length ? this.rowOf[key]! : -1;
      if (row < 0) {
        this.reserveRow(key);
        row = this.rowOf[key]!;
        if (row < 0) {
          this.addIn(key, SECONDS_OF_MS[v]!, v * 1000, v > 0 ? MS_BUCKETS[v]! : 0);
          continue;
        }
      }
      const stats = this.stats;
      const at = key * STATS;
      const count = stats[at]!;
      if (count === 0) this.listKey(key);
      stats[at] = count + 1;
      if (v === 0) {
        stats[at + 3]!++;
        continue;
      }
      stats[at + 1]! += v * 1000;
      if (v > this.maxMs[key]!) this.maxMs[key] = v;
      this.rows[row * ROW_WIDTH + MS_BUCKETS[v]! + ROW_OFFSET]!++;
    }
    if (n > 0) this.spanColumns(MS_FIRST_COLUMN, MS_LAST_COLUMN);
  }

  private listKey(key: number): void {
    if (this.keyCount === this.keyList.length) {
      const bigger = new Int32Array(this.keyList.length * 2);
      bigger.set(this.keyList);
      this.keyList = bigger;
    }
    this.keyList[this.keyCount++] = key;
  }

  /** Widens the columns any row may hold a value in (what toData and sums scan). */
  private spanColumns(first: number, last: number): void {
    if (first < this.firstColumn) this.firstColumn = first;
    if (last > this.lastColumn) this.lastColumn = last;
  }

  /**
   * Gives a key its dense row now, while rows last: what addMsMany does at a
   * key's first value, done by a caller that makes its keys one by one, so
   * that addMsMany's loop never meets a key without one.
   */
  reserveRow(key: number): void {
    if (key >= this.rowOf.length) this.grow(key);
    if (this.rowOf[key]! < 0 && this.rowCount < MAX_DENSE_ROWS) this.makeRow(key);
  }

  /** How many keys have a dense row. */
  get denseKeys(): number {
    return this.rowCount;
  }

  /** Moves the buckets a row holds of a key from the map to a new dense row. */
  private makeRow(key: number): number {
    const row = this.rowCount++;
    if (this.rows.length < this.rowCount * ROW_WIDTH) {
      const bigger = new Int32Array(Math.min(MAX_DENSE_ROWS, this.rowCount * 2) * ROW_WIDTH);
      bigger.set(this.rows);
      this.rows = bigger;
    }
    // A key with no values yet has none in the map.
    for (let at = this.stats[key * STATS]! > 0 ? 0 : ROW_WIDTH; at < ROW_WIDTH; at++) {
      const slot = key * BUCKETS + at - ROW_OFFSET + OFFSET;
      const n = this.sparse.get(slot);
      if (n === undefined) continue;
      this.rows[row * ROW_WIDTH + at] = n;
      this.spanColumns(at, at);
      this.sparse.delete(slot);
    }
    this.rowOf[key] = row;
    return row;
  }

  private grow(key: number): void {
    const size = Math.max(key + 1, this.rowOf.length * 2);
    const stats = new Float64Array(size * STATS);
    stats.set(this.stats);
    this.stats = stats;
    const rowOf = new Int32Array(size).fill(-1);
    rowOf.set(this.rowOf);
    this.rowOf = rowOf;
    const maxMs = new Int32Array(size);
    maxMs.set(this.maxMs);
    this.maxMs = maxMs;
  }

  /** A key's largest value in seconds. */
  private maxOf(key: number): number {
    return Math.max(this.stats[key * STATS + 2]!, SECONDS_OF_MS[this.maxMs[key]!]!);
  }

  /** Key ids with a value, in the order first seen. */
  keyIds(): number[] {
    return Array.from(this.keyList.subarray(0, this.keyCount));
  }

  /**
   * The sketch of each group's keys together, as mergeSketches of their
   * toData would give it: groupOf(key) is the key's group (0..groups-1), or
   * -1 for none. Adds the dense rows column by column, not bucket lists
   * through a map (what a task's end cost most of).
   */
  sums(groupOf: (key: number) => number, groups: number): SketchData[] {
    const members: number[][] = Array.from({ length: groups }, () => []);
    for (const key of this.keyIds()) {
      const group = groupOf(key);
      if (group >= 0) members[group]!.push(key);
    }
    const sparseOf = new Map<number, Array<[number, number]>>();
    for (const [slot, n] of this.sparse) {
      const key = Math.floor(slot / BUCKETS);
      const list = sparseOf.get(key) ?? sparseOf.set(key, []).get(key)!;
      list.push([slot - key * BUCKETS - OFFSET, n]);
    }
    const sum = new Float64Array(ROW_WIDTH);
    const first = this.firstColumn;
    const last = this.lastColumn;
    const stats = this.stats;
    const out: SketchData[] = [];
    for (const keys of members) {
      const merged = emptySketch();
      let rows = 0;
      let extra: Map<number, number> | null = null;
      for (const key of keys) {
        const at = key * STATS;
        merged.count += stats[at]!;
        merged.sumMicros += stats[at + 1]!;
        merged.max = Math.max(merged.max, this.maxOf(key));
        merged.zeros += stats[at + 3]!;
        const row = this.rowOf[key]!;
        if (row >= 0) {
          rows++;
          addColumns(sum, this.rows, row * ROW_WIDTH, first, last);
        }
        for (const [bucket, n] of sparseOf.get(key) ?? []) {
          extra ??= new Map();
          extra.set(bucket, (extra.get(bucket) ?? 0) + n);
        }
      }
      if (rows > 0) takeColumns(sum, first, last, merged.buckets);
      if (extra !== null) {
        for (const [bucket, n] of merged.buckets) extra.set(bucket, (extra.get(bucket) ?? 0) + n);
        merged.buckets = [...extra].sort((a, b) => a[0] - b[0]);
      }
      out.push(merged);
    }
    return out;
  }

  /** Every key's sketch, by key id. */
  toData(): Map<number, SketchData> {
    const out = new Map<number, SketchData>();
    for (const key of this.keyIds()) {
      const row = this.rowOf[key]!;
      const buckets: Array<[number, number]> = [];
      if (row >= 0) rowBuckets(this.rows, row * ROW_WIDTH, this.firstColumn, this.lastColumn, buckets);
      const at = key * STATS;
      const stats = this.stats;
      out.set(key, { count: stats[at]!, sumMicros: stats[at + 1]!, max: this.maxOf(key), zeros: stats[at + 3]!, buckets });
    }
    for (const [slot, n] of this.sparse) {
      const key = Math.floor(slot / BUCKETS);
      out.get(key)!.buckets.push([slot - key * BUCKETS - OFFSET, n]);
    }
    for (const s of out.values()) s.buckets.sort((a, b) => a[0] - b[0]);
    return out;
  }
}

// The loops over a row's columns, each a function of its own: they run hot
// at every task's end, and a small function is compiled in a fraction of
// the time the whole of sums or toData takes.

/** sum[c] += values[base + c] for first <= c <= last. */
function addColumns(sum: Float64Array, values: Int32Array, base: number, first: number, last: number): void {
  for (let c = first; c <= last; c++) sum[c]! += values[base + c]!;
}

/** The buckets of sum[first..last] that hold values, in order, onto `out`; sum left all zeros. */
function takeColumns(sum: Float64Array, first: number, last: number, out: Array<[number, number]>): void {
  for (let c = first; c <= last; c++) {
    const n = sum[c]!;
    if (n > 0) {
      out.push([c - ROW_OFFSET, n]);
      sum[c] = 0;
    }
  }
}

/** The buckets of values[base + first..base + last] that hold values, in order, onto `out`. */
function rowBuckets(values: Int32Array, base: number, first: number, last: number, out: Array<[number, number]>): void {
  for (let c = first; c <= last; c++) {
    const n = values[base + c]!;
    if (n > 0) out.push([c - ROW_OFFSET, n]);
  }
}
