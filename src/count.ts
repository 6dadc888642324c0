// The one hot path: split byte chunks into lines, validate each line as a
// Common or Combined Log Format entry (the rules of test/fixtures/README.md),
// and count it. Works on bytes only: no per-line string, no regex.

import { KeyCache, KeyStartIndex, KeyTable, lineEndKeyFind, memoFind, tableFind, viewOf } from "./keys.ts";
import { MAX_SAMPLES, PARTIAL_VERSION, type CountsPartial, type MalformedSample } from "./partial.ts";

/** Client counter columns. */
export const CLIENT_REQUESTS = 0;
export const CLIENT_4XX = 1;
export const CLIENT_5XX = 2;
export const CLIENT_404 = 3;
export const CLIENT_BYTES = 4;
const CLIENT_COLUMNS = 5;

const SAMPLE_BYTES = 240;

const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const BACKSLASH = 92;
const QUESTION = 63;
/** "HTTP/1.1", "HTTP/1.0", "HTTP/2.0" as little-endian float64 words (text: never a zero or a NaN, so equal numbers mean equal bytes). */
const PROTOCOL_WORDS = new Float64Array(new TextEncoder().encode("HTTP/1.1HTTP/1.0HTTP/2.0").buffer);
const HTTP_11 = PROTOCOL_WORDS[0]!;
const HTTP_10 = PROTOCOL_WORDS[1]!;
const HTTP_20 = PROTOCOL_WORDS[2]!;
const isProtocol = (x: number) => x === HTTP_11 || x === HTTP_10 || x === HTTP_20;

/** Time window: a line counts when since <= t < until (epoch seconds, UTC). */
export interface TimeWindow {
  since?: number;
  until?: number;
}

/** The time of epoch second 0 as parseTime reads it, padded to the 28 bytes it compares. */
const EPOCH_TIME_TEXT = new TextEncoder().encode('01/Jan/1970:00:00:00 +0000] "').slice(0, 28);

/** What parseSlow found a line to be. */
type Verdict = 0 | 1 | 2 | 3;
const MALFORMED = 0;
const VALID = 1;
const OUT_OF_WINDOW = 2;
/** Malformed because the bytes field has more digits than a double holds exactly. */
const BYTES_TOO_LONG = 3;
/** Digits a bytes field may have: every sum of such fields up to 2^53 stays exact (a larger one is malformed, with a reason). */
export const MAX_BYTES_DIGITS = 15;
const BYTES_TOO_LONG_REASON = `bytes field longer than ${MAX_BYTES_DIGITS} digits`;

/** Slots of LogCounter.parsed: a line's fields, handed over without an allocation. */
const PARSED_STATUS = 0;
const PARSED_BYTES = 1;
const PARSED_TIME = 2;
const PARSED_CLIENT = 3;
const PARSED_REQUEST = 4;
const PARSED_TAIL = 5;

/**
 * The status of ' ddd' read as one little-endian int32 word, or -1. A digit
 * byte has the high nibble 3 and a low nibble that stays below 16 when 6 is
 * added (no carry leaves its byte). A byte at a time cost about 70
 * instructions a line more.
 */
function statusOfWord(w: number): number {
  if ((w & 0xff) !== SPACE || (w & 0xf0f0f000) !== 0x30303000 || (((w & 0x0f0f0f00) + 0x06060600) & 0x10101000) !== 0) return -1;
  return ((w >>> 8) & 0xf) * 100 + ((w >>> 16) & 0xf) * 10 + ((w >>> 24) & 0xf);
}

/**
 * ' ddd ' and the bytes served (digits or '-') after the request's closing
 * quote at q: the position after them, or -1. Status and bytes go to
 * parsed[PARSED_STATUS] and parsed[PARSED_BYTES].
 */
function readStatusAndBytes(buf: Uint8Array, view: DataView, q: number, e: number, parsed: Float64Array): number {
  const p = q + 6;
  if (p + 1 > e || buf[q + 5] !== SPACE) return -1;
  const status = statusOfWord(view.getInt32(q + 1, true));
  if (status < 0) return -1;
  let r = p;
  let bytes = 0;
  if (buf[r] === 45) {
    r++;
  } else {
    while (r < e) {
      const digit = buf[r]! - 48;
      if (digit < 0 || digit > 9) break;
      bytes = bytes * 10 + digit;
      r++;
    }
    if (r === p) return -1;
    if (r - p > MAX_BYTES_DIGITS) return -2;
  }
  parsed[PARSED_STATUS] = status;
  parsed[PARSED_BYTES] = bytes;
  return r;
}

