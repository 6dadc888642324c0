// Formats that are Combined with fields appended: nginx's `$request_time
// $upstream_response_time`, Apache's `%D`, a `$host` or a request id. The
// fast path reads their Combined part as always and the appended fields
// with a SuffixReader, so the most common real formats keep its speed.

import { MS_LIMIT, SECONDS_OF_MS } from "../core/sketch-counting.ts";
import { QUOTE } from "./clf.ts";
import { parseSeconds } from "./durations.ts";
import { type CompiledFormat, compileFormat, type FieldKind, type FormatField } from "./format.ts";


/** The appended part of a format: literals[0] follows the agent's closing quote; fields and literals alternate. */
export interface CombinedSuffix {
  literals: Uint8Array[];
  fields: FormatField[];
  /** Fields between two quotes: any bytes but an unescaped quote. */
  quoted: boolean[];
  /** The field that is the response time, or -1; the one that names the virtual host, or -1. */
  latency: number;
  host: number;
}

/** What an appended field may be: nothing the Combined part already has. */
const SUFFIX_KINDS = new Set<FieldKind>(["token", "host", "number", "skip", "duration", "duration-us", "upstream"]);

/**
 * Combined as nginx writes it (the ident a literal "-") and as Apache's
 * LogFormat does (%l). The fast path reads either like Combined, any token
 * as the ident, as it reads the combined format string itself.
 */
let combinedForms: CompiledFormat[] | null = null;
const combinedFormsOf = () => (combinedForms ??= [compileFormat("combined"), compileFormat('apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"')]);

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, k) => x === b[k]);

/** How the fast path reads a format: vhost_combined's "host:port " first or not, then Combined, then appended fields or none. */
export interface CombinedShape {
  vhost: boolean;
  suffix: CombinedSuffix | null;
}

/**
 * The shape of a format the Combined fast path reads, or null: Combined
 * with fields appended, or Apache's vhost_combined (%v:%p first) with or
 * without them. The host is then the first one the format names, as the
 * format counter takes it.
 */
export function combinedShapeOf(format: CompiledFormat): CombinedShape | null {
  const { fields, literals } = format;
  const empty = (k: number) => literals[k]!.length === 0;
  const is = (k: number, text: string) => literals[k]!.length === text.length && [...literals[k]!].every((b, j) => b === text.charCodeAt(j));
  const vhost = fields.length > 2 && fields[0]!.kind === "host" && fields[1]!.kind === "number" && empty(0) && is(1, ":") && is(2, " ");
  if (!vhost) {
    const suffix = combinedSuffixOf(format);
    return suffix ? { vhost: false, suffix } : null;
  }
  const shift = (k: number) => (k >= 2 ? k - 2 : -1);
  const rest: CompiledFormat = { ...format, fields: fields.slice(2), literals: [new Uint8Array(0), ...literals.slice(3)], latency: shift(format.latency), host: -1 };
  const exactly = combinedFormsOf().some((c) => c.fields.length === rest.fields.length && c.fields.every((f, i) => rest.fields[i]!.kind === f.kind) && c.literals.every((l, i) => sameBytes(l, rest.literals[i]!)));
  if (exactly) return { vhost: true, suffix: null };
  const suffix = combinedSuffixOf(rest);
  return suffix ? { vhost: true, suffix } : null;
}

/** The appended fields of a format that is Combined followed by more, or null for any other format. */
export function combinedSuffixOf(format: CompiledFormat): CombinedSuffix | null {
  const startsWith = (combined: CompiledFormat) =>
    format.fields.length > combined.fields.length &&
    combined.fields.every((f, i) => format.fields[i]!.kind === f.kind && sameBytes(format.literals[i]!, combined.literals[i]!));
  const combined = combinedFormsOf().find(startsWith);
  if (!combined) return null;
  const n = combined.fields.length;
  // The literal after the agent: its closing quote, then the suffix's first literal (not empty, or the agent would run on).
  const joint = format.literals[n]!;
  if (joint[0] !== QUOTE || joint.length < 2) return null;
  const fields = format.fields.slice(n);
  if (!fields.every((f) => SUFFIX_KINDS.has(f.kind))) return null;
  const literals = [joint.subarray(1), ...format.literals.slice(n + 1)];
  return {
    literals, fields,
    quoted: fields.map((_, i) => literals[i]!.at(-1) === QUOTE && literals[i + 1]![0] === QUOTE),
    latency: format.latency >= n ? format.latency - n : -1,
    host: format.host >= n ? format.host - n : -1,
  };
}

