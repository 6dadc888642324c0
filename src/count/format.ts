// Log formats given as the server's own format string: an nginx `log_format`
// or an Apache `LogFormat` (marked `apache:`), compiled once into a list of
// literals and fields that a line is read against, and the presets by name.

import { EXIT_USAGE, LogmrError } from "../core/errors.ts";
import type { Counters, TimeWindow } from "../core/task.ts";
import { BYTES_TOO_LONG_REASON, closingQuote, daysFromCivil, isSpaceByte, MAX_BYTES_DIGITS, NO_TIME, parseLogTime, QUESTION, QUOTE, SPACE } from "./clf.ts";
import { viewOf } from "./fast/keys.ts";
import { type DurationKind, parseSeconds } from "./durations.ts";
import { LineByLineCounter } from "./line-by-line.ts";
import type { Malformed } from "./tally.ts";

/** What a field holds, as far as counting goes; "number" and "skip" fields are read as opaque tokens. */
export type FieldKind =
  | "client" | "token" | "time" | "iso-time" | "msec" | "request" | "status" | "bytes" | "sent" | "referer" | "agent" | "host" | "number" | "skip"
  /** Response time in seconds ($request_time, %T), in microseconds (%D), or nginx's list of upstream times, summed. */
  | "duration" | "duration-us" | "upstream";

export interface FormatField {
  kind: FieldKind;
  /** The specifier as written (`$remote_addr`, `%h`), for messages. */
  name: string;
}

/** A compiled format: literals and fields alternate, starting and ending with a literal (maybe empty). */
export interface CompiledFormat {
  literals: Uint8Array[];
  fields: FormatField[];
  /** Whether the format writes referer and agent (its valid lines count as Combined). */
  hasTail: boolean;
  /** The field whose value is the response time, or -1 (the request's own time first, else the upstream's). */
  latency: number;
  /** The field that names the virtual host, or -1. */
  host: number;
}

export class FormatError extends LogmrError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

const NGINX_FIELDS: Record<string, FieldKind> = {
  remote_addr: "client", binary_remote_addr: "client", realip_remote_addr: "client",
  remote_user: "token",
  time_local: "time", time_iso8601: "iso-time", msec: "msec",
  request: "request",
  status: "status",
  body_bytes_sent: "bytes", bytes_sent: "sent", request_length: "number",
  request_time: "duration", upstream_response_time: "upstream",
  http_referer: "referer", http_user_agent: "agent",
  host: "host", server_name: "host", http_host: "host",
};

const APACHE_FIELDS: Record<string, FieldKind> = {
  h: "client", a: "client", l: "token", u: "token", t: "time", r: "request",
  s: "status", ">s": "status", "<s": "status",
  b: "bytes", B: "bytes", O: "sent", I: "number", S: "number",
  D: "duration-us", T: "duration", v: "host", V: "host", p: "number", P: "number",
  m: "skip", U: "skip", q: "skip", H: "skip", k: "number", X: "skip", f: "skip", A: "skip", L: "skip", R: "skip",
};

const APACHE_HEADERS: Record<string, FieldKind> = { referer: "referer", "user-agent": "agent", host: "host" };

/** Formats by name. `combined`, `common` and `nginx` are read by the Combined fast path. */
export { FAST_FORMATS, FORMAT_PRESETS } from "./format-names.ts";
import { FORMAT_PRESETS } from "./format-names.ts";

const enc = new TextEncoder();

