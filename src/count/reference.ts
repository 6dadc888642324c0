// The plain parser of Common and Combined lines: every rule of
// test/fixtures/README.md checked in order, one line at a time, feeding the
// Tally. It is the definition the fast path (fast/combined.ts) must match
// byte for byte, and the "reference" row of bench.

import type { CountsPartial } from "../core/partial.ts";
import type { Counters, TimeWindow } from "../core/task.ts";
import { BYTES_TOO_LONG_REASON, closingQuote, CR, LF, MAX_BYTES_DIGITS, NO_TIME, parseLogTime, QUESTION, QUOTE, SPACE, tokenEnd } from "./clf.ts";
import type { LineCounter } from "./counter.ts";
import { viewOf } from "./fast/keys.ts";
import { Tally } from "./tally.ts";

/** Where the fields of a valid line are, and what it says. */
export interface CombinedLine {
  hostEnd: number;
  /** Epoch seconds, UTC. */
  time: number;
  /** The request's text, inside its quotes. */
  requestStart: number;
  requestEnd: number;
  /** End of the method; end of the path (-1 without one). */
  methodEnd: number;
  pathEnd: number;
  status: number;
  bytes: number;
  /** 'referer" "agent' inside the outer quotes; -1 for a Common line. */
  tailStart: number;
  tailEnd: number;
}

/** Why a line is malformed: a reason when there is one to give. */
export interface Malformed {
  reason?: string;
}

const MALFORMED: Malformed = {};
const BYTES_TOO_LONG: Malformed = { reason: BYTES_TOO_LONG_REASON };

const isDigit = (c: number | undefined) => c !== undefined && c >= 48 && c <= 57;

export function emptyLine(): CombinedLine {
  return { hostEnd: 0, time: 0, requestStart: 0, requestEnd: 0, methodEnd: 0, pathEnd: -1, status: 0, bytes: 0, tailStart: -1, tailEnd: -1 };
}

/**
 * Reads the line buf[s, e) (no line end) into `line`: null when it is
 * valid, else why not. `readTime` reads the 26 bytes of its time (a parser
 * may remember the last one it read).
 */