type ReadSuffix = (buf: Uint8Array, view: DataView, p: number, e: number, out: Float64Array) => number;

const readers = new Map<string, [ReadSuffix, ReadSuffix]>();

/**
 * Reads the appended fields of a line, after its Combined part, with a
 * function generated for the format (its literals as constants, a loop a
 * field): their bounds checked as the format counter checks them, the
 * response time and the host's bounds kept for the caller. Generated
 * because a generic loop over the fields cost the hot path too much
 * (docs/performance.md).
 */
export class SuffixReader {
  /**
   * From the last line read: [response time in seconds when not in whole
   * milliseconds (-1: none), host start, host end, the time in whole ms when
   * written so (else -1)].
   */
  readonly out = new Float64Array([-1, 0, 0, -1]);
  /** The reader of a line's text (e its end) and the reader within a block (e the block's end). */
  private readonly readExact: ReadSuffix;
  private readonly readInBlock: ReadSuffix;

  constructor(suffix: CombinedSuffix) {
    // One pair of functions a format for the process: a new one a task would be compiled again from the start each time.
    const source = suffixSource(suffix);
    // Made in a closure over what never changes, so that a call passes only what a line has; `exact` a constant of each.
    const make = (exact: boolean) =>
      new Function("parseSeconds", "isTimeList", `return function readSuffix(buf, view, p, e, out) {\n"use strict";\nconst exact = ${exact};\n${source}\n};`)(parseSeconds, isTimeList) as ReadSuffix;
    let readPair = readers.get(source);
    if (!readPair) readers.set(source, (readPair = [make(true), make(false)]));
    [this.readExact, this.readInBlock] = readPair;
  }

  get seconds(): number {
    const ms = this.out[3]!;
    return ms < 0 ? this.out[0]! : ms < MS_LIMIT ? SECONDS_OF_MS[ms]! : ms / 1000;
  }
  /** The response time in whole milliseconds when the line wrote it with 3 decimals; else -1. */
  get milliseconds(): number {
    return this.out[3]!;
  }
  get hostStart(): number {
    return this.out[1]!;
  }
  get hostEnd(): number {
    return this.out[2]!;
  }

  /**
   * Reads the suffix from p. With `exact`, e is the end of the line's text
   * and the suffix must end there; else e bounds the block and the suffix
   * ends at the line's CR LF or LF. Returns where the line's text ends, or
   * -1 when the bytes are not the suffix.
   */
  read(buf: Uint8Array, view: DataView, p: number, e: number, exact: boolean): number {
    return exact ? this.readExact(buf, view, p, e, this.out) : this.readInBlock(buf, view, p, e, this.out);
  }
}

/**
 * Reads field i from p when it has the shape nginx writes ("0.042": one to
 * three digits, a point, three digits) and is followed by what follows the
 * field: `m<i>` its whole milliseconds (0 when not counted), p past it.
 * Otherwise leaves p and `m<i>` = -1 for the general reader. The usual one
 * digit, point and two digits are checked as one word.
 */
