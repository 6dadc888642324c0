// The plain parser of Common and Combined lines: every rule of
// test/fixtures/README.md checked in order, one line at a time, feeding the
// Tally. It is the definition the fast path (fast/combined.ts) must match
// byte for byte, and the "reference" row of bench.

import { BYTES_TOO_LONG_REASON, closingQuote, MAX_BYTES_DIGITS, NO_TIME, parseLogTime, QUESTION, QUOTE, SPACE, tokenEnd } from "./clf.ts";
import { LineByLineCounter } from "./line-by-line.ts";
import type { Malformed } from "./tally.ts";

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


const isDigit = (c: number | undefined) => c !== undefined && c >= 48 && c <= 57;
/** A byte that has no business in a text log (controls other than tab, CR; DEL). */
const isBinary = (c: number) => (c < 32 && c !== 9 && c !== 13) || c === 127;

/** A byte for a message: the character when printable ASCII, else its value. */
function describeByte(c: number | undefined): string {
  if (c === undefined) return "the end of the line";
  return c > 32 && c < 127 ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, "0")}`;
}

/** At most `max` bytes of buf[s, e) as a quoted binary string, for a reason's detail. */
function quoted(buf: Uint8Array, s: number, e: number, max = 40): string {
  let out = "";
  for (let k = s; k < Math.min(e, s + max); k++) out += String.fromCharCode(buf[k]!);
  return `'${out}${e - s > max ? "..." : ""}'`;
}

function bad(reason: string, at: number, detail?: string): Malformed {
  return detail === undefined ? { reason, at } : { reason, at, detail };
}

/** A field separator that is not a single space (or the line that ends instead). */
function badSeparator(buf: Uint8Array, at: number, e: number, field: string): Malformed {
  if (at >= e) return bad("too few fields", at, `the line ends after the ${field}`);
  if (isBinary(buf[at]!)) return bad("not text (binary bytes)", at, describeByte(buf[at]));
  return bad("fields not separated by single spaces", at, `${describeByte(buf[at])} after the ${field}`);
}

/** The start of a field that should be there and is not. */
function badFieldStart(buf: Uint8Array, at: number, e: number, field: string): Malformed {
  if (at >= e) return bad("too few fields", at, `no ${field}`);
  if (isBinary(buf[at]!)) return bad("not text (binary bytes)", at, describeByte(buf[at]));
  return bad("fields not separated by single spaces", at, `${describeByte(buf[at])} where the ${field} should start`);
}

/** Why ' "referer" "agent"' at p (to the line's end e) is not one. */
function badTail(buf: Uint8Array, p: number, e: number): Malformed {
  if (buf[p] !== SPACE || buf[p + 1] !== QUOTE) return bad("junk after the bytes field", p, quoted(buf, p, e));
  const refererEnd = closingQuote(buf, p + 2, e);
  if (refererEnd < 0) return bad("unterminated quote in the referer", p + 1);
  if (buf[refererEnd + 1] !== SPACE || buf[refererEnd + 2] !== QUOTE) return bad("no user agent after the referer", refererEnd + 1, quoted(buf, refererEnd + 1, e));
  const agentEnd = closingQuote(buf, refererEnd + 3, e);
  if (agentEnd < 0) return bad("unterminated quote in the user agent", refererEnd + 2);
  return bad(JUNK_AFTER_AGENT, agentEnd + 1, quoted(buf, agentEnd + 1, e));
}

/** The reason of a Combined line with more after its agent: where a format's appended fields start. */
export const JUNK_AFTER_AGENT = "junk after the user agent";

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
  const malformed = readCombinedFields(buf, s, e, line, readTime, knownTail);
  return malformed && whatItIs(buf, s, e, malformed);
}

/**
 * A malformed line that is not a log line at all says so: binary bytes
 * before the place it broke, or a JSON object (another log format).
 */
export function whatItIs(buf: Uint8Array, s: number, e: number, malformed: Malformed): Malformed {
  for (let k = s; k < Math.min(e, malformed.at + 1); k++) {
    if (isBinary(buf[k]!)) return bad("not text (binary bytes)", k, `${describeByte(buf[k])} at column ${k - s + 1}`);
  }
  if (buf[s] === 123) return bad("a JSON object, not a Common or Combined line", s);
  return malformed;
}

/** parseCombinedLine without its naming of what a malformed line is: for a parser that reads more after the agent. */
export function readCombinedFields(
  buf: Uint8Array, s: number, e: number, line: CombinedLine,
  readTime: (buf: Uint8Array, p: number) => number,
  knownTail: ((buf: Uint8Array, start: number, end: number) => boolean) | undefined,
): Malformed | null {
  if (s === e) return bad("empty line", s);
  // host ident authuser: runs of non-whitespace, single spaces between.
  const hostEnd = tokenEnd(buf, s, e);
  if (hostEnd === s) return isBlank(buf, s, e) ? bad("blank line", s) : badFieldStart(buf, s, e, "client");
  if (buf[hostEnd] !== SPACE) return badSeparator(buf, hostEnd, e, "client");
  const identEnd = tokenEnd(buf, hostEnd + 1, e);
  if (identEnd === hostEnd + 1) return badFieldStart(buf, identEnd, e, "ident field");
  if (buf[identEnd] !== SPACE) return badSeparator(buf, identEnd, e, "ident field");
  const userEnd = tokenEnd(buf, identEnd + 1, e);
  if (userEnd === identEnd + 1) return badFieldStart(buf, userEnd, e, "user field");
  if (buf[userEnd] !== SPACE) return badSeparator(buf, userEnd, e, "user field");

  // [dd/Mon/yyyy:HH:MM:SS +zzzz] then a space and the request's opening quote.
  const open = userEnd + 1;
  if (buf[open] !== 91) return open >= e ? bad("too few fields", open, "no [time]") : bad("no [time] after the user field", open, describeByte(buf[open]));
  if (open + 28 > e || buf[open + 27] !== 93) return bad("time not in [dd/Mon/yyyy:HH:MM:SS +zzzz] form", open, quoted(buf, open, e, 30));
  if (open + 30 > e || buf[open + 28] !== SPACE || buf[open + 29] !== QUOTE) {
    const at = buf[open + 28] === SPACE ? open + 29 : open + 28;
    return bad("no quoted request after the time", at, describeByte(at < e ? buf[at] : undefined));
  }
  const time = readTime(buf, open + 1);
  if (time === NO_TIME) return bad("invalid date", open + 1, quoted(buf, open + 1, open + 27));

  // "request": method up to the first space, path the next token cut at '?'.
  const requestStart = open + 30;
  const requestEnd = closingQuote(buf, requestStart, e);
  if (requestEnd < 0) return bad("unterminated quote in the request", requestStart - 1);
  let methodEnd = requestStart;
  while (methodEnd < requestEnd && buf[methodEnd] !== SPACE) methodEnd++;
  let pathEnd = -1;
  if (methodEnd < requestEnd) {
    pathEnd = methodEnd + 1;
    while (pathEnd < requestEnd && buf[pathEnd] !== SPACE && buf[pathEnd] !== QUESTION) pathEnd++;
  }

  // ' ddd ' status, then bytes: digits (at most MAX_BYTES_DIGITS) or '-'.
  let p = requestEnd + 1;
  if (p + 6 > e || buf[p] !== SPACE || !isDigit(buf[p + 1]) || !isDigit(buf[p + 2]) || !isDigit(buf[p + 3]) || buf[p + 4] !== SPACE) {
    return p + 5 >= e && buf[p] === SPACE && isDigit(buf[p + 1]) ? bad("too few fields", p + 1, "no bytes field") : bad("status is not 3 digits", p + 1, quoted(buf, p + 1, e, 12));
  }
  const status = (buf[p + 1]! - 48) * 100 + (buf[p + 2]! - 48) * 10 + (buf[p + 3]! - 48);
  p += 5;
  let bytes = 0;
  if (buf[p] === 45) {
    p++;
  } else {
    const digits = p;
    while (p < e && isDigit(buf[p])) bytes = bytes * 10 + (buf[p++]! - 48);
    if (p === digits) return bad("bytes is not a number or -", p, describeByte(buf[p]));
    if (p - digits > MAX_BYTES_DIGITS) return bad(BYTES_TOO_LONG_REASON, digits);
  }

  // Nothing more (Common), or ' "referer" "agent"' and nothing after (Combined).
  let tailStart = -1;
  let tailEnd = -1;
  if (p !== e) {
    if (buf[p] !== SPACE || buf[p + 1] !== QUOTE || buf[e - 1] !== QUOTE) return badTail(buf, p, e);
    if (!knownTail?.(buf, p + 2, e - 1)) {
      const refererEnd = closingQuote(buf, p + 2, e);
      if (refererEnd < 0 || buf[refererEnd + 1] !== SPACE || buf[refererEnd + 2] !== QUOTE || refererEnd + 3 > e - 1) return badTail(buf, p, e);
      if (closingQuote(buf, refererEnd + 3, e) !== e - 1) return badTail(buf, p, e);
    }
    tailStart = p + 2;
    tailEnd = e - 1;
  }
  // Into the caller's object, field by field: a new object (or Object.assign) a line costs the slow path a third more.
  line.hostEnd = hostEnd; line.time = time; line.requestStart = requestStart; line.requestEnd = requestEnd;
  line.methodEnd = methodEnd; line.pathEnd = pathEnd; line.status = status; line.bytes = bytes;
  line.tailStart = tailStart; line.tailEnd = tailEnd;
  return null;
}

function isBlank(buf: Uint8Array, s: number, e: number): boolean {
  for (let k = s; k < e; k++) if (buf[k] !== SPACE && buf[k] !== 9) return false;
  return true;
}

export class ReferenceCounter extends LineByLineCounter {
  private readonly line = emptyLine();

  protected countLine(buf: Uint8Array, view: DataView, s: number, e: number, offset: number): void {
    const tally = this.tally;
    const line = this.line;
    const malformed = parseCombinedLine(buf, s, e, line);
    if (malformed) {
      tally.countMalformed(buf, s, e, offset, malformed);
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
