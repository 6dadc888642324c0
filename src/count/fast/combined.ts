// The fast path for Common and Combined logs: the accelerator of the
// reference parser (../reference.ts), giving byte-identical counts (tested on
// every fixture, generated data and the mutation tables). Lines of the usual
// shape are matched against memos of what earlier valid lines started with,
// so most of a line is compared as whole words, never scanned; anything
// else goes through parseSlow, which checks every rule. Its key tables and
// their internals are this folder's own.

import type { CountsPartial } from "../../partial.ts";
import type { Counters, TimeWindow } from "../../task.ts";
import {
  BACKSLASH, BYTES_TOO_LONG_REASON, closingQuote, CR, LF, MAX_BYTES_DIGITS, NO_TIME, parseLogClock, parseLogDay, QUESTION, QUOTE, SPACE, tokenEnd,
} from "../clf.ts";
import type { LineCounter } from "../counter.ts";
import { Tally } from "../tally.ts";
import { KeyCache, KeyStartIndex, lineEndKeyFind, memoFind, tableFind, viewOf } from "./keys.ts";

/** "HTTP/1.1", "HTTP/1.0", "HTTP/2.0" as little-endian float64 words (text: never a zero or a NaN, so equal numbers mean equal bytes). */
const PROTOCOL_WORDS = new Float64Array(new TextEncoder().encode("HTTP/1.1HTTP/1.0HTTP/2.0").buffer);
const HTTP_11 = PROTOCOL_WORDS[0]!;
const HTTP_10 = PROTOCOL_WORDS[1]!;
const HTTP_20 = PROTOCOL_WORDS[2]!;
const isProtocol = (x: number) => x === HTTP_11 || x === HTTP_10 || x === HTTP_20;

/** The time of epoch second 0 as parseTime reads it, padded to the 28 bytes it compares. */
const EPOCH_TIME_TEXT = new TextEncoder().encode('01/Jan/1970:00:00:00 +0000] "').slice(0, 28);

/** What parseSlow found a line to be. */
type Verdict = 0 | 1 | 2 | 3;
const MALFORMED = 0;
const VALID = 1;
const OUT_OF_WINDOW = 2;
/** Malformed because the bytes field has more digits than a double holds exactly. */
const BYTES_TOO_LONG = 3;


/** Slots of FastCombinedCounter.parsed: a line's fields, handed over without an allocation. */
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

export class FastCombinedCounter implements LineCounter {
  /** The counts this counter feeds. */
  readonly tally: Tally;
  /** The tails by their first bytes: the fast path finds a line's end from its tail. */
  private readonly tailStarts = new KeyStartIndex(4096);
  // Whether the fast path looks tails up by their start, decided block by
  // block: on a log whose agents mostly share their first 24 bytes the
  // lookups miss, and each miss costs a call on top of the scan.
  private tailStartsOn = true;
  private blocksWithoutTailStarts = 0;
  // Fast-path memos (see countBlock): "host ident user [" -> client id,
  // and "METHOD PATH" (followed by ' ' or '?') -> request key id.
  private readonly prefixMemo = new KeyCache(4096, 48);
  private readonly requestMemo = new KeyCache(4096, 96);
  private viewed: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(new ArrayBuffer(0));
  /** The viewed buffer's whole ArrayBuffer as int32 words (for aligned key comparison). */
  private bufWords: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private readonly parsed = new Float64Array(6);

  constructor(window: TimeWindow = {}, counters: Counters = "full") {
    this.tally = new Tally(window, counters);
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
    const tally = this.tally;
    const tails = tally.tails;
    const tailStarts = this.tailStarts;
    const useTailStarts = this.judgeTailStarts();
    const lastWords = this.lastTimeWords;
    const lastDoubles = this.lastTimeDoubles;
    const since = tally.since;
    const until = tally.until;
    const parsed = this.parsed;
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
          tally.common++;
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
          tally.combined++;
        }
        client = prefixMemo.payloads[pre]!;
        request = requestMemo.payloads[req]!;
        fastPath = true;
      }
      if (fastPath) {
        tally.linesRead++;
        p = lineEnd + 1;
      } else {
        lineEnd = buf.indexOf(LF, s);
        if (lineEnd === -1 || lineEnd >= end) {
          if (!final) return s;
          lineEnd = end;
        }
        tally.linesRead++;
        e = lineEnd > s && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
        p = lineEnd + 1;
        const verdict = this.parseSlow(buf, s, e);
        if (verdict !== VALID) {
          if (verdict === MALFORMED) tally.countMalformed(buf, s, e, origin + s);
          else if (verdict === BYTES_TOO_LONG) tally.countMalformed(buf, s, e, origin + s, BYTES_TOO_LONG_REASON);
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

      tally.countRequest(time, status, bytes, client, request, tail);
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

  /** A line too long to hold in memory: counted as malformed from its first bytes. */
  countOversizedLine(head: Uint8Array, offset: number): void {
    this.tally.linesRead++;
    this.tally.countMalformed(head, 0, head.length, offset, "line too long");
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
    const tally = this.tally;
    const inWindow = time >= tally.since && time < tally.until;
    let tail = -1;
    if (p !== e) {
      // Combined: ' "referer" "user-agent"' and nothing after.
      if (buf[p] !== SPACE || buf[p + 1] !== QUOTE || buf[e - 1] !== QUOTE) return MALFORMED;
      // A tail already seen was validated when first seen: the same bytes
      // need no second scan for unescaped quotes.
      tail = tally.tails.find(buf, view, p + 2, e - 1);
      if (tail < 0) {
        const refEnd = closingQuote(buf, p + 2, e);
        if (refEnd < 0 || buf[refEnd + 1] !== SPACE || buf[refEnd + 2] !== QUOTE || refEnd + 3 > e - 1) return MALFORMED;
        if (closingQuote(buf, refEnd + 3, e) !== e - 1) return MALFORMED;
        if (inWindow) tail = tally.tails.intern(buf, view, p + 2, e - 1);
      }
      tally.combined++;
    } else {
      tally.common++;
    }

    if (!inWindow) {
      tally.outOfWindow++;
      return OUT_OF_WINDOW;
    }
    const client = tally.clients.intern(buf, view, s, hostEnd);
    const requestKeyEnd = pathEnd >= 0 ? pathEnd : methodEnd;
    const request = tally.requestKeys.intern(buf, view, requestStart, requestKeyEnd);
    if (s + 16 <= e) this.prefixMemo.add(buf, view, s, prefixEnd - s, client);
    if (pathEnd >= 0 && pathEnd < requestEnd && requestStart + 16 <= e) {
      this.requestMemo.add(buf, view, requestStart, pathEnd - requestStart, request);
    }
    if (tail >= 0) this.tailStarts.add(tally.tails, view, p + 2, tail);
    parsed[PARSED_TIME] = time;
    parsed[PARSED_CLIENT] = client;
    parsed[PARSED_REQUEST] = request;
    parsed[PARSED_TAIL] = tail;
    return VALID;
  }

  toCounts(): CountsPartial {
    return this.tally.toCounts();
  }
}
