// A mergeable sketch of durations with a bounded relative error (the idea of
// DDSketch): a value v > 0 lands in bucket ceil(log(v) / log(GAMMA)), so
// every value of a bucket is within RELATIVE_ERROR of the bucket's
// representative. Buckets add up across tasks and workers, so a merged
// sketch is exactly the sketch of all the values, in any order.

/** Times a path needs to be ranked among the slowest: a p95 of fewer is one or two requests' luck. */
export const SLOW_PATH_MIN_REQUESTS = 20;

/** Relative error of every quantile the sketch answers. */
export const RELATIVE_ERROR = 0.01;
const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
export const LOG_GAMMA = Math.log(GAMMA);

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
export const BUCKETS = 4096;
export const OFFSET = BUCKETS / 2;
/** The bucket indexes a sketch may hold. */
export const MIN_BUCKET = -OFFSET;
export const MAX_BUCKET = OFFSET - 1;

export function emptySketch(): SketchData {
  return { count: 0, sumMicros: 0, max: 0, zeros: 0, buckets: [] };
}

/** The sketch of all the values of `sketches`. */
export function mergeSketches(sketches: readonly SketchData[]): SketchData {
  const out = emptySketch();
  // Buckets added in an array over the indexes they span, not a map (a merge a sketch of every path and class, in every reduce).
  let first = MAX_BUCKET + 1;
  let last = MIN_BUCKET - 1;
  for (const s of sketches) {
    out.count += s.count;
    out.sumMicros += s.sumMicros;
    out.max = Math.max(out.max, s.max);
    out.zeros += s.zeros;
    const b = s.buckets;
    for (let i = 0; i < b.length; i++) {
      const k = b[i]![0];
      if (k < first) first = k;
      if (k > last) last = k;
    }
  }
  if (last < first) return out;
  const sums = new Float64Array(last - first + 1);
  for (const s of sketches) for (const [k, n] of s.buckets) sums[k - first]! += n;
  for (let i = 0; i < sums.length; i++) if (sums[i]! > 0) out.buckets.push([i + first, sums[i]!]);
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
