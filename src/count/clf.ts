// The Common and Combined Log Format's fields, read from bytes: what both
// parsers (the plain reference and the fast path) agree a field is. The
// rules are those of test/fixtures/README.md.

import { BACKSLASH, QUOTE, SPACE } from "../core/text.ts";

export { BACKSLASH, CR, LF, QUESTION, QUOTE, SPACE } from "../core/text.ts";

/** Digits a bytes field may have: every sum of such fields up to 2^53 stays exact (a larger one is malformed, with a reason). */
export const MAX_BYTES_DIGITS = 15;
export const BYTES_TOO_LONG_REASON = `bytes field longer than ${MAX_BYTES_DIGITS} digits`;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Month index 0..11 of the three bytes "Jan".."Dec", or -1. */
export function monthIndex(a: number, b: number, c: number): number {
  switch ((a << 16) | (b << 8) | c) {
    case 0x4a616e: return 0; // Jan
    case 0x466562: return 1; // Feb
    case 0x4d6172: return 2; // Mar
    case 0x417072: return 3; // Apr
    case 0x4d6179: return 4; // May
    case 0x4a756e: return 5; // Jun
    case 0x4a756c: return 6; // Jul
    case 0x417567: return 7; // Aug
    case 0x536570: return 8; // Sep
    case 0x4f6374: return 9; // Oct
    case 0x4e6f76: return 10; // Nov
    case 0x446563: return 11; // Dec
    default: return -1;
  }
}

export function isSpaceByte(c: number): boolean {
  return c === SPACE || (c >= 9 && c <= 13);
}

/** End of the run of non-whitespace bytes starting at p: the first whitespace byte, or e. */
export function tokenEnd(buf: Uint8Array, p: number, e: number): number {
  while (p < e) {
    const c = buf[p]!;
    if (c <= SPACE && isSpaceByte(c)) return p;
    p++;
  }
  return e;
}

/**
 * The closing quote of a quoted field starting at p: the first '"' before e
 * not escaped by a backslash, or -1. A quote is escaped when an odd run of
 * backslashes precedes it. Native indexOf beats a byte loop here.
 */
export function closingQuote(buf: Uint8Array, p: number, e: number): number {
  const start = p;
  for (;;) {
    const q = buf.indexOf(QUOTE, p);
    if (q < 0 || q >= e) return -1;
    let b = q - 1;
    while (b >= start && buf[b] === BACKSLASH) b--;
    if (((q - 1 - b) & 1) === 0) return q;
    p = q + 1;
  }
}

/** Two ASCII digits at p as 0..99, or -1. */
export function twoDigits(buf: Uint8Array, p: number): number {
  const a = buf[p]! - 48;
  const b = buf[p + 1]! - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Epoch seconds (UTC) at the start of the day "dd/Mon/yyyy" at buf[p..p+11),
 * shifted by the zone "+zzzz" at buf[p+21..p+26); -1 when not a real date.
 */
export function parseLogDay(buf: Uint8Array, p: number): number {
  const day = twoDigits(buf, p);
  const month = monthIndex(buf[p + 3]!, buf[p + 4]!, buf[p + 5]!);
  const century = twoDigits(buf, p + 7);
  const yy = twoDigits(buf, p + 9);
  const sign = buf[p + 21];
  const zh = twoDigits(buf, p + 22);
  const zm = twoDigits(buf, p + 24);
  if (
    month < 0 || day < 1 || century < 0 || yy < 0 || buf[p + 2] !== 47 || buf[p + 6] !== 47 ||
    (sign !== 43 && sign !== 45) || zh < 0 || zh > 23 || zm < 0 || zm > 59 || day > DAYS_IN_MONTH[month]!
  ) {
    return -1;
  }
  const year = century * 100 + yy;
  if (month === 1 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return -1;
  const offset = (sign === 43 ? 1 : -1) * (zh * 3600 + zm * 60);
  return daysFromCivil(year, month + 1, day) * 86400 - offset;
}

/** Seconds into the day of ":HH:MM:SS " at buf[p..p+10), or -1. */
export function parseLogClock(buf: Uint8Array, p: number): number {
  const hour = twoDigits(buf, p + 1);
  const minute = twoDigits(buf, p + 4);
  const second = twoDigits(buf, p + 7);
  if (
    buf[p] !== 58 || buf[p + 3] !== 58 || buf[p + 6] !== 58 || buf[p + 9] !== SPACE ||
    hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60
  ) {
    return -1;
  }
  return hour * 3600 + minute * 60 + second;
}

/**
 * What the time parsers return for text that is not a time. Not -1: that is
 * a real time (31/Dec/1969:23:59:59 +0000); no time from year 0 to 9999 is
 * this far from 1970.
 */
export const NO_TIME = Number.MIN_SAFE_INTEGER;

/**
 * Epoch seconds (UTC) of "dd/Mon/yyyy:HH:MM:SS +zzzz" at buf[p..p+26), or
 * NO_TIME when the text is not a real date in that exact shape.
 */
export function parseLogTime(buf: Uint8Array, p: number): number {
  const day = parseLogDay(buf, p);
  const clock = parseLogClock(buf, p + 11);
  return day === -1 || clock < 0 ? NO_TIME : day + clock;
}
