// The fast path for Common and Combined logs: the accelerator of the
// reference parser (../reference.ts), giving byte-identical counts (tested on
// every fixture, generated data and the mutation tables). Lines of the usual
// shape are matched against memos of what earlier valid lines started with,
// so most of a line is compared as whole words, never scanned; anything
// else goes through parseSlow, which checks every rule. Its key tables and
// their internals are this folder's own.

import type { CountsPartial } from "../../core/partial.ts";
import { bucketOfMs, MS_LIMIT } from "../../core/sketch-counting.ts";
import type { Counters, TimeWindow } from "../../core/task.ts";
import { BACKSLASH, closingQuote, CR, LF, MAX_BYTES_DIGITS, NO_TIME, parseLogClock, parseLogDay, QUESTION, QUOTE, SPACE } from "../clf.ts";
import type { LineCounter } from "../counter.ts";
import { emptyLine, JUNK_AFTER_AGENT, parseCombinedLine, readCombinedFields, whatItIs } from "../reference.ts";
import { type CombinedSuffix, SuffixReader } from "../suffix.ts";
import { LATENCY_QUEUE, LINE_TOO_LONG, type Malformed, Tally } from "../tally.ts";
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
type Verdict = 0 | 1 | 2;
const MALFORMED = 0;
const VALID = 1;
const OUT_OF_WINDOW = 2;


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
 * added (no carry leaves its byte): one read instead of three.
 */
function statusOfWord(w: number): number {
  if ((w & 0xff) !== SPACE || (w & 0xf0f0f000) !== 0x30303000 || (((w & 0x0f0f0f00) + 0x06060600) & 0x10101000) !== 0) return -1;
  return ((w >>> 8) & 0xf) * 100 + ((w >>> 16) & 0xf) * 10 + ((w >>> 24) & 0xf);
}

const COLON = 58;

export class FastCombinedCounter implements LineCounter {
  /** The counts this counter feeds. */
  readonly tally: Tally;
  /** parseSlow's reading of a line, and why it was malformed when it was. */
  private readonly line = emptyLine();
  private malformedWhy: Malformed = LINE_TOO_LONG;
  private readonly readTime = (buf: Uint8Array, p: number) => this.parseTime(buf, p);
  // A tail already counted was validated when first seen: the same bytes need no second scan for quotes.
  private knownTailId = -1;
  private readonly knownTail = (buf: Uint8Array, start: number, end: number) => (this.knownTailId = this.tally.tails.find(buf, this.view, start, end)) >= 0;
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

  /** The fields a format appends to Combined, or null for Common and Combined. */
  private readonly suffix: SuffixReader | null;
  /** The byte that follows the agent's closing quote: the line feed, or the suffix's first. */
  private readonly afterTail: number;
  private readonly suffixHasHost: boolean;
  private readonly suffixName: string;
  /** Whether a quote may follow the agent's closing quote (a quoted field, or one in a literal). */
  private readonly suffixHasQuote: boolean;

  /** vhost_combined: lines start with "host:port " (Apache's %v:%p), the host counted and filtered like a format's. */
  private readonly vhostPrefix: boolean;
  /** The host id readVhost found. */
  private vhostId = -1;

  constructor(window: TimeWindow = {}, counters: Counters = "full", suffix: CombinedSuffix | null = null, vhostPrefix = false) {
    this.tally = new Tally(window, counters);
    this.vhostPrefix = vhostPrefix;
    this.suffix = suffix ? new SuffixReader(suffix) : null;
    this.afterTail = suffix ? suffix.literals[0]![0]! : LF;
    this.suffixHasHost = suffix !== null && suffix.host >= 0;
    this.suffixName = suffix ? suffix.fields[0]!.name : "";
    this.suffixHasQuote = suffix !== null && (suffix.quoted.some(Boolean) || suffix.literals.some((literal) => literal.includes(QUOTE)));
  }

  /**
   * Counts the lines of buf[start, end) that start before `startLimit`.
   * Returns the index of the first byte not consumed: the start of an
   * unterminated last line (unless `final`, when it is counted too) or of
   * the first line at or past `startLimit`.
   */
  countBlock(buf: Uint8Array, start: number, end: number, final: boolean, origin: number, startLimit = end): number {
    const tally = this.tally;
    let consumed = this.countLines(buf, start, end, final, origin, startLimit);
    while (tally.queued === LATENCY_QUEUE) {
      tally.flushLatency();
      consumed = this.countLines(buf, consumed, end, final, origin, startLimit);
    }
    tally.flushLatency();
    return consumed;
  }

