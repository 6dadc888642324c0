#!/usr/bin/env bun
// What the C yardstick's per-line work costs on Bun, beside the engine's.
// Three loops over the same generated lines, in one process, interleaved:
//   generate  the engine's generator alone (LineGenerator.fill)
//   minimal   generate, then what `limit gen` does with a line: the client
//             (bytes up to the first space, hashed, not compared) and the
//             status (after the request's closing quote), counted; no
//             validation, no other field
//   engine    generate, then the engine's parser and counters (countBlock)
// Prints each loop's median ns a line over the passes. See docs/profiling.md.
//
//   bun scripts/floor.ts [--passes 9] [--lines 300000]

import { FastCombinedCounter as LogCounter } from "../src/count/fast/combined.ts";
import { DEFAULT_GENERATOR, DEFAULT_SEED, LineGenerator } from "../src/map/generate.ts";
import { numberFlag } from "./flags.ts";

const PASSES = numberFlag("passes", 9);
const LINES = numberFlag("lines", 300_000);

const statusCounts = new Float64Array(1000);
const clientCounts = new Float64Array(1 << 12);

function countMinimal(buf: Uint8Array, n: number): void {
  let p = 0;
  while (p < n) {
    const lineEnd = buf.indexOf(10, p);
    let h = 0x811c9dc5 | 0;
    let k = p;
    for (let c = buf[k]!; c !== 32; c = buf[++k]!) h = Math.imul(h ^ c, 16777619);
    const bracket = buf.indexOf(91, k);
    const q = buf.indexOf(34, bracket + 30);
    statusCounts[(buf[q + 2]! - 48) * 100 + (buf[q + 3]! - 48) * 10 + buf[q + 4]! - 48]!++;
    clientCounts[(h ^ (h >>> 16)) & 4095]!++;
    p = lineEnd + 1;
  }
}

const MODES = ["generate", "minimal", "engine"] as const;
type Mode = (typeof MODES)[number];

function pass(mode: Mode, buf: Uint8Array): number {
  const gen = new LineGenerator(DEFAULT_SEED, DEFAULT_GENERATOR);
  const counter = new LogCounter({}, "full");
  const t0 = performance.now();
  for (let i = 0; i < LINES; i = gen.next) {
    const n = gen.fill(buf, i, LINES);
    if (mode === "minimal") countMinimal(buf, n);
    else if (mode === "engine") counter.countBlock(buf, 0, n, true, 0);
  }
  const ns = ((performance.now() - t0) * 1e6) / LINES;
  if (mode === "engine" && counter.tally.requests !== LINES) throw new Error(`engine counted ${counter.tally.requests} of ${LINES} lines`);
  return ns;
}

const buf = new Uint8Array(1 << 16);
const times = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
for (const mode of MODES) pass(mode, buf); // warm-up: every loop compiled before timing
for (let k = 0; k < PASSES; k++) for (const mode of MODES) times.get(mode)!.push(pass(mode, buf));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const generate = median(times.get("generate")!);
console.log(`${LINES.toLocaleString("en")} generated lines a pass, median of ${PASSES} interleaved passes, one process:`);
for (const mode of MODES) {
  const m = median(times.get(mode)!);
  const parse = mode === "generate" ? "" : `  (parse and count ${(m - generate).toFixed(0)} ns)`;
  console.log(`  ${mode.padEnd(9)} ${m.toFixed(0).padStart(5)} ns a line${parse}`);
}
