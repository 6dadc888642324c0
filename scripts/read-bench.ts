#!/usr/bin/env bun
// How long the parent takes to read one long partial line from a child's
// stdout, the way runChild reads it (LineSplitter over the pipe's chunks),
// for lines of 25 MB and 100 MB: linear reading takes about four times as
// long for four times the bytes. `--old` also times the former way (a string
// grown chunk by chunk and searched from its start for a newline each time).
// Usage: bun scripts/read-bench.ts [--runs 5] [--old]

import { LineSplitter } from "../src/core/lines.ts";
import { stats } from "../src/core/stats.ts";
import { numberFlag } from "./flags.ts";

const RUNS = numberFlag("runs", 5);
const OLD = process.argv.includes("--old");
const SIZES_MB = [25, 100];

/** A child that writes one line of `mb` megabytes (JSON-like text) and a newline, in one write. */
function writer(mb: number) {
  const code = `const n=${mb}e6;const b=Buffer.alloc(n+1,0x61);b[0]=0x7b;b[n-1]=0x7d;b[n]=10;require("node:fs").writeSync(1,b);`;
  return Bun.spawn([process.execPath, "-e", code], { stdout: "pipe" });
}

async function linear(mb: number): Promise<number> {
  const child = writer(mb);
  const t = performance.now();
  const lines = new LineSplitter();
  let got = 0;
  for await (const chunk of child.stdout) for (const line of lines.push(chunk)) got += line.length;
  await child.exited;
  if (got !== mb * 1e6) throw new Error(`read ${got} of ${mb * 1e6}`);
  return performance.now() - t;
}

async function quadratic(mb: number): Promise<number> {
  const child = writer(mb);
  const t = performance.now();
  const decoder = new TextDecoder();
  let pending = "";
  let got = 0;
  for await (const chunk of child.stdout) {
    pending += decoder.decode(chunk, { stream: true });
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      got += nl;
      pending = pending.slice(nl + 1);
    }
  }
  await child.exited;
  if (got !== mb * 1e6) throw new Error(`read ${got} of ${mb * 1e6}`);
  return performance.now() - t;
}

const ways: Array<[string, (mb: number) => Promise<number>]> = [["LineSplitter", linear], ...(OLD ? [["string + indexOf", quadratic] as [string, (mb: number) => Promise<number>]] : [])];
for (const [name, read] of ways) {
  const medians: number[] = [];
  for (const mb of SIZES_MB) {
    const times: number[] = [];
    // Interleaved with nothing else: one size after the other, RUNS each.
    for (let k = 0; k < RUNS; k++) times.push(await read(mb));
    const { median, min, max } = stats(times);
    medians.push(median);
    console.log(`${name.padEnd(17)} ${String(mb).padStart(4)} MB line: median ${median.toFixed(0)} ms (${min.toFixed(0)} .. ${max.toFixed(0)}, ${RUNS} runs)`);
  }
  console.log(`${name.padEnd(17)} ratio ${SIZES_MB[1]} MB / ${SIZES_MB[0]} MB: ${(medians[1]! / medians[0]!).toFixed(2)} (4 is linear)`);
}
