// Which clients look suspicious: robust z-scores (median and MAD, so the
// outliers themselves do not drag the yardstick) of each client's error ratio
// and request volume against the whole client population.

import { median } from "../core/stats.ts";

/** Robust z-score above which a value is an outlier (Iglewicz and Hoaglin). */
export const Z_THRESHOLD = 3.5;
/** Smallest spread assumed for error ratios: 2 percentage points. */
export const MIN_RATIO_MAD = 0.02;
/** Smallest spread assumed for volumes: 5% of the median volume. */
export const MIN_VOLUME_MAD_SHARE = 0.05;
/** Fewer requests than this never make a client suspicious. */
export const MIN_REQUESTS = 10;

export interface ClientActivity {
  client: string;
  requests: number;
  /** 4xx + 5xx responses. */
  errors: number;
}

export interface SuspiciousClient {
  client: string;
  requests: number;
  errorRatio: number;
  errorZ: number;
  volumeZ: number;
  reasons: string[];
}

/** Robust z-scores: 0.6745 (x - median) / max(MAD, minMad). */
export function robustZ(values: readonly number[], minMad: number): { median: number; mad: number; z: number[] } {
  const m = median(values);
  const mad = Math.max(median(values.map((v) => Math.abs(v - m))), minMad);
  return { median: m, mad, z: values.map((v) => (mad > 0 ? (0.6745 * (v - m)) / mad : 0)) };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** The yardsticks of the whole client population: the median and MAD of error ratios and of volumes. */
export interface SuspicionRule {
  ratio: { median: number; mad: number };
  volume: { median: number; mad: number };
}

/** [requests, 4xx + 5xx, clients with exactly these]: the population, however many clients share a pair. */
export type ClientPair = readonly [number, number, number];

const ratioOf = (requests: number, errors: number) => (requests > 0 ? errors / requests : 0);

/** The median of values given with multiplicities, computed as median() does on the expanded list. */
function medianOfCounts(values: ReadonlyArray<readonly [number, number]>): number {
  const sorted = [...values].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return 0;
  const mid = total >> 1;
  const at = (k: number): number => {
    let seen = 0;
    for (const [v, n] of sorted) {
      seen += n;
      if (k < seen) return v;
    }
    return sorted[sorted.length - 1]![0];
  };
  return total % 2 === 1 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
}

function robustOfCounts(values: ReadonlyArray<readonly [number, number]>, minMad: (median: number) => number): { median: number; mad: number } {
  const median = medianOfCounts(values);
  const deviations = new Map<number, number>();
  for (const [v, n] of values) {
    const d = Math.abs(v - median);
    deviations.set(d, (deviations.get(d) ?? 0) + n);
  }
  return { median, mad: Math.max(medianOfCounts([...deviations]), minMad(median)) };
}

/** The rule from the (requests, errors) pairs of every client; null for fewer than 3 clients (nothing is suspicious). */
export function suspicionRule(pairs: readonly ClientPair[]): SuspicionRule | null {
  if (pairs.reduce((a, p) => a + p[2], 0) < 3) return null;
  const ratios = new Map<number, number>();
  const volumes = new Map<number, number>();
  for (const [requests, errors, n] of pairs) {
    const r = ratioOf(requests, errors);
    ratios.set(r, (ratios.get(r) ?? 0) + n);
    volumes.set(requests, (volumes.get(requests) ?? 0) + n);
  }
  return {
    ratio: robustOfCounts([...ratios], () => MIN_RATIO_MAD),
    volume: robustOfCounts([...volumes], (m) => MIN_VOLUME_MAD_SHARE * m),
  };
}

const zOf = (v: number, { median, mad }: { median: number; mad: number }) => (mad > 0 ? (0.6745 * (v - median)) / mad : 0);

/** The client judged by the rule: suspicious (with its reasons) or null. */
export function judgeClient(rule: SuspicionRule, c: ClientActivity): SuspiciousClient | null {
  const errorRatio = ratioOf(c.requests, c.errors);
  const errorZ = zOf(errorRatio, rule.ratio);
  if (errorZ < Z_THRESHOLD || c.requests < Math.max(MIN_REQUESTS, rule.volume.median)) return null;
  const volumeZ = zOf(c.requests, rule.volume);
  const reasons = [`error ratio ${pct(errorRatio)} against a median of ${pct(rule.ratio.median)} (robust z ${errorZ.toFixed(1)})`];
  if (volumeZ >= Z_THRESHOLD) reasons.push(`${(c.requests / rule.volume.median).toFixed(1)}x the median client's requests (robust z ${volumeZ.toFixed(1)})`);
  return { client: c.client, requests: c.requests, errorRatio, errorZ, volumeZ, reasons };
}

/** The report's order: most anomalous first. */
export function suspiciousOrder(a: SuspiciousClient, b: SuspiciousClient): number {
  return b.errorZ - a.errorZ || b.requests - a.requests || (a.client < b.client ? -1 : 1);
}

/** The clients' (requests, errors) pairs with their multiplicities. */
export function pairsOf(clients: readonly ClientActivity[]): ClientPair[] {
  const byPair = new Map<string, [number, number, number]>();
  for (const c of clients) {
    const key = `${c.requests} ${c.errors}`;
    const seen = byPair.get(key);
    if (seen) seen[2]++;
    else byPair.set(key, [c.requests, c.errors, 1]);
  }
  return [...byPair.values()];
}

/**
 * A client is suspicious when its error ratio is a high outlier (z >= 3.5)
 * and it sent at least the median client's volume (and at least 10
 * requests). A high volume alone is not suspicious: busy clients exist.
 */
export function findSuspicious(clients: readonly ClientActivity[]): SuspiciousClient[] {
  const rule = suspicionRule(pairsOf(clients));
  if (!rule) return [];
  const out: SuspiciousClient[] = [];
  for (const c of clients) {
    const s = judgeClient(rule, c);
    if (s) out.push(s);
  }
  return out.sort(suspiciousOrder);
}
