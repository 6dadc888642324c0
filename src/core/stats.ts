// Summary statistics shared by the report, the suspicious-client rule and bench.

export interface Stats {
  runs: number;
  median: number;
  mean: number;
  /** Sample standard deviation (n - 1). */
  stddev: number;
  min: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median, mean, sample standard deviation, min and max; all 0 for no values. */
export function stats(values: readonly number[]): Stats {
  const n = values.length;
  if (n === 0) return { runs: 0, median: 0, mean: 0, stddev: 0, min: 0, max: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { runs: n, median: median(values), mean, stddev: Math.sqrt(variance), min: Math.min(...values), max: Math.max(...values) };
}
