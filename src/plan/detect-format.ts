// Which format a log is in, when the user did not say: the first lines are
// read under each candidate (Combined, vhost_combined, nginx-timed, JSON) and the one
// under which most are valid wins; ties go to Combined, the default.

import { closeSync, existsSync, openSync, readSync } from "node:fs";
import type { LineCounter } from "../count/counter.ts";
import { FORMAT_PRESETS } from "../count/format-names.ts";

/**
 * The shape of a Combined or Common line, roughly: enough to see at once
 * that a sample is the default format without loading the parsers (a
 * start-up cost every file run would pay).
 */
const LOOKS_COMBINED = /^\S+ \S+ \S+ \[[^\]]{26}\] "(?:[^"\\]|\\.)*" \d{3} (?:\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?\r?$/;

/** Bytes of a file's start that are tried (whole lines only): about a hundred lines. */
export const SAMPLE_BYTES = 16 << 10;
/** Share of the sample valid as Combined that settles it without trying the others. */
const CLEARLY_COMBINED = 0.9;

/** The candidates, loaded only when a sample does not plainly look Combined. */
function candidates(): Array<[string | undefined, () => LineCounter]> {
  const { compileFormat, FormatCounter } = require("../count/format.ts") as typeof import("../count/format.ts");
  const { JsonLinesCounter } = require("../count/json-lines.ts") as typeof import("../count/json-lines.ts");
  const { ReferenceCounter } = require("../count/reference.ts") as typeof import("../count/reference.ts");
  return [
    [undefined, () => new ReferenceCounter()],
    ["vhost_combined", () => new FormatCounter(compileFormat("vhost_combined"))],
    ["nginx-timed", () => new FormatCounter(compileFormat("nginx-timed"))],
    ["json", () => new JsonLinesCounter()],
  ];
}

/** Valid lines of `sample` under a counter, and lines read. */
function validLines(make: () => LineCounter, sample: Uint8Array): { valid: number; read: number } {
  const { LineAssembler } = require("../map/read-input.ts") as typeof import("../map/read-input.ts");
  const counter = make();
  const lines = new LineAssembler(counter);
  lines.push(sample);
  lines.end();
  const { valid, read } = counter.toCounts().lines;
  return { valid, read };
}

/** The format the lines of `sample` fit best: undefined for Common/Combined (also when nothing fits better). */
export function detectFormat(sample: Uint8Array): string | undefined {
  const lf = sample.lastIndexOf(10);
  const whole = lf >= 0 ? sample.subarray(0, lf + 1) : sample;
  // The default almost always settles it, by its shape alone.
  const text = new TextDecoder("latin1").decode(whole).split("\n").filter((l) => l !== "");
  if (text.filter((l) => LOOKS_COMBINED.test(l)).length >= text.length * CLEARLY_COMBINED) return undefined;
  const all = candidates();
  const combined = validLines(all[0]![1], whole);
  if (combined.valid >= combined.read * CLEARLY_COMBINED) return undefined;
  let best: string | undefined;
  let bestValid = combined.valid;
  for (const [format, make] of all.slice(1)) {
    const { valid } = validLines(make, whole);
    if (valid > bestValid) {
      best = format;
      bestValid = valid;
    }
  }
  if (best !== undefined && bestValid >= combined.read * CLEARLY_COMBINED) return best;
  return withExtraFields(text) ?? best;
}

/** A Combined line's start (its agent's closing quote ends the match), with vhost_combined's `host:port ` before it or not. */
const COMBINED_START = /^(\S+:\d+ )?\S+ \S+ \S+ \[[^\]]{26}\] "(?:[^"\\]|\\.)*" \d{3} (?:\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"/;
/** Prefix of the names given to fields nobody named; their values are not counted. */
export const EXTRA_FIELD = "extra_";

/**
 * Combined or vhost_combined with fields appended that no preset names
 * (Apache's %D, a request id): the lines are read with those fields as
 * opaque tokens, so they count, and the note says how to name them. No
 * guess about what a number means: a wrong response time is worse than none.
 */