/** Compiles a preset name, an nginx log_format string, or `apache:` and a LogFormat string. */
export function compileFormat(spec: string): CompiledFormat {
  if (!FORMAT_PRESETS[spec] && !/[$%]/.test(spec)) throw new FormatError(`unknown format ${JSON.stringify(spec)}: a preset (${Object.keys(FORMAT_PRESETS).join(", ")}, json), an nginx log_format string or apache: and a LogFormat string`);
  const text = FORMAT_PRESETS[spec] ?? spec;
  const items = text.startsWith("apache:") ? apacheItems(text.slice("apache:".length)) : nginxItems(text);
  const literals: Uint8Array[] = [];
  const fields: FormatField[] = [];
  let literal = "";
  for (const item of items) {
    if (typeof item === "string") {
      literal += item;
      continue;
    }
    if (fields.length > 0 && literal === "") {
      throw new FormatError(`format: ${fields[fields.length - 1]!.name} and ${item.name} follow each other with nothing between them: they cannot be told apart`);
    }
    literals.push(enc.encode(literal));
    literal = "";
    fields.push(item);
  }
  literals.push(enc.encode(literal));
  // Bytes sent with the headers (%O, $bytes_sent) are the bytes served when the format has nothing closer.
  const sent = fields.findIndex((f) => f.kind === "sent");
  if (sent >= 0 && !fields.some((f) => f.kind === "bytes")) fields[sent] = { ...fields[sent]!, kind: "bytes" };
  for (let k = 0; k < fields.length; k++) if (fields[k]!.kind === "sent") fields[k] = { ...fields[k]!, kind: "number" };
  if (!fields.some((f) => f.kind === "client") || !fields.some((f) => f.kind === "status") || !fields.some((f) => f.kind === "request")) {
    throw new FormatError("format: it must have the client address, the request line and the status");
  }
  if (!fields.some((f) => f.kind === "time" || f.kind === "iso-time" || f.kind === "msec")) throw new FormatError("format: it must have the time");
  for (const kind of ["client", "time", "request", "status", "bytes", "referer", "agent"] as const) {
    if (fields.filter((f) => f.kind === kind).length > 1) throw new FormatError(`format: more than one ${kind} field`);
  }
  const own = fields.findIndex((f) => f.kind === "duration" || f.kind === "duration-us");
  return {
    literals, fields, hasTail: fields.some((f) => f.kind === "agent"),
    latency: own >= 0 ? own : fields.findIndex((f) => f.kind === "upstream"),
    host: fields.findIndex((f) => f.kind === "host"),
  };
}

function nginxItems(text: string): Array<string | FormatField> {
  const out: Array<string | FormatField> = [];
  for (let k = 0; k < text.length; ) {
    const c = text[k]!;
    if (c !== "$") {
      out.push(c);
      k++;
      continue;
    }
    const braced = text[k + 1] === "{";
    const m = (braced ? /^\$\{([a-z0-9_]+)\}/i : /^\$([a-z0-9_]+)/i).exec(text.slice(k));
    if (!m) throw new FormatError(`format: '$' at column ${k + 1} names no variable`);
    const name = m[1]!.toLowerCase();
    out.push({ kind: NGINX_FIELDS[name] ?? "skip", name: m[0] });
    k += m[0].length;
  }
  return out;
}

function apacheItems(text: string): Array<string | FormatField> {
  const out: Array<string | FormatField> = [];
  for (let k = 0; k < text.length; ) {
    const c = text[k]!;
    if (c === "\\" && k + 1 < text.length) {
      out.push(text[k + 1] === "t" ? "\t" : text[k + 1] === "n" ? "\n" : text[k + 1]!);
      k += 2;
      continue;
    }
    if (c !== "%") {
      out.push(c);
      k++;
      continue;
    }
    if (text[k + 1] === "%") {
      out.push("%");
      k += 2;
      continue;
    }
    const m = /^%(?:[!\d,]*)(?:\{([^}]*)\})?([<>]?[a-zA-Z])/.exec(text.slice(k));
    if (!m) throw new FormatError(`format: '%' at column ${k + 1} is no LogFormat directive`);
    const [whole, arg, directive] = m;
    let kind: FieldKind | undefined;
    if (directive === "i") kind = APACHE_HEADERS[(arg ?? "").toLowerCase()] ?? "skip";
    else if (directive === "t") {
      if (arg !== undefined) throw new FormatError(`format: ${whole} at column ${k + 1}: only the default time %t is read`);
      kind = "time";
    } else if (directive === "o" || directive === "e" || directive === "n" || directive === "C") kind = "skip";
    else kind = APACHE_FIELDS[directive!];
    if (kind === undefined) throw new FormatError(`format: unknown directive ${whole} at column ${k + 1}`);
    // Apache's %t writes the brackets itself; nginx's $time_local leaves them to the format.
    if (directive === "t") out.push("[", { kind, name: whole }, "]");
    else out.push({ kind, name: whole });
    k += whole.length;
  }
  return out;
}