function fastSecondsSource(i: number, next: Uint8Array, atLineEnd: boolean, counted: boolean): string[] {
  const ends = atLineEnd
    ? "(exact ? q === e : (q < e && buf[q] === 10) || (q + 1 < e && buf[q] === 13 && buf[q + 1] === 10))"
    : `(${literalTest(next, "q")})`;
  return [
    `f${i}: {`,
    `  if (p + 5 > e) break f${i};`,
    "  let v = 0;",
    "  let q = p;",
    "  const w = view.getInt32(p, true);",
    // Bytes 0, 2 and 3 digits (high nibble 3, and the low one below 10: no carry out of it when 6 is added), byte 1 the point.
    "  if ((w & 0xf0f0fff0) === 0x30302e30 && (((w & 0x0f0f000f) + 0x06060006) & 0x10100010) === 0) {",
    "    c = buf[p + 4] - 48;",
    `    if (c < 0 || c > 9) break f${i};`,
    counted ? "    v = (w & 15) * 1000 + ((w >>> 16) & 15) * 100 + ((w >>> 24) & 15) * 10 + c;" : "",
    "    q = p + 5;",
    "  } else {",
    "    v = buf[p] - 48;",
    `    if (v < 0 || v > 9) break f${i};`,
    "    q = p + 1;",
    "    c = buf[q] - 48;",
    "    if (c >= 0 && c <= 9) { v = v * 10 + c; c = buf[++q] - 48; if (c >= 0 && c <= 9) { v = v * 10 + c; q++; } }",
    `    if (buf[q] !== 46 || q + 4 > e) break f${i};`,
    "    const d1 = buf[q + 1] - 48; const d2 = buf[q + 2] - 48; const d3 = buf[q + 3] - 48;",
    `    if (d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) break f${i};`,
    "    v = v * 1000 + d1 * 100 + d2 * 10 + d3;",
    "    q += 4;",
    "  }",
    `  if (!${ends}) break f${i};`,
    "  p = q;",
    counted ? `  m${i} = v;` : `  m${i} = 0;`,
    "}",
  ].filter((line) => line !== "");
}

/**
 * Whether buf[s, e) is a list of nginx's times with three decimals
 * ("0.010, 0.020 : 0.005"), which parseSeconds reads as valid: a field that
 * is only checked, not counted, needs no more (false sends it to
 * parseSeconds). Apart from it, parseSeconds is not compiled hot for the
 * lines of an upstream tried more than once.
 */