  private countLines(buf: Uint8Array, start: number, end: number, final: boolean, origin: number, startLimit: number): number {
    if (buf !== this.viewed) {
      this.viewed = buf;
      this.view = viewOf(buf);
      this.bufWords = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
    }
    // One loop holds the whole fast path, with what it reads in locals: a
    // method call per step (frame, checks on `this` and its arrays) costs
    // more than a plain function's. Tables are read through their objects,
    // as the slow path may replace their arrays when they grow.
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
    const suffix = this.suffix;
    const vhostPrefix = this.vhostPrefix;
    const afterTail = this.afterTail;
    const suffixHasQuote = this.suffixHasQuote;
    const suffixOut = suffix !== null ? suffix.out : null;
    const queuedRequests = tally.queuedRequests;
    const queuedStatus = tally.queuedStatus;
    const queuedMs = tally.queuedMs;
    // A plain Combined line is counted at once; a --where of the status alone is read from a table on the way.
    const byStatus = tally.whereByStatus;
    const plain = suffix === null && !vhostPrefix && tally.by === null && (tally.where === null || byStatus !== null);
    let p = start;
    while (p < end && p < startLimit) {
      // With vhost_combined's "host:port " first, the Combined part starts after it.
      const line = p;
      let s = p;
      let vhost = -1;
      if (vhostPrefix) {
        const after = this.readVhost(buf, p, end);
        if (after >= 0) {
          s = after;
          vhost = this.vhostId;
        }
      }
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
      // The request's bounds, for --where's query.
      let requestFrom = 0;
      let requestTo = 0;
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
        if (s + 16 > end || (vhostPrefix && vhost < 0)) break fast;
        const pre = memoFind(prefixMemo, view, s, end);
        if (pre < 0) break fast;
        const t = s + prefixMemo.lengths[pre]!;
        if (t + 29 > end) break fast;
        // Most lines share their second with the line before: bytes 0..27
        // of the time against the last time parsed, as three float64 words
        // and an int32 (four fewer reads than seven int32s). The remembered
        // words are the text of a valid time, never a zero or a NaN, so
        // equal numbers mean equal bytes.
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
        requestFrom = requestStart;
        requestTo = q;
        // Status and bytes read here, not by the slow path's reader, so that
        // they stay in locals instead of passing through `parsed`.
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
          if (suffix !== null || vhostPrefix) break fast;
          e = q;
          lineEnd = next === LF ? q : q + 1;
          tally.common++;
        } else {
          if (next !== SPACE || buf[q + 1] !== QUOTE) break fast;
          tail = useTailStarts ? lineEndKeyFind(tailStarts, tails, buf, view, bufWords, q + 2, end, afterTail) : -1;
          if (suffix !== null) {
            // The tail as above, then the appended fields up to the line's end.
            let agentEnd = q + 2 + (tail >= 0 ? tails.lengths[tail]! : 0);
            if (tail < 0) {
              const lf = buf.indexOf(LF, q);
              if (lf === -1 || lf >= end) break fast;
              // With no quote in what follows the agent, its closing quote is the line's last:
              // a native search back instead of scanning the referer and agent. The known tail
              // looked up below holds the rest of the rules (a valid tail has no unescaped quote).
              agentEnd = suffixHasQuote ? agentQuote(buf, q + 2, buf[lf - 1] === CR ? lf - 1 : lf) : buf.lastIndexOf(QUOTE, lf);
              if (agentEnd < q + 2) break fast;
              tail = tableFind(tails, buf, view, bufWords, q + 2, agentEnd);
              if (tail < 0) break fast;
              if (useTailStarts) tailStarts.add(tails, view, q + 2, tail);
            }
            e = suffix.read(buf, view, agentEnd + 1, end, false);
            if (e < 0) break fast;
            lineEnd = buf[e] === LF ? e : e + 1;
          } else if (tail >= 0) {
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
        lineEnd = buf.indexOf(LF, line);
        if (lineEnd === -1 || lineEnd >= end) {
          if (!final) return line;
          lineEnd = end;
        }
        tally.linesRead++;
        e = lineEnd > line && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
        p = lineEnd + 1;
        let verdict: Verdict;
        if (vhostPrefix && vhost < 0) {
          verdict = MALFORMED;
          this.malformedWhy = line === e ? { reason: "empty line", at: line } : { reason: "no host:port before the client", at: line };
        } else verdict = this.parseSlow(buf, s, e);
        if (verdict !== VALID) {
          if (verdict === MALFORMED) tally.countMalformed(buf, line, e, origin + line, this.malformedWhy);
          continue;
        }
        time = parsed[PARSED_TIME]!;
        bytes = parsed[PARSED_BYTES]!;
        // Small integers, read back as int32: a float64 here made the JIT
        // count every fast-path line with doubles too (status, ids and indexes).
        status = parsed[PARSED_STATUS]! | 0;
        client = parsed[PARSED_CLIENT]! | 0;
        request = parsed[PARSED_REQUEST]! | 0;
        tail = parsed[PARSED_TAIL]! | 0;
      }

      if (plain) {
        if (byStatus !== null && byStatus[status] === 0) {
          tally.filtered++;
          continue;
        }
        tally.countRequest(time, status, bytes, client, request, tail);
      } else {
        // The host first: with --vhost, a line of another host is not counted.
        const host = vhostPrefix ? vhost : this.suffixHasHost ? tally.hosts.intern(buf, view, suffix!.hostStart, suffix!.hostEnd) : -1;
        if (host >= 0 && tally.filtersHosts && !tally.countsHost(host)) continue;
        if (tally.where !== null) {
          if (!fastPath) {
            requestFrom = this.line.requestStart;
            requestTo = this.line.requestEnd;
          }
          if (!tally.where(status, bytes, time, suffix !== null ? suffix.seconds : -1, client, request, tail, host, buf, requestFrom, requestTo)) {
            tally.filtered++;
            continue;
          }
        }
        if (tally.by !== null) tally.by.count(status, bytes, time, suffix !== null ? suffix.seconds : -1, client, request, tail, host);
        tally.countRequest(time, status, bytes, client, request, tail);
        if (suffixOut !== null) {
          // The usual line's response time is queued here, at no call; others through countSuffix.
          const ms = suffixOut[3]!;
          if (host < 0 && ms >= 0 && ms < MS_LIMIT) {
            const at = tally.queued;
            queuedRequests[at] = request;
            queuedStatus[at] = status;
            queuedMs[at] = ms;
            tally.queued = at + 1;
            // A full queue is counted by countBlock, which goes on from here: a
            // flush called in this loop would be compiled into it.
            if (at + 1 === LATENCY_QUEUE) return p > end ? end : p;
          } else this.countSuffix(status, request, host);
        } else if (host >= 0) tally.countHost(host, status, -1, 0);
      }
    }
    return p > end ? end : p;
  }