// ------------------------------------------------------------------ reading lines

const isDigit = (c: number | undefined) => c !== undefined && c >= 48 && c <= 57;
/** A field written as "-": what nginx writes for an upstream time (or a number) that has none. */
const isDash = (buf: Uint8Array, s: number, e: number) => e - s === 1 && buf[s] === 45;

/** Where literal `lit` starts at or after p (before e), or -1. */
function findLiteral(buf: Uint8Array, lit: Uint8Array, p: number, e: number): number {
  const first = lit[0]!;
  for (let q = buf.indexOf(first, p); q >= 0 && q + lit.length <= e; q = buf.indexOf(first, q + 1)) {
    let k = 1;
    while (k < lit.length && buf[q + k] === lit[k]) k++;
    if (k === lit.length) return q;
  }
  return -1;
}

export function matchesAt(buf: Uint8Array, lit: Uint8Array, p: number, e: number): boolean {
  if (p + lit.length > e) return false;
  for (let k = 0; k < lit.length; k++) if (buf[p + k] !== lit[k]) return false;
  return true;
}

/** Epoch seconds of "2026-11-27T20:21:04+00:00" (or Z) in buf[s, e), or NO_TIME. */
function parseIsoTime(buf: Uint8Array, s: number, e: number): number {
  const text = String.fromCharCode(...buf.subarray(s, Math.min(e, s + 40)));
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!m) return NO_TIME;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return NO_TIME;
  if (new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d) return NO_TIME;
  const zone = m[7]!;
  const offset = zone === "Z" ? 0 : (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(-2)) * 60);
  return daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
}

/** Epoch seconds of nginx's $msec ("1764274864.123") in buf[s, e), or NO_TIME. */
function parseMsec(buf: Uint8Array, s: number, e: number): number {
  let p = s;
  let v = 0;
  while (p < e && isDigit(buf[p])) v = v * 10 + (buf[p++]! - 48);
  if (p === s || p - s > 12) return NO_TIME;
  if (p < e && buf[p] === 46) for (p++; p < e && isDigit(buf[p]); p++);
  return p === e ? v : NO_TIME;
}

/** The fields of one line read against a format: offsets, and what they say. */
interface FieldRanges {
  start: Int32Array;
  end: Int32Array;
}

/**
 * Reads lines written by any format string: the literals must appear as
 * written; a field runs to the next literal (between quotes, to the closing
 * quote, escapes allowed, as in Combined; the last one to the line's end),
 * so an unquoted field holding a space must come last; the fields the
 * report counts are checked as Combined checks them.
 */
export class FormatCounter extends LineByLineCounter {
  private readonly ranges: FieldRanges;
  private readonly quoted: boolean[];
  private tail = new Uint8Array(4096);
  private tailView = viewOf(this.tail);

  constructor(private readonly format: CompiledFormat, window: TimeWindow = {}, counters: Counters = "full") {
    super(window, counters);
    const n = format.fields.length;
    this.ranges = { start: new Int32Array(n), end: new Int32Array(n) };
    // A field between two quotes is a quoted field: it may hold spaces and escaped quotes.
    this.quoted = format.fields.map((_, i) => format.literals[i]!.at(-1) === QUOTE && format.literals[i + 1]![0] === QUOTE);
  }