export function isTimeList(buf: Uint8Array, s: number, e: number): boolean {
  for (let k = s; k + 5 <= e; ) {
    const d0 = buf[k]! - 48;
    const d1 = buf[k + 2]! - 48;
    const d2 = buf[k + 3]! - 48;
    const d3 = buf[k + 4]! - 48;
    if (d0 < 0 || d0 > 9 || buf[k + 1] !== 46 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return false;
    k += 5;
    if (k === e) return true;
    if (buf[k] === 44 && buf[k + 1] === 32) k += 2;
    else if (buf[k] === 32 && buf[k + 1] === 58 && buf[k + 2] === 32) k += 3;
    else return false;
  }
  return false;
}

/** Whether fastSecondsSource may read a field followed by this literal: one that cannot start inside the digits. */
const fastBefore = (next: Uint8Array) => next.length === 0 || !((next[0]! >= 48 && next[0]! <= 57) || next[0] === 46);

const isDuration = (kind: FieldKind) => kind === "duration" || kind === "duration-us" || kind === "upstream";

/** `buf[p + k] === byte` for each byte of a literal, as one condition. */
function literalTest(lit: Uint8Array, at: string): string {
  if (lit.length === 0) return "true";
  return `${at} + ${lit.length} <= e && ${[...lit].map((b, k) => `buf[${at} + ${k}] === ${b}`).join(" && ")}`;
}

/**
 * For a suffix of only response times, each after a literal, the line
 * ending after the last (nginx's `$request_time $upstream_response_time`):
 * the whole suffix checked as words against a template, each time in the
 * usual "d.ddd", before the field-by-field reading (which takes any line
 * the template does not: another shape of time, "-"). Digits are checked as
 * fastSecondsSource checks them; no template for other suffixes.
 */
function wholeTimesSource(suffix: CombinedSuffix): string[] {
  const { literals, fields, quoted } = suffix;
  const onlyTimes = fields.every((f, i) => (f.kind === "duration" || f.kind === "upstream") && !quoted[i] && fastBefore(literals[i + 1]!));
  if (!onlyTimes || literals.at(-1)!.length !== 0 || literals.slice(0, -1).some((l) => l.length === 0)) return [];
  // One template with every time written, then one for each way the upstream times (at most two) may be "-".
  const upstreams = fields.flatMap((f, i) => (f.kind === "upstream" ? [i] : []));
  if (upstreams.length > 2) return [];
  const lines: string[] = [];
  for (let dashes = 0; dashes < 1 << upstreams.length; dashes++) {
    const dashed = new Set(upstreams.filter((_, k) => (dashes >> k) & 1));
    lines.push(...templateSource(suffix, dashed, `whole${dashes}`));
  }
  return lines;
}

/** One template of wholeTimesSource: the fields in `dashed` written "-", the others "d.ddd" (D a digit). */
function templateSource(suffix: CombinedSuffix, dashed: Set<number>, label: string): string[] {
  const { literals, fields } = suffix;
  const template: Array<number | "digit"> = [];
  const starts: number[] = [];
  fields.forEach((_, i) => {
    template.push(...literals[i]!);
    starts.push(template.length);
    if (dashed.has(i)) template.push(45);
    else template.push("digit", 46, "digit", "digit", "digit");
  });
  const length = template.length;
  const words = Math.ceil(length / 4);
  const lines = [`${label}: {`, `  if (p + ${words * 4} > e) break ${label};`];
  const tests: string[] = [];
  for (let w = 0; w < words; w++) {
    let mask = 0;
    let value = 0;
    let digits = 0;
    for (let b = 0; b < 4; b++) {
      const byte = template[w * 4 + b];
      if (byte === undefined) continue;
      if (byte === "digit") {
        mask |= 0xf0 << (b * 8);
        value |= 0x30 << (b * 8);
        digits |= 0x0f << (b * 8);
      } else {
        mask |= 0xff << (b * 8);
        value |= byte << (b * 8);
      }
    }
    lines.push(`  const w${w} = view.getInt32(p + ${w * 4}, true);`);
    tests.push(`(w${w} & ${mask | 0}) !== ${value | 0}`);
    // High nibble 3 and a low one below 10: adding 6 to each low nibble carries out of none.
    if (digits !== 0) tests.push(`(((w${w} & ${digits | 0}) + ${(digits & 0x06060606) | 0}) & ${((digits & 0x01010101) << 4) | 0}) !== 0`);
  }
  lines.push(`  if (${tests.join(" || ")}) break ${label};`);
  lines.push(`  const q = p + ${length};`);
  lines.push(`  if (!(exact ? q === e : (q < e && buf[q] === 10) || (q + 1 < e && buf[q] === 13 && buf[q + 1] === 10))) break ${label};`);
  const digit = (k: number) => `((w${k >> 2} >>> ${(k & 3) * 8}) & 15)`;
  const latency = suffix.latency;
  if (latency >= 0 && !dashed.has(latency)) {
    const at = starts[latency]!;
    lines.push(`  out[3] = ${digit(at)} * 1000 + ${digit(at + 2)} * 100 + ${digit(at + 3)} * 10 + ${digit(at + 4)};`);
  } else lines.push("  out[3] = -1;", "  out[0] = -1;");
  lines.push("  return q;", "}");
  return lines;
}

/** The body of the reader of one suffix (see SuffixReader.read). */
function suffixSource(suffix: CombinedSuffix): string {
  const { literals, fields, quoted } = suffix;
  const last = fields.length - 1;
  const lines: string[] = ["let c = 0;", ...wholeTimesSource(suffix), `if (!(${literalTest(literals[0]!, "p")})) return -1;`, `p += ${literals[0]!.length};`];
  fields.forEach((field, i) => {
    const next = literals[i + 1]!;
    const atLineEnd = i === last && next.length === 0;
    const counted = i === suffix.latency;
    lines.push(`const s${i} = p;`);
    const seconds = field.kind === "duration" || field.kind === "upstream";
    if (isDuration(field.kind)) lines.push(`let t${i} = -1;`, `let m${i} = -1;`);
    if (seconds && !quoted[i] && fastBefore(next)) lines.push(...fastSecondsSource(i, next, atLineEnd, counted), `if (m${i} < 0) {`);
    if (quoted[i]) {
      lines.push("for (; p < e && buf[p] !== 34; p++) { if (buf[p] === 10 || (buf[p] === 92 && buf[++p] === 10)) return -1; }", "if (p >= e) return -1;");
    } else if (atLineEnd) {
      lines.push("if (exact) p = e;", "else { while (p < e && buf[p] !== 10) p++; if (p >= e) return -1; if (p > s" + i + " && buf[p - 1] === 13) p--; }");
    } else {
      // To the first place the next literal matches; a token may not hold whitespace.
      const token = field.kind === "token" || field.kind === "host";
      lines.push(
        "for (;;) {",
        "  if (p >= e) return -1;",
        "  c = buf[p];",
        `  if (c === ${next[0]} && (${literalTest(next, "p")})) break;`,
        token ? "  if (c === 32 || (c >= 9 && c <= 13)) return -1;" : "  if (c === 10) return -1;",
        "  p++;",
        "}",
      );
    }
    if (seconds && !quoted[i] && fastBefore(next)) lines.push("}");
    lines.push(`const e${i} = p;`);
    if (field.kind === "token" || field.kind === "host") {
      lines.push(`if (e${i} === s${i}) return -1;`);
      if (quoted[i] || atLineEnd) lines.push(`for (let k = s${i}; k < e${i}; k++) { c = buf[k]; if (c === 32 || (c >= 9 && c <= 13)) return -1; }`);
    }
    // Times and numbers hold what the server writes there (nginx writes "-" for an upstream time it has none of).
    const dash = `(e${i} - s${i} === 1 && buf[s${i}] === 45)`;
    if (field.kind === "number") lines.push(`if (!${dash}) { if (e${i} === s${i}) return -1; for (let k = s${i}; k < e${i}; k++) { c = buf[k]; if (c < 48 || c > 57) return -1; } }`);
    else if (field.kind === "duration-us") {
      lines.push(`if (e${i} > s${i} && e${i} - s${i} <= 15) { let v = 0; let k = s${i}; for (; k < e${i}; k++) { c = buf[k] - 48; if (c < 0 || c > 9) break; v = v * 10 + c; } if (k === e${i}) t${i} = v / 1e6; }`);
      lines.push(`if (t${i} < 0) return -1;`);
    } else if (seconds) {
      // An upstream's "-" (a static file) is common enough to be told before the call.
      const none = field.kind === "upstream" ? ` && !${dash}` : "";
      // A list of an upstream's tries not counted needs only to be valid: the usual shape said so by a small function.
      const list = field.kind === "upstream" && !counted ? ` && !isTimeList(buf, s${i}, e${i})` : "";
      lines.push(`if (m${i} < 0${none}${list}) { t${i} = parseSeconds(buf, s${i}, e${i}, ${JSON.stringify(field.kind)}); if (t${i} < 0) return -1; }`);
    }
    if (next.length > 0) lines.push(`if (!(${literalTest(next, "p")})) return -1;`, `p += ${next.length};`);
  });
  if (literals[last + 1]!.length > 0) {
    lines.push("if (exact) { if (p !== e) return -1; }", "else if (!((p < e && buf[p] === 10) || (p + 1 < e && buf[p] === 13 && buf[p + 1] === 10))) return -1;");
  }
  const { latency, host } = suffix;
  // Whole milliseconds alone when read so (the seconds getter makes them the double parseSeconds would give).
  lines.push(latency < 0 ? "out[0] = -1;" : fields[latency]!.kind === "duration-us" ? `out[0] = t${latency};` : `if (m${latency} < 0) out[0] = t${latency};`);
  lines.push(latency >= 0 ? `out[3] = m${latency};` : "out[3] = -1;");
  if (host >= 0) lines.push(`out[1] = s${host};`, `out[2] = e${host};`);
  lines.push("return p;");
  return lines.join("\n");
}