  /**
   * vhost_combined's "host:port " from p: the host (no whitespace, up to the
   * first ':') interned as vhostId, the port digits or "-". Returns where the
   * Combined part starts, or -1 when the line does not start so.
   */
  private readVhost(buf: Uint8Array, p: number, end: number): number {
    let q = p;
    for (; q < end; q++) {
      const c = buf[q]!;
      if (c === COLON) break;
      if (c === SPACE || (c >= 9 && c <= 13)) return -1;
    }
    if (q === p || q >= end) return -1;
    const hostEnd = q++;
    const portStart = q;
    while (q < end && buf[q]! >= 48 && buf[q]! <= 57) q++;
    if (q === portStart) {
      if (buf[q] !== 45) return -1;
      q++;
    }
    if (q >= end || buf[q] !== SPACE) return -1;
    this.vhostId = this.tally.hosts.intern(buf, this.view, p, hostEnd);
    return q + 1;
  }

  /** The response time and host the suffix reader found on the line just counted, when countLines did not queue it. */
  private countSuffix(status: number, request: number, host: number): void {
    const suffix = this.suffix!;
    const tally = this.tally;
    const seconds = suffix.seconds;
    const ms = suffix.milliseconds;
    let bucket = 0;
    if (ms >= 0 && ms < MS_LIMIT) bucket = tally.countLatencyIn(seconds, ms * 1000, ms > 0 ? bucketOfMs(ms) : 0, status, request);
    else if (seconds >= 0) bucket = tally.countLatency(seconds, status, request);
    if (host >= 0) tally.countHost(host, status, seconds, bucket);
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
    this.tally.countMalformed(head, 0, head.length, offset, LINE_TOO_LONG);
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
    const line = this.line;
    this.knownTailId = -1;
    const malformed = this.suffix ? this.parseWithSuffix(buf, s, e) : parseCombinedLine(buf, s, e, line, this.readTime, this.knownTail);
    if (malformed) {
      this.malformedWhy = malformed;
      return MALFORMED;
    }
    const tally = this.tally;
    const view = this.view;
    const { time, requestStart, requestEnd, pathEnd, tailStart } = line;
    const inWindow = time >= tally.since && time < tally.until;
    // vhost_combined has no Common form: its lines end with the agent (or what a suffix appends).
    if (this.vhostPrefix && tailStart < 0) {
      this.malformedWhy = { reason: "too few fields", at: e, detail: "no referer and user agent" };
      return MALFORMED;
    }
    if (tailStart >= 0) tally.combined++;
    else tally.common++;
    if (!inWindow) {
      tally.outOfWindow++;
      return OUT_OF_WINDOW;
    }
    const client = tally.clients.intern(buf, view, s, line.hostEnd);
    const request = tally.requestKeys.intern(buf, view, requestStart, pathEnd >= 0 ? pathEnd : line.methodEnd);
    const tail = tailStart < 0 ? -1 : this.knownTailId >= 0 ? this.knownTailId : tally.tails.intern(buf, view, tailStart, line.tailEnd);
    // What the fast path starts from: "host ident user [" and "METHOD PATH", and the tail by its first bytes.
    if (s + 16 <= e) this.prefixMemo.add(buf, view, s, requestStart - 29 - s, client);
    if (pathEnd >= 0 && pathEnd < requestEnd && requestStart + 16 <= e) {
      this.requestMemo.add(buf, view, requestStart, pathEnd - requestStart, request);
    }
    if (tail >= 0) this.tailStarts.add(tally.tails, view, tailStart, tail);
    const parsed = this.parsed;
    parsed[PARSED_TIME] = time;
    parsed[PARSED_STATUS] = line.status;
    parsed[PARSED_BYTES] = line.bytes;
    parsed[PARSED_CLIENT] = client;
    parsed[PARSED_REQUEST] = request;
    parsed[PARSED_TAIL] = tail;
    return VALID;
  }