  protected countLine(buf: Uint8Array, view: DataView, s: number, e: number, offset: number): void {
    const tally = this.tally;
    const bad = s === e ? { reason: "empty line", at: s } : this.split(buf, s, e) ?? this.check(buf);
    if (bad) {
      tally.countMalformed(buf, s, e, offset, bad);
      return;
    }
    const { fields } = this.format;
    const { start, end } = this.ranges;
    let time = NO_TIME;
    let status = 0;
    let bytes = 0;
    let client = -1;
    let request = -1;
    let referer = -1;
    let agent = -1;
    for (let i = 0; i < fields.length; i++) {
      const kind = fields[i]!.kind;
      if (kind === "time") time = parseLogTime(buf, start[i]!);
      else if (kind === "iso-time") time = parseIsoTime(buf, start[i]!, end[i]!);
      else if (kind === "msec") time = parseMsec(buf, start[i]!, end[i]!);
      else if (kind === "status") status = (buf[start[i]!]! - 48) * 100 + (buf[start[i]! + 1]! - 48) * 10 + (buf[start[i]! + 2]! - 48);
      else if (kind === "bytes") for (let k = start[i]!; k < end[i]! && isDigit(buf[k]); k++) bytes = bytes * 10 + (buf[k]! - 48);
      else if (kind === "client") client = i;
      else if (kind === "request") request = i;
      else if (kind === "referer") referer = i;
      else if (kind === "agent") agent = i;
    }
    if (this.format.hasTail) tally.combined++;
    else tally.common++;
    if (time < tally.since || time >= tally.until) {
      tally.outOfWindow++;
      return;
    }
    const h = this.format.host;
    const hostId = h >= 0 ? tally.hosts.intern(buf, view, start[h]!, end[h]!) : -1;
    if (tally.filtersHosts && !tally.countsHost(hostId)) return;
    const clientId = tally.clients.intern(buf, view, start[client]!, end[client]!);
    // "METHOD PATH": the request up to the end of its path, as Combined counts it.
    const rs = start[request]!;
    const re = end[request]!;
    let methodEnd = rs;
    while (methodEnd < re && buf[methodEnd] !== SPACE) methodEnd++;
    let keyEnd = methodEnd;
    if (methodEnd < re) for (keyEnd = methodEnd + 1; keyEnd < re && buf[keyEnd] !== SPACE && buf[keyEnd] !== QUESTION; keyEnd++);
    const requestId = tally.requestKeys.intern(buf, view, rs, keyEnd);
    const tailId = agent >= 0 ? this.internTail(buf, referer, agent) : -1;
    const l = this.format.latency;
    const seconds = l >= 0 ? parseSeconds(buf, start[l]!, end[l]!, this.format.fields[l]!.kind as DurationKind) : -1;
    if (tally.where !== null && !tally.where(status, bytes, time, seconds, clientId, requestId, tailId, hostId, buf, rs, re)) {
      tally.filtered++;
      return;
    }
    if (tally.by !== null) tally.by.count(status, bytes, time, seconds, clientId, requestId, tailId, hostId);
    tally.countRequest(time, status, bytes, clientId, requestId, tailId);
    const bucket = seconds >= 0 ? tally.countLatency(seconds, status, requestId) : 0;
    if (hostId >= 0) tally.countHost(hostId, status, seconds, bucket);
  }

  /** Finds each field's bytes between the literals; why the line does not fit the format, or null. */
  private split(buf: Uint8Array, s: number, e: number): Malformed | null {
    const { literals, fields } = this.format;
    const { start, end } = this.ranges;
    if (!matchesAt(buf, literals[0]!, s, e)) return { reason: "line does not fit the format", at: s, detail: `expected '${new TextDecoder().decode(literals[0])}' at column 1` };
    let p = s + literals[0]!.length;
    for (let i = 0; i < fields.length; i++) {
      const next = literals[i + 1]!;
      let q: number;
      if (this.quoted[i]) {
        q = closingQuote(buf, p, e);
        if (q < 0) return { reason: `unterminated quote in the ${fields[i]!.name} field`, at: p - 1 };
      } else if (next.length === 0) {
        q = e;
      } else {
        q = findLiteral(buf, next, p, e);
        if (q < 0) return { reason: "too few fields", at: e, detail: `the line ends in the ${fields[i]!.name} field` };
      }
      start[i] = p;
      end[i] = q;
      if (!matchesAt(buf, next, q, e)) return { reason: "line does not fit the format", at: q, detail: `expected '${new TextDecoder().decode(next)}' after the ${fields[i]!.name} field` };
      p = q + next.length;
    }
    if (p !== e) return { reason: "junk after the last field", at: p };
    return null;
  }

