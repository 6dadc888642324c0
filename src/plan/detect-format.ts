// Which format a log is in, when the user did not say: the first lines are
// read under each candidate (Combined, vhost_combined, nginx-timed, JSON) and the one
// under which most are valid wins; ties go to Combined, the default.

import { closeSync, openSync, readSync } from "node:fs";
import type { LineCounter } from "../count/counter.ts";

/**
 * The shape of a Combined or Common line, roughly: enough to see at once
 * that a sample is the default format without loading the parsers (a
 * start-up cost every file run would pay).
 */
const LOOKS_COMBINED = /^\S+ \S+ \S+ \[[^\]]{26}\] "(?:[^"\\]|\\.)*" \d{3} (?:\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?\r?$/;

/** Bytes of a file's start that are tried (whole lines only): about a hundred lines. */
const SAMPLE_BYTES = 16 << 10;
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
  return best;
}

/** The first bytes of a plain file, for detectFormat. */
export function sampleOf(path: string, fd?: number): Uint8Array {
  const own = fd === undefined;
  const handle = fd ?? openSync(path, "r");
  try {
    const buf = new Uint8Array(SAMPLE_BYTES);
    return buf.subarray(0, readSync(handle, buf, 0, SAMPLE_BYTES, 0));
  } finally {
    if (own) closeSync(handle);
  }
}