  /**
   * A line of a format that appends fields to Combined: its Combined part
   * as always, up to the agent's closing quote, then the suffix to the end.
   */
  private parseWithSuffix(buf: Uint8Array, s: number, e: number): Malformed | null {
    const line = this.line;
    let malformed = readCombinedFields(buf, s, e, line, this.readTime, this.knownTail);
    if (malformed === null) {
      malformed = { reason: "too few fields", at: e, detail: line.tailStart < 0 ? "no referer and user agent" : `the line ends before ${this.suffixName}` };
    } else if (malformed.reason === JUNK_AFTER_AGENT) {
      const at = malformed.at;
      if (this.suffix!.read(buf, this.view, at, e, true) < 0) {
        malformed = { reason: "line does not fit the format", at, detail: `the fields after the user agent are not ${this.suffixName}...` };
      } else {
        this.knownTailId = -1;
        malformed = readCombinedFields(buf, s, at, line, this.readTime, this.knownTail);
      }
    }
    return malformed && whatItIs(buf, s, e, malformed);
  }

  toCounts(): CountsPartial {
    return this.tally.toCounts();
  }
}

/** The agent's closing quote in 'referer" "agent"...' from `start` (the referer's first byte) before e, or -1. */
function agentQuote(buf: Uint8Array, start: number, e: number): number {
  const refererEnd = closingQuote(buf, start, e);
  if (refererEnd < 0 || buf[refererEnd + 1] !== SPACE || buf[refererEnd + 2] !== QUOTE) return -1;
  return closingQuote(buf, refererEnd + 3, e);
}
