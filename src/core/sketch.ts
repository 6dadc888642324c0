// A mergeable sketch of durations with a bounded relative error (the idea of
// DDSketch): a value v > 0 lands in bucket ceil(log(v) / log(GAMMA)), so
// every value of a bucket is within RELATIVE_ERROR of the bucket's
// representative. Buckets add up across tasks and workers, so a merged
// sketch is exactly the sketch of all the values, in any order.

/** Relative error of every quantile the sketch answers. */
export const RELATIVE_ERROR = 0.01;
const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
const LOG_GAMMA = Math.log(GAMMA);

/** A sketch as the partial carries it: buckets as [index, count], zeros apart. */
export interface SketchData {
  count: number;
  /**
   * Sum in whole microseconds, so that it adds up exactly in any order (a
   * sum of doubles would depend on how the work was split), and the largest
   * value in seconds.
   */
  sumMicros: number;
  max: number;
  /** Values of exactly 0 (a cached response nginx timed as 0.000). */
  zeros: number;
  buckets: Array<[number, number]>;
}

/** Buckets a dense sketch holds: indexes -OFFSET..OFFSET-1 span 1e-18 s to 1e17 s, far past any response time. */
const BUCKETS = 4096;
const OFFSET = BUCKETS / 2;
/** The bucket indexes a sketch may hold. */
export const MIN_BUCKET = -OFFSET;
export const MAX_BUCKET = OFFSET - 1;

/**
 * The bucket of a duration of `seconds` > 0, clamped to the dense range.
 * Computed once a line and handed to every sketch the line goes into.
 */
export function bucketOf(seconds: number): number {
  const k = Math.ceil(Math.log(seconds) / LOG_GAMMA);
  return k < -OFFSET ? -OFFSET : k >= OFFSET ? OFFSET - 1 : k;
}

/** One sketch with its buckets in a dense array: for the few that get a value on most lines (all requests, a status class). */
export class DurationSketch {
  count = 0;
  sumMicros = 0;
  max = 0;
  zeros = 0;
  private readonly buckets = new Float64Array(BUCKETS);

  /** Adds a duration in seconds (negative or NaN values are not durations: the caller refuses them). */
  add(seconds: number): void {
    this.addIn(seconds, seconds > 0 ? bucketOf(seconds) : 0);
  }

  /** Adds a duration whose bucket the caller computed (bucketOf; anything for 0). */
  addIn(seconds: number, bucket: number): void {
    this.count++;
    this.sumMicros += Math.round(seconds * 1e6);
    if (seconds > this.max) this.max = seconds;
    if (seconds <= 0) this.zeros++;
    else this.buckets[bucket + OFFSET]!++;
  }

  toData(): SketchData {
    const buckets: Array<[number, number]> = [];
    for (let k = 0; k < BUCKETS; k++) if (this.buckets[k]! > 0) buckets.push([k - OFFSET, this.buckets[k]!]);
    return { count: this.count, sumMicros: this.sumMicros, max: this.max, zeros: this.zeros, buckets };
  }
}

/**
 * A sketch for each of many keys (paths, hosts), by key id: the totals in
 * growable arrays and every key's buckets in one map, so a key costs only
 * the buckets it uses.
 */
export class KeyedSketches {
  private counts = new Float64Array(64);
  private sums = new Float64Array(64);
  private maxes = new Float64Array(64);
  private zeros = new Float64Array(64);
  private readonly buckets = new Map<number, number>();
  /** Key ids with a value, in the order first seen. */
  private readonly keys: number[] = [];

  addIn(key: number, seconds: number, bucket: number): void {
    if (key >= this.counts.length) this.grow(key);
    if (this.counts[key] === 0) this.keys.push(key);
    this.counts[key]!++;
    this.sums[key]! += Math.round(seconds * 1e6);
    if (seconds > this.maxes[key]!) this.maxes[key] = seconds;
    if (seconds <= 0) {
      this.zeros[key]!++;
      return;
    }
    const slot = key * BUCKETS + bucket + OFFSET;
    this.buckets.set(slot, (this.buckets.get(slot) ?? 0) + 1);
  }

  private grow(key: number): void {
    const size = Math.max(key + 1, this.counts.length * 2);
    for (const name of ["counts", "sums", "maxes", "zeros"] as const) {
      const bigger = new Float64Array(size);
      bigger.set(this[name]);
      this[name] = bigger;
    }
  }

  /** Every key's sketch, by key id. */
  toData(): Map<number, SketchData> {
    const out = new Map<number, SketchData>();
    for (const key of this.keys) {
      out.set(key, { count: this.counts[key]!, sumMicros: this.sums[key]!, max: this.maxes[key]!, zeros: this.zeros[key]!, buckets: [] });
    }
    for (const [slot, n] of this.buckets) {
      const key = Math.floor(slot / BUCKETS);
      out.get(key)!.buckets.push([slot - key * BUCKETS - OFFSET, n]);
    }
    for (const s of out.values()) s.buckets.sort((a, b) => a[0] - b[0]);
    return out;
  }
}

export function emptySketch(): SketchData {
  return { count: 0, sumMicros: 0, max: 0, zeros: 0, buckets: [] };
}

/** The sketch of all the values of `sketches`. */
export function mergeSketches(sketches: readonly SketchData[]): SketchData {
  const buckets = new Map<number, number>();
  const out = emptySketch();
  for (const s of sketches) {
    out.count += s.count;
    out.sumMicros += s.sumMicros;
    out.max = Math.max(out.max, s.max);
    out.zeros += s.zeros;
    for (const [k, n] of s.buckets) buckets.set(k, (buckets.get(k) ?? 0) + n);
  }
  out.buckets = [...buckets].sort((a, b) => a[0] - b[0]);
  return out;
}

/**
 * The q-quantile (0..1) of the values: the value of rank floor(q * (count - 1)),
 * within RELATIVE_ERROR of it; null without values.
 */
export function quantile(s: SketchData, q: number): number | null {
  if (s.count === 0) return null;
  const rank = Math.floor(q * (s.count - 1));
  if (rank < s.zeros) return 0;
  let seen = s.zeros;
  for (const [k, n] of s.buckets) {
    seen += n;
    // The bucket's representative: 2 * gamma^k / (gamma + 1) is within the bound of every value in (gamma^(k-1), gamma^k].
    if (seen > rank) return Math.min(s.max, (2 * GAMMA ** k) / (GAMMA + 1));
  }
  return s.max;
}