function withExtraFields(lines: string[]): string | undefined {
  const shapes = new Map<string, number>();
  for (const line of lines) {
    const m = COMBINED_START.exec(line.replace(/\r$/, ""));
    if (!m) continue;
    const rest = line.replace(/\r$/, "").slice(m[0].length);
    if (!/^( [^ ]+)+$/.test(rest)) continue;
    const shape = `${m[1] ? "vhost" : "combined"} ${rest.split(" ").length - 1}`;
    shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
  }
  const [shape, count] = [...shapes].sort((a, b) => b[1] - a[1])[0] ?? ["", 0];
  if (count < lines.length * CLEARLY_COMBINED) return undefined;
  const [base, n] = shape.split(" ");
  const extra = Array.from({ length: Number(n) }, (_, k) => k + 1);
  if (base === "vhost") return `${FORMAT_PRESETS.vhost_combined} ${extra.map((k) => `%{${EXTRA_FIELD}${k}}e`).join(" ")}`;
  return `${FORMAT_PRESETS.combined} ${extra.map((k) => `$${EXTRA_FIELD}${k}`).join(" ")}`;
}

/** The note on stderr for a file read in a detected format. */
export function detectedNote(path: string, format: string): string {
  if (!format.includes(EXTRA_FIELD)) return `${path}: read as ${format}, which its first lines fit (--format to choose)`;
  const n = format.split(EXTRA_FIELD).length - 1;
  const apache = format.startsWith("apache:");
  // The usual meaning of one appended number, offered as the format to give, not assumed.
  const timed = format.replace(apache ? `%{${EXTRA_FIELD}1}e` : `$${EXTRA_FIELD}1`, apache ? "%D" : "$request_time");
  return `${path}: read as ${apache ? "vhost_combined" : "combined"}, which its first lines fit, and ${n} more field${n === 1 ? "" : "s"} after the user agent, not counted; if the first is a response time: --format '${timed}'`;
}

/** Compressed bytes read to sample a gzip file: a few times SAMPLE_BYTES once expanded, at most about 8 MB. */
const GZIP_SAMPLE_BYTES = 8 << 10;

/**
 * The first decompressed bytes of a gzip file (a rotated log), for
 * detectFormat; null when they cannot be read (reading the file says why).
 */
export function gzipSampleOf(path: string, fd?: number): Uint8Array | null {
  const { constants, gunzipSync } = require("node:zlib") as typeof import("node:zlib");
  const head = readStart(path, fd, GZIP_SAMPLE_BYTES);
  try {
    // A sync flush gives what the truncated stream holds so far instead of failing on its end.
    const out = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
    return out.subarray(0, SAMPLE_BYTES);
  } catch {
    return null;
  }
}

/**
 * The first decompressed bytes of zstd, bzip2 and xz files, for
 * detectFormat, from one child process (sample-compressed.ts); null for a
 * file nothing came out of (reading it says why).
 */
export function compressedSamplesOf(files: ReadonlyArray<{ path: string; codec: string; fd?: number }>): Array<Uint8Array | null> {
  if (files.length === 0) return [];
  const script = new URL("./sample-compressed.ts", import.meta.url).pathname;
  // The files planned, through their descriptors, whatever has the name now.
  const where = (f: { path: string; fd?: number }) => (f.fd !== undefined && existsSync(`/proc/${process.pid}/fd/${f.fd}`) ? `/proc/${process.pid}/fd/${f.fd}` : f.path);
  const args = files.flatMap((f) => [where(f), f.codec]);
  const out = Bun.spawnSync([process.execPath, script, String(SAMPLE_BYTES), ...args], { stdout: "pipe", stderr: "ignore", timeout: 10_000 }).stdout;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const samples: Array<Uint8Array | null> = [];
  for (let at = 0; samples.length < files.length; ) {
    if (at + 4 > out.length) {
      samples.push(null);
      continue;
    }
    const n = view.getUint32(at, true);
    samples.push(n > 0 ? new Uint8Array(out.subarray(at + 4, at + 4 + n)) : null);
    at += 4 + n;
  }
  return samples;
}

/** The first bytes of a plain file, for detectFormat. */
export function sampleOf(path: string, fd?: number): Uint8Array {
  return readStart(path, fd, SAMPLE_BYTES);
}

function readStart(path: string, fd: number | undefined, bytes: number): Uint8Array {
  const own = fd === undefined;
  const handle = fd ?? openSync(path, "r");
  try {
    const buf = new Uint8Array(bytes);
    return buf.subarray(0, readSync(handle, buf, 0, bytes, 0));
  } finally {
    if (own) closeSync(handle);
  }
}