/** Slots of LogCounter.wideNumbers. */
const COUNTED_SECOND = 0; // the second of the last line counted (its minute is CURRENT_MINUTE)
const FIRST_TIME = 1;
const LAST_TIME = 2;
const CURRENT_MINUTE = 3;
const BYTES_SERVED = 4;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Month index 0..11 of the three bytes "Jan".."Dec", or -1. */
function monthIndex(a: number, b: number, c: number): number {
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

function isSpaceByte(c: number): boolean {
  return c === SPACE || (c >= 9 && c <= 13);
}

/** End of the run of non-whitespace bytes starting at p: the first whitespace byte, or e. */
function tokenEnd(buf: Uint8Array, p: number, e: number): number {
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
function closingQuote(buf: Uint8Array, p: number, e: number): number {
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
function twoDigits(buf: Uint8Array, p: number): number {
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
function parseLogDay(buf: Uint8Array, p: number): number {
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
function parseLogClock(buf: Uint8Array, p: number): number {
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

/** "minimal": clients, statuses, bytes and minutes only (what the C yardstick counts), for speed comparisons. */
export type Counters = "full" | "minimal";

/** Where a block of bytes comes from, for malformed-line samples. */
export interface BlockOrigin {
  /** Absolute byte offset of buf[0] in its source. */
  offset: number;
}

/**
 * Counts lines into per-key tables. One instance per task; toPartial() turns
 * it into the JSON-ready partial the parent merges.
 */
export class LogCounter {
  linesRead = 0;
  malformed = 0;
  combined = 0;
  common = 0;
  outOfWindow = 0;
  requests = 0;
  // Numbers that are NaN, infinite or beyond int32 live in a Float64Array: a
  // field that starts as one type and turns into another makes every new
  // counter (one per task) leave the optimised code and recompile it.
  private readonly wideNumbers = new Float64Array([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0]);
  readonly status = new Float64Array(1000);
  readonly clients = new KeyTable(CLIENT_COLUMNS);
  // Fewer lookups per line: one key for "METHOD PATH" (the request up to the
  // end of the path, with a 404 column), one for the tail 'referer" "agent'.
  // Methods, paths, referrers and agents are split out of them in toCounts().
  readonly requestKeys = new KeyTable(2);
  readonly tails = new KeyTable(1);
  /** The tails by their first bytes: the fast path finds a line's end from its tail. */
  private readonly tailStarts = new KeyStartIndex(4096);
  // Whether the fast path looks tails up by their start, decided block by
  // block: on a log whose agents mostly share their first 24 bytes the
  // lookups miss, and each miss costs a call on top of the scan.
  private tailStartsOn = true;
  private blocksWithoutTailStarts = 0;
  readonly minutes = new Map<number, number>();
  // Fast-path memos (see countBlock): "host ident user [" -> client id,
  // and "METHOD PATH" (followed by ' ' or '?') -> request key id.
  private readonly prefixMemo = new KeyCache(4096, 48);
  private readonly requestMemo = new KeyCache(4096, 96);
  readonly malformedSamples: MalformedSample[] = [];
  private viewed: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  /** The viewed buffer's whole ArrayBuffer as int32 words (for aligned key comparison). */
  private bufWords: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private readonly parsed = new Float64Array(6);
  private currentMinuteCount = 0;
  private readonly since: number;
  private readonly until: number;

  /** False: count only clients, statuses, bytes and minutes (still validating every line), to measure what the rest costs. */
  private readonly full: boolean;

  constructor(window: TimeWindow = {}, counters: Counters = "full") {
    this.full = counters === "full";
    this.since = window.since ?? Number.NEGATIVE_INFINITY;
    this.until = window.until ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Counts the lines of buf[start, end) that start before `startLimit`.
   * Returns the index of the first byte not consumed: the start of an
   * unterminated last line (unless `final`, when it is counted too) or of
   * the first line at or past `startLimit`.
   */
  countBlock(buf: Uint8Array, start: number, end: number, final: boolean, origin: number, startLimit = end): number {
    if (buf !== this.viewed) {
      this.viewed = buf;
      this.view = viewOf(buf);
      this.bufWords = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
    }
    // One loop holds the whole fast path, with what it reads in locals: a
    // method call per step (frame, checks on `this` and its arrays) cost
    // about 40 instructions more than a plain function's (valgrind: 4,066 ->
    // 3,819 a generated line). Tables are read through their objects, as the
    // slow path may replace their arrays when they grow.
    const view = this.view;
    const bufWords = this.bufWords;
    const prefixMemo = this.prefixMemo;
    const requestMemo = this.requestMemo;
    const tails = this.tails;
    const tailStarts = this.tailStarts;
    const useTailStarts = this.judgeTailStarts();
    const lastWords = this.lastTimeWords;
    const lastDoubles = this.lastTimeDoubles;
    const since = this.since;
    const until = this.until;
    const parsed = this.parsed;
    const wide = this.wideNumbers;
    const statusCounts = this.status;
    const full = this.full;
    // Counter arrays, replaced when a table grows (only the slow path adds keys).
    let clientValues = this.clients.values;
    let requestValues = this.requestKeys.values;
    let tailValues = this.tails.values;
    let p = start;
    while (p < end && p < startLimit) {
      const s = p;
      // Set by the fast path, which finds the line's end from its last field;
      // the scan for the line feed is left to the lines it does not take.
      let lineEnd = -1;
      let e = 0;
      let fastPath = false;
      let time = 0;
      let status = 0;
      let bytes = 0;
      let client = 0;
      let request = 0;
      let tail = -1;
      // The fast path handles the usual shape without scanning for token
      // ends: a line starting with a memoised "host ident user [" parses as
      // the line that created the memo did, and so does a request starting
      // with a memoised "METHOD PATH" followed by ' ' or '?'; a known tail was
      // validated when first seen. Anything else, and any line out of the
      // time window, breaks out to parseSlow, which checks every rule and
      // fills the memos. Nothing is counted before the whole line is known
      // to be valid, so a fast path that gives up leaves no trace. Its bounds
      // are the block's: what it matches holds no line feed (memo keys and
      // known tails come from valid lines), so the line goes on at least as far.
      fast: {
        if (s + 16 > end) break fast;
        const pre = memoFind(prefixMemo, view, s, end);
        if (pre < 0) break fast;
        const t = s + prefixMemo.lengths[pre]!;
        if (t + 29 > end) break fast;
        // Most lines share their second with the line before: bytes 0..27
        // of the time against the last time parsed, as three float64 words
        // and an int32 (four fewer reads than seven int32s: about 1% of a
        // line's instructions). The remembered words are the text of a valid
        // time, never a zero or a NaN, so equal numbers mean equal bytes.
        if (
          view.getFloat64(t, true) === lastDoubles[0] && view.getFloat64(t + 8, true) === lastDoubles[1] &&
          view.getFloat64(t + 16, true) === lastDoubles[2] && view.getInt32(t + 24, true) === lastWords[6] && buf[t + 28] === QUOTE
        ) {
          time = this.lastTimeValue;
        } else {
          time = this.parseTime(buf, t);
          if (time === NO_TIME) break fast;
        }
        if (time < since || time >= until) break fast;
        const requestStart = t + 29;
        if (requestStart + 16 > end) break fast;
        const req = memoFind(requestMemo, view, requestStart, end);
        if (req < 0) break fast;
        let q = requestStart + requestMemo.lengths[req]!;
        const after = buf[q];
        if (after === SPACE && q + 10 <= end && isProtocol(view.getFloat64(q + 1, true)) && buf[q + 9] === QUOTE) {
          q += 9;
        } else {
          if (after !== SPACE && after !== QUESTION) break fast;
          // The rest of the request (query, protocol): no escapes expected.
          for (q++; q < end; q++) {
            const c = buf[q]!;
            if (c === QUOTE) break;
            if (c === BACKSLASH || c === LF) break fast;
          }
        }
        // What readStatusAndBytes reads, written out here so that status and
        // bytes stay in locals instead of passing through `parsed`: 1.7% fewer
        // instructions for a whole worker on the file (valgrind).
        if (q + 7 > end || buf[q + 5] !== SPACE) break fast;
        status = statusOfWord(view.getInt32(q + 1, true));
        if (status < 0) break fast;
        q += 6;
        if (buf[q] === 45) {
          q++;
        } else {
          const digitsStart = q;
          while (q < end) {
            const digit = buf[q]! - 48;
            if (digit < 0 || digit > 9) break;
            bytes = bytes * 10 + digit;
            q++;
          }
          if (q === digitsStart || q - digitsStart > MAX_BYTES_DIGITS) break fast;
        }
        if (q >= end) break fast;
        const next = buf[q];
        if (next === LF || (next === CR && q + 1 < end && buf[q + 1] === LF)) {
          e = q;
          lineEnd = next === LF ? q : q + 1;
          this.common++;
        } else {
          if (next !== SPACE || buf[q + 1] !== QUOTE) break fast;
          tail = useTailStarts ? lineEndKeyFind(tailStarts, tails, buf, view, bufWords, q + 2, end) : -1;
          if (tail >= 0) {
            e = q + 3 + tails.lengths[tail]!;
            lineEnd = buf[e] === LF ? e : e + 1;
          } else {
            // A tail the index does not hold (short, new, one of too many
            // sharing a start) or the index off: find the line's end and
            // look the tail up whole.
            lineEnd = buf.indexOf(LF, q);
            if (lineEnd === -1 || lineEnd >= end) break fast;
            e = buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
            if (buf[e - 1] !== QUOTE || q + 2 > e - 1) break fast;
            tail = tableFind(tails, buf, view, bufWords, q + 2, e - 1);
            if (tail < 0) break fast;
            if (useTailStarts) tailStarts.add(tails, view, q + 2, tail);
          }
          this.combined++;
        }
        client = prefixMemo.payloads[pre]!;
        request = requestMemo.payloads[req]!;
        fastPath = true;
      }
      if (fastPath) {
        this.linesRead++;
        p = lineEnd + 1;
      } else {
        lineEnd = buf.indexOf(LF, s);
        if (lineEnd === -1 || lineEnd >= end) {
          if (!final) return s;
          lineEnd = end;
        }
        this.linesRead++;
        e = lineEnd > s && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
        p = lineEnd + 1;
        const verdict = this.parseSlow(buf, s, e);
        clientValues = this.clients.values;
        requestValues = this.requestKeys.values;
        tailValues = this.tails.values;
        if (verdict !== VALID) {
          if (verdict === MALFORMED) this.noteMalformed(buf, s, e, origin + s);
          else if (verdict === BYTES_TOO_LONG) this.noteMalformed(buf, s, e, origin + s, BYTES_TOO_LONG_REASON);
          continue;
        }
        time = parsed[PARSED_TIME]!;
        bytes = parsed[PARSED_BYTES]!;
        // Small integers, read back as int32: a float64 here made the JIT
        // count every fast-path line with doubles too (status, ids and
        // indexes), 2% of a whole worker's instructions.
        status = parsed[PARSED_STATUS]! | 0;
        client = parsed[PARSED_CLIENT]! | 0;
        request = parsed[PARSED_REQUEST]! | 0;
        tail = parsed[PARSED_TAIL]! | 0;
      }

      // Count the valid line, in window.
      this.requests++;
      wide[BYTES_SERVED]! += bytes;
      statusCounts[status]!++;
      // Most lines share their second with the line before: nothing else to check.
      if (time === wide[COUNTED_SECOND]) this.currentMinuteCount++;
      else this.countNewSecond(time);
      const c = client * CLIENT_COLUMNS;
      const cv = clientValues;
      cv[c + CLIENT_REQUESTS]!++;
      cv[c + CLIENT_BYTES]! += bytes;
      if (status >= 400) {
        if (status < 500) {
          cv[c + CLIENT_4XX]!++;
          if (status === 404) cv[c + CLIENT_404]!++;
        } else if (status < 600) {
          cv[c + CLIENT_5XX]!++;
        }
      }
      if (!full) continue;
      const r = request * 2;
      requestValues[r]!++;
      if (status === 404) requestValues[r + 1]!++;
      if (tail >= 0) tailValues[tail]!++;
    }
    return p > end ? end : p;
  }

  /**
   * Whether this block looks tails up by their start: not after a block
   * where the lookup missed more than it found, until 16 blocks later.
   */
  private judgeTailStarts(): boolean {
    // The last block's lookups, counted by lineEndKeyFind: counters in the
    // loop made its optimising compile two to three times longer.
    const { hits, misses } = this.tailStarts;
    this.tailStarts.hits = 0;
    this.tailStarts.misses = 0;
    if (this.tailStartsOn) {
      if (misses > hits) {
        this.tailStartsOn = false;
        this.blocksWithoutTailStarts = 0;
      }
    } else if (++this.blocksWithoutTailStarts >= 16) {
      this.tailStartsOn = true;
    }
    return this.tailStartsOn;
  }

  /** Time bookkeeping for a counted line whose second differs from the last one counted. */
  private countNewSecond(time: number): void {
    const wide = this.wideNumbers;
    wide[COUNTED_SECOND] = time;
    if (time < wide[FIRST_TIME]!) wide[FIRST_TIME] = time;
    if (time > wide[LAST_TIME]!) wide[LAST_TIME] = time;
    const minute = Math.floor(time / 60);
    if (minute === wide[CURRENT_MINUTE]) {
      this.currentMinuteCount++;
    } else {
      this.flushMinute();
      wide[CURRENT_MINUTE] = minute;
      this.currentMinuteCount = 1;
    }
  }

  /** A line too long to hold in memory: counted as malformed from its first bytes. */
  countOversizedLine(head: Uint8Array, offset: number): void {
    this.linesRead++;
    this.noteMalformed(head, 0, head.length, offset, "line too long");
  }

  private noteMalformed(buf: Uint8Array, s: number, e: number, offset: number, reason?: string): void {
    this.malformed++;
    if (this.malformedSamples.length < MAX_SAMPLES) {
      const sample: MalformedSample = {
        line: this.linesRead,
        offset,
        text: binaryString(buf, s, Math.min(e, s + SAMPLE_BYTES)),
        truncated: e - s > SAMPLE_BYTES,
      };
      if (reason) sample.reason = reason;
      this.malformedSamples.push(sample);
    }
  }

  // Seeded with a real time, so that matching the remembered words always
  // gives the right answer (all-zero words would have matched a line of NULs).
  private cachedDayStart = 0;
  private readonly lastTimeWords = new Int32Array(EPOCH_TIME_TEXT.slice().buffer);
  /** Bytes 0..23 of lastTimeWords, for the fast path's compare. */
  private readonly lastTimeDoubles = new Float64Array(this.lastTimeWords.buffer, 0, 3);
  private lastTimeValue = 0;

  /**
   * Epoch seconds (UTC) of 'dd/Mon/yyyy:HH:MM:SS +zzzz] "' at p (29 bytes,
   * in bounds), or NO_TIME when that is not what is there.
   */
  private parseTime(buf: Uint8Array, p: number): number {
    if (buf[p + 28] !== QUOTE) return NO_TIME;
    // Most lines share their second with the line before: compare bytes
    // 0..27 as int32 words against the last time parsed.
    const view = this.view;
    const w0 = view.getInt32(p, true);
    const w1 = view.getInt32(p + 4, true);
    const w2 = view.getInt32(p + 8, true);
    const w3 = view.getInt32(p + 12, true);
    const w4 = view.getInt32(p + 16, true);
    const w5 = view.getInt32(p + 20, true);
    const w6 = view.getInt32(p + 24, true);
    const last = this.lastTimeWords;
    if (w0 === last[0] && w1 === last[1] && w2 === last[2] && w3 === last[3] && w4 === last[4] && w5 === last[5] && w6 === last[6]) {
      return this.lastTimeValue;
    }
    if (buf[p + 26] !== 93 || buf[p + 27] !== SPACE) return NO_TIME;
    // The day changes rarely too: bytes 0-10 "dd/Mon/yyyy" and 21-25 the zone.
    let dayStart = this.cachedDayStart;
    const sameDay =
      dayStart !== -1 && w0 === last[0] && w1 === last[1] && (w2 & 0xffffff) === (last[2]! & 0xffffff) &&
      w5 >>> 8 === last[5]! >>> 8 && (w6 & 0xffff) === (last[6]! & 0xffff);
    if (!sameDay) {
      dayStart = parseLogDay(buf, p);
      if (dayStart === -1) return NO_TIME;
    }
    const clock = parseLogClock(buf, p + 11);
    if (clock < 0) return NO_TIME;
    // Remembered only for a whole valid time, so day and words always agree.
    this.cachedDayStart = dayStart;
    last[0] = w0;
    last[1] = w1;
    last[2] = w2;
    last[3] = w3;
    last[4] = w4;
    last[5] = w5;
    last[6] = w6;
    this.lastTimeValue = dayStart + clock;
    return this.lastTimeValue;
  }

  /**
   * Every rule checked from scratch; fills the fast path's memos from the
   * lines it finds valid in the window. For a VALID line, leaves its fields
   * in `parsed` for countBlock to count.
   */
  private parseSlow(buf: Uint8Array, s: number, e: number): Verdict {
    // host ident authuser: runs of non-whitespace separated by single spaces.
    const hostEnd = tokenEnd(buf, s, e);
    if (hostEnd === s || buf[hostEnd] !== SPACE) return MALFORMED;
    const userStart = tokenEnd(buf, hostEnd + 1, e) + 1;
    if (userStart === hostEnd + 2 || buf[userStart - 1] !== SPACE) return MALFORMED;
    let p = tokenEnd(buf, userStart, e);
    if (p === userStart || buf[p] !== SPACE) return MALFORMED;
    p++;
    // [dd/Mon/yyyy:HH:MM:SS +zzzz] "
    if (p + 30 > e || buf[p] !== 91 || buf[p + 27] !== 93 || buf[p + 28] !== SPACE || buf[p + 29] !== QUOTE) return MALFORMED;
    const time = this.parseTime(buf, p + 1);
    if (time === NO_TIME) return MALFORMED;
    const prefixEnd = p + 1;
    const requestStart = p + 30;
    const requestEnd = closingQuote(buf, requestStart, e);
    if (requestEnd < 0) return MALFORMED;
    // method = text before the first space; path = the second token, cut at "?".
    let methodEnd = requestStart;
    while (methodEnd < requestEnd && buf[methodEnd] !== SPACE) methodEnd++;
    let pathEnd = -1;
    if (methodEnd < requestEnd) {
      pathEnd = methodEnd + 1;
      while (pathEnd < requestEnd) {
        const ch = buf[pathEnd]!;
        if (ch === SPACE || ch === QUESTION) break;
        pathEnd++;
      }
    }
    const parsed = this.parsed;
    p = readStatusAndBytes(buf, this.view, requestEnd, e, parsed);
    if (p < 0) return p === -2 ? BYTES_TOO_LONG : MALFORMED;
    const view = this.view;
    const inWindow = time >= this.since && time < this.until;
    let tail = -1;
    if (p !== e) {
      // Combined: ' "referer" "user-agent"' and nothing after.
      if (buf[p] !== SPACE || buf[p + 1] !== QUOTE || buf[e - 1] !== QUOTE) return MALFORMED;
      // A tail already seen was validated when first seen: the same bytes
      // need no second scan for unescaped quotes.
      tail = this.tails.find(buf, view, p + 2, e - 1);
      if (tail < 0) {
        const refEnd = closingQuote(buf, p + 2, e);
        if (refEnd < 0 || buf[refEnd + 1] !== SPACE || buf[refEnd + 2] !== QUOTE || refEnd + 3 > e - 1) return MALFORMED;
        if (closingQuote(buf, refEnd + 3, e) !== e - 1) return MALFORMED;
        if (inWindow) tail = this.tails.intern(buf, view, p + 2, e - 1);
      }
      this.combined++;
    } else {
      this.common++;
    }

    if (!inWindow) {
      this.outOfWindow++;
      return OUT_OF_WINDOW;
    }
    const client = this.clients.intern(buf, view, s, hostEnd);
    const requestKeyEnd = pathEnd >= 0 ? pathEnd : methodEnd;
    const request = this.requestKeys.intern(buf, view, requestStart, requestKeyEnd);
    if (s + 16 <= e) this.prefixMemo.add(buf, view, s, prefixEnd - s, client);
    if (pathEnd >= 0 && pathEnd < requestEnd && requestStart + 16 <= e) {
      this.requestMemo.add(buf, view, requestStart, pathEnd - requestStart, request);
    }
    if (tail >= 0) this.tailStarts.add(this.tails, view, p + 2, tail);
    parsed[PARSED_TIME] = time;
    parsed[PARSED_CLIENT] = client;
    parsed[PARSED_REQUEST] = request;
    parsed[PARSED_TAIL] = tail;
    return VALID;
  }

  private flushMinute(): void {
    if (this.currentMinuteCount > 0) {
      const minute = this.wideNumbers[CURRENT_MINUTE]!;
      this.minutes.set(minute, (this.minutes.get(minute) ?? 0) + this.currentMinuteCount);
    }
    this.currentMinuteCount = 0;
  }

  /** The counts as a partial (without task id and timings). */
  toCounts(): CountsPartial {
    this.flushMinute();
    const status = statusRows(this.status);
    // Split the combined keys back into their fields.
    const methods = new Map<string, number>();
    const paths = new Map<string, number>();
    const notFoundPaths = new Map<string, number>();
    // In minimal mode the key tables only serve as the fast path's memory of valid requests and tails.
    for (const [key, count, notFound] of (this.full ? this.requestKeys.entries() : []) as Array<[string, number, number]>) {
      const space = key.indexOf(" ");
      add(methods, space < 0 ? key : key.slice(0, space), count);
      if (space < 0) continue;
      add(paths, key.slice(space + 1), count);
      if (notFound > 0) add(notFoundPaths, key.slice(space + 1), notFound);
    }
    const referrers = new Map<string, number>();
    const agents = new Map<string, number>();
    for (const [key, count] of (this.full ? this.tails.entries() : []) as Array<[string, number]>) {
      const refEnd = closingQuoteOf(key);
      add(referrers, key.slice(0, refEnd), count);
      add(agents, key.slice(refEnd + 3), count);
    }
    const rows = (m: Map<string, number>) => [...m];
    return {
      version: PARTIAL_VERSION,
      ...(this.full ? {} : { counters: "minimal" as const }),
      lines: {
        read: this.linesRead,
        valid: this.combined + this.common,
        malformed: this.malformed,
        combined: this.combined,
        common: this.common,
        outOfWindow: this.outOfWindow,
      },
      requests: this.requests,
      bytes: this.wideNumbers[BYTES_SERVED]!,
      status,
      clients: this.clients.entries() as CountsPartial["clients"],
      methods: rows(methods),
      paths: rows(paths),
      notFoundPaths: rows(notFoundPaths),
      referrers: rows(referrers),
      agents: rows(agents),
      minutes: [...this.minutes].sort((a, b) => a[0] - b[0]),
      firstTime: this.requests > 0 ? this.wideNumbers[FIRST_TIME]! : null,
      lastTime: this.requests > 0 ? this.wideNumbers[LAST_TIME]! : null,
      malformedSamples: this.malformedSamples,
    };
  }
}

/**
 * The codes counted, as rows. A function of its own: its 1,000-step loop,
 * run once a task, got toCounts (a big function) compiled by the optimising
 * JIT, 7 to 13 ms per worker for a function that runs once a task.
 */
function statusRows(counts: Float64Array): Array<[string, number]> {
  const rows: Array<[string, number]> = [];
  for (let code = 0; code < 1000; code++) {
    if (counts[code]! > 0) rows.push([String(code).padStart(3, "0"), counts[code]!]);
  }
  return rows;
}

function add(m: Map<string, number>, key: string, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

/** Index of the first unescaped '"' of a binary string (the end of the referer in a tail key). */
function closingQuoteOf(key: string): number {
  for (let k = 0; k < key.length; k++) {
    const c = key.charCodeAt(k);
    if (c === QUOTE) return k;
    if (c === BACKSLASH) k++;
  }
  return key.length;
}

function binaryString(buf: Uint8Array, s: number, e: number): string {
  let out = "";
  for (let k = s; k < e; k++) out += String.fromCharCode(buf[k]!);
  return out;
}
