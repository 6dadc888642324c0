// Calendar buckets in UTC, shared by the timeline (--bucket) and --by.

/** 1970-01-01 was a Thursday: weeks start 4 days later, on Monday. */
export const WEEK_OFFSET_SECONDS = 4 * 86400;

/** The month of an epoch second, counted from January of year 0 (UTC). */
export function monthIndexOf(epochSeconds: number): number {
  const d = new Date(epochSeconds * 1000);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** Epoch seconds of the first second of a month index. */
export function monthStart(month: number): number {
  const d = new Date(0);
  // setUTCFullYear: Date.UTC maps the years 0..99 to 1900..1999.
  d.setUTCFullYear(Math.floor(month / 12), ((month % 12) + 12) % 12, 1);
  return d.getTime() / 1000;
}

/** An epoch second as ISO 8601 in UTC, without milliseconds. */
export function isoTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(".000Z", "Z");
}
