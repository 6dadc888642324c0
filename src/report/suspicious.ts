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

/**
 * A client is suspicious when its error ratio is a high outlier (z >= 3.5)
 * and it sent at least the median client's volume (and at least 10
 * requests). A high volume alone is not suspicious: busy clients exist.
 */
export function findSuspicious(clients: readonly ClientActivity[]): SuspiciousClient[] {
  if (clients.length < 3) return [];
  const ratios = clients.map((c) => (c.requests > 0 ? c.errors / c.requests : 0));
  const volumes = clients.map((c) => c.requests);
  const ratio = robustZ(ratios, MIN_RATIO_MAD);
  const volume = robustZ(volumes, MIN_VOLUME_MAD_SHARE * median(volumes));
  const out: SuspiciousClient[] = [];
  clients.forEach((c, k) => {
    const errorZ = ratio.z[k]!;
    const volumeZ = volume.z[k]!;
    if (errorZ < Z_THRESHOLD || c.requests < Math.max(MIN_REQUESTS, volume.median)) return;
    const reasons = [`error ratio ${pct(ratios[k]!)} against a median of ${pct(ratio.median)} (robust z ${errorZ.toFixed(1)})`];
    if (volumeZ >= Z_THRESHOLD) {
      reasons.push(`${(c.requests / volume.median).toFixed(1)}x the median client's requests (robust z ${volumeZ.toFixed(1)})`);
    }
    out.push({ client: c.client, requests: c.requests, errorRatio: ratios[k]!, errorZ, volumeZ, reasons });
  });
  return out.sort((a, b) => b.errorZ - a.errorZ || b.requests - a.requests || (a.client < b.client ? -1 : 1));
}