export function parseCombinedLine(
  buf: Uint8Array, s: number, e: number, line: CombinedLine,
  readTime: (buf: Uint8Array, p: number) => number = parseLogTime,
  /** Whether 'referer" "agent' at [start, end) is known valid already (its quotes need no scan). */
  knownTail?: (buf: Uint8Array, start: number, end: number) => boolean,
): Malformed | null {
  // host ident authuser: runs of non-whitespace, single spaces between.
  const hostEnd = tokenEnd(buf, s, e);
  if (hostEnd === s || buf[hostEnd] !== SPACE) return MALFORMED;
  const identEnd = tokenEnd(buf, hostEnd + 1, e);
  if (identEnd === hostEnd + 1 || buf[identEnd] !== SPACE) return MALFORMED;
  const userEnd = tokenEnd(buf, identEnd + 1, e);
  if (userEnd === identEnd + 1 || buf[userEnd] !== SPACE) return MALFORMED;

  // [dd/Mon/yyyy:HH:MM:SS +zzzz] then a space and the request's opening quote.
  const open = userEnd + 1;
  if (open + 30 > e || buf[open] !== 91 || buf[open + 27] !== 93 || buf[open + 28] !== SPACE || buf[open + 29] !== QUOTE) return MALFORMED;
  const time = readTime(buf, open + 1);
  if (time === NO_TIME) return MALFORMED;

  // "request": method up to the first space, path the next token cut at '?'.
  const requestStart = open + 30;
  const requestEnd = closingQuote(buf, requestStart, e);
  if (requestEnd < 0) return MALFORMED;
  let methodEnd = requestStart;
  while (methodEnd < requestEnd && buf[methodEnd] !== SPACE) methodEnd++;
  let pathEnd = -1;
  if (methodEnd < requestEnd) {
    pathEnd = methodEnd + 1;
    while (pathEnd < requestEnd && buf[pathEnd] !== SPACE && buf[pathEnd] !== QUESTION) pathEnd++;
  }

  // ' ddd ' status, then bytes: digits (at most MAX_BYTES_DIGITS) or '-'.
  let p = requestEnd + 1;
  if (p + 6 > e || buf[p] !== SPACE || !isDigit(buf[p + 1]) || !isDigit(buf[p + 2]) || !isDigit(buf[p + 3]) || buf[p + 4] !== SPACE) return MALFORMED;
  const status = (buf[p + 1]! - 48) * 100 + (buf[p + 2]! - 48) * 10 + (buf[p + 3]! - 48);
  p += 5;
  let bytes = 0;
  if (buf[p] === 45) {
    p++;
  } else {
    const digits = p;
    while (p < e && isDigit(buf[p])) bytes = bytes * 10 + (buf[p++]! - 48);
    if (p === digits) return MALFORMED;
    if (p - digits > MAX_BYTES_DIGITS) return BYTES_TOO_LONG;
  }

  // Nothing more (Common), or ' "referer" "agent"' and nothing after (Combined).
  let tailStart = -1;
  let tailEnd = -1;
  if (p !== e) {
    if (buf[p] !== SPACE || buf[p + 1] !== QUOTE || buf[e - 1] !== QUOTE) return MALFORMED;
    if (!knownTail?.(buf, p + 2, e - 1)) {
      const refererEnd = closingQuote(buf, p + 2, e);
      if (refererEnd < 0 || buf[refererEnd + 1] !== SPACE || buf[refererEnd + 2] !== QUOTE || refererEnd + 3 > e - 1) return MALFORMED;
      if (closingQuote(buf, refererEnd + 3, e) !== e - 1) return MALFORMED;
    }
    tailStart = p + 2;
    tailEnd = e - 1;
  }
  line.hostEnd = hostEnd;
  line.time = time;
  line.requestStart = requestStart;
  line.requestEnd = requestEnd;
  line.methodEnd = methodEnd;
  line.pathEnd = pathEnd;
  line.status = status;
  line.bytes = bytes;
  line.tailStart = tailStart;
  line.tailEnd = tailEnd;
  return null;
}

export class ReferenceCounter implements LineCounter {
  readonly tally: Tally;
  private readonly line = emptyLine();

  constructor(window: TimeWindow = {}, counters: Counters = "full") {
    this.tally = new Tally(window, counters);
  }

  countBlock(buf: Uint8Array, start: number, end: number, final: boolean, origin: number, startLimit = end): number {
    const view = viewOf(buf);
    let p = start;
    while (p < end && p < startLimit) {
      let lf = buf.indexOf(LF, p);
      if (lf < 0 || lf >= end) {
        if (!final) return p;
        lf = end;
      }
      this.tally.linesRead++;
      this.countLine(buf, view, p, lf > p && buf[lf - 1] === CR ? lf - 1 : lf, origin + p);
      p = lf + 1;
    }
    return p > end ? end : p;
  }

  countOversizedLine(head: Uint8Array, offset: number): void {
    this.tally.linesRead++;
    this.tally.countMalformed(head, 0, head.length, offset, "line too long");
  }

  toCounts(): CountsPartial {
    return this.tally.toCounts();
  }

  private countLine(buf: Uint8Array, view: DataView, s: number, e: number, offset: number): void {
    const tally = this.tally;
    const line = this.line;
    const malformed = parseCombinedLine(buf, s, e, line);
    if (malformed) {
      tally.countMalformed(buf, s, e, offset, malformed.reason);
      return;
    }
    if (line.tailStart >= 0) tally.combined++;
    else tally.common++;
    if (line.time < tally.since || line.time >= tally.until) {
      tally.outOfWindow++;
      return;
    }
    const client = tally.clients.intern(buf, view, s, line.hostEnd);
    const request = tally.requestKeys.intern(buf, view, line.requestStart, line.pathEnd >= 0 ? line.pathEnd : line.methodEnd);
    const tail = line.tailStart >= 0 ? tally.tails.intern(buf, view, line.tailStart, line.tailEnd) : -1;
    tally.countRequest(line.time, line.status, line.bytes, client, request, tail);
  }
}
