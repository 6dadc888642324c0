#!/usr/bin/env bun
// Soak test for re-execution: many runs, each with a random fault injected
// (seeded, so a failure reproduces), every run's counts compared with a
// clean run's. Usage: bun scripts/soak.ts [--runs 200] [--seed 1]

import { FAULT_KINDS } from "../src/faults.ts";
import { numberFlag } from "./flags.ts";

const RUNS = numberFlag("runs", 200);
let state = numberFlag("seed", 1) >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;

const ENTRY = new URL("../analyze.ts", import.meta.url).pathname;
const FIXTURE = new URL("../test/fixtures/mixed-garbage.log", import.meta.url).pathname;
// Small inputs with several tasks each: generated lines on 3 workers, and a real file.
const INPUTS = [
  { name: "generated", args: ["--lines", "60000", "--workers", "3"], tasks: 3 },
  { name: "file", args: [FIXTURE, FIXTURE, "--workers", "2"], tasks: 2 },
];

async function run(input: (typeof INPUTS)[number], faults: string | null) {
  const child = Bun.spawn([process.execPath, ENTRY, ...input.args, "--json", "--task-timeout", "0.8", "--retries", "2"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LOGMR_FAULTS: faults ?? "" },
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`exit ${code} with faults ${faults}: ${err.trim()}`);
  const doc = JSON.parse(out);
  return { data: JSON.stringify(doc.data), retries: doc.run.retries.length as number };
}

const started = performance.now();
const clean = new Map<string, string>();
for (const input of INPUTS) clean.set(input.name, (await run(input, null)).data);
const byKind = new Map<string, number>();
let retried = 0;
let mismatches = 0;
for (let k = 0; k < RUNS; k++) {
  const input = pick(INPUTS);
  const kind = pick(FAULT_KINDS);
  const task = Math.floor(random() * input.tasks);
  // Now and then the retry fails as well (still within --retries 2).
  const faults = random() < 0.2 ? `${kind}@${task},${pick(FAULT_KINDS)}@${task}:2` : `${kind}@${task}`;
  const result = await run(input, faults);
  byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  retried += result.retries;
  if (result.data !== clean.get(input.name)) {
    mismatches++;
    console.error(`run ${k + 1}: counts differ from the clean run (${input.name}, ${faults})`);
  }
}
const seconds = (performance.now() - started) / 1000;
console.log(`${RUNS} runs with one injected fault each (${[...byKind].map(([k, n]) => `${k} ${n}`).join(", ")}) in ${seconds.toFixed(1)} s`);
console.log(`${retried} tasks retried; ${mismatches === 0 ? "every run's counts equal the clean run's" : `${mismatches} runs differ`}`);
process.exitCode = mismatches === 0 ? 0 : 1;