  /** The counted fields' shapes: as Combined checks them. */
  private check(buf: Uint8Array): Malformed | null {
    const { fields } = this.format;
    const { start, end } = this.ranges;
    for (let i = 0; i < fields.length; i++) {
      const { kind, name } = fields[i]!;
      const s = start[i]!;
      const e = end[i]!;
      if (kind === "client" || kind === "token" || kind === "host") {
        if (s === e) return { reason: `empty ${name} field`, at: s };
        for (let k = s; k < e; k++) if (isSpaceByte(buf[k]!)) return { reason: "fields not separated by single spaces", at: k, detail: `a space inside ${name}` };
      } else if (kind === "time") {
        if (e - s !== 26 || parseLogTime(buf, s) === NO_TIME) return { reason: "invalid date", at: s };
      } else if (kind === "iso-time") {
        if (parseIsoTime(buf, s, e) === NO_TIME) return { reason: "invalid date", at: s };
      } else if (kind === "msec") {
        if (parseMsec(buf, s, e) === NO_TIME) return { reason: "invalid date", at: s };
      } else if (kind === "status") {
        if (e - s !== 3 || !isDigit(buf[s]) || !isDigit(buf[s + 1]) || !isDigit(buf[s + 2])) return { reason: "status is not 3 digits", at: s };
      } else if (kind === "bytes") {
        if (e - s === 1 && buf[s] === 45) continue;
        if (s === e) return { reason: "bytes is not a number or -", at: s };
        for (let k = s; k < e; k++) if (!isDigit(buf[k])) return { reason: "bytes is not a number or -", at: k };
        if (e - s > MAX_BYTES_DIGITS) return { reason: BYTES_TOO_LONG_REASON, at: s };
      } else if (kind === "duration" || kind === "duration-us" || kind === "upstream") {
        if (parseSeconds(buf, s, e, kind) < 0 && !(kind === "upstream" && isDash(buf, s, e))) return { reason: `${name} is not a response time`, at: s };
      } else if (kind === "number") {
        if (isDash(buf, s, e)) continue;
        if (s === e) return { reason: `${name} is not a number`, at: s };
        for (let k = s; k < e; k++) if (!isDigit(buf[k])) return { reason: `${name} is not a number`, at: k };
      }
    }
    return null;
  }

  /** 'referer" "agent', the key Combined counts them by, from two fields anywhere in the line. */
  private internTail(buf: Uint8Array, referer: number, agent: number): number {
    const { start, end } = this.ranges;
    const r = referer >= 0 ? buf.subarray(start[referer]!, end[referer]!) : new Uint8Array(0);
    const a = buf.subarray(start[agent]!, end[agent]!);
    const n = r.length + 3 + a.length;
    if (n > this.tail.length) {
      this.tail = new Uint8Array(n * 2);
      this.tailView = viewOf(this.tail);
    }
    this.tail.set(r, 0);
    this.tail.set(JOIN, r.length);
    this.tail.set(a, r.length + 3);
    return this.tally.tails.intern(this.tail, this.tailView, 0, n);
  }
}

const JOIN = new TextEncoder().encode('" "');

/**
 * The format string of a `log_format` (nginx) or `LogFormat` (Apache) line
 * in a server's configuration file: the one called `name`, or the only one.
 * nginx's format may run over several quoted pieces and lines up to its `;`.
 */
export function formatFromConfig(config: string, file: string, name?: string): string {
  const found: Array<{ name: string; spec: string }> = [];
  const unquote = (piece: string) => piece.slice(1, -1).replace(/\\(["'\\])/g, "$1");
  for (const m of config.matchAll(/^\s*log_format\s+(\S+)\s+(?:escape=\S+\s+)?((?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\s)+);/gm)) {
    found.push({ name: m[1]!, spec: [...m[2]!.matchAll(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g)].map((p) => unquote(p[0])).join("") });
  }
  for (const m of config.matchAll(/^\s*LogFormat\s+("(?:[^"\\]|\\.)*")\s+(\S+)\s*$/gm)) {
    found.push({ name: m[2]!, spec: `apache:${m[1]!.slice(1, -1)}` });
  }
  const names = found.map((f) => f.name).join(", ");
  if (found.length === 0) throw new FormatError(`${file} has no log_format or LogFormat line`);
  if (name === undefined) {
    if (found.length > 1) throw new FormatError(`${file} has several formats (${names}): name one with --format-name`);
    return found[0]!.spec;
  }
  const chosen = found.find((f) => f.name === name);
  if (!chosen) throw new FormatError(`${file} has no format named ${name} (it has ${names})`);
  return chosen.spec;
}
