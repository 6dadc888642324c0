#!/usr/bin/env bun
// Soak test for re-execution: many runs, each with a random fault injected
// (seeded, so a failure reproduces), every run's counts compared with a
// clean run's. Inputs: generated lines, files, standard input (cut into
// small segments, so it makes several tasks), and a file that logrotate
// replaces between planning and the map (renamed away, a new file of the
// same size in its place), which must still count the planned file; and a
// file of distinct clients under --memory, whose tables spill inside and at
// the end of tasks, with faults in its reducers as well as its mappers (its
// clean run is the in-memory one).
// Usage: bun scripts/soak.ts [--runs 200] [--seed 1]

import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FAILURE_KINDS } from "../src/core/faults.ts";
import { numberFlag } from "./flags.ts";
import { rng } from "../test/helpers.ts";

const RUNS = numberFlag("runs", 200);
const random = rng(numberFlag("seed", 1));
const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;

const ENTRY = new URL("../analyze.ts", import.meta.url).pathname;
const FIXTURE = new URL("../test/fixtures/mixed-garbage.log", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "logmr-soak-"));
const ROTATED = join(dir, "access.log");

interface Input {
  name: string;
  args: string[];
  tasks: number;
  stdin?: Uint8Array;
  env?: Record<string, string>;
  /** Applied while every worker waits before its first task (the pause fault and its gate). */
  change?: () => void;
  /** Reduce partitions that may get the fault instead of a map task. */
  reducers?: number;
  /** The clean run's arguments, when not `args`. */
  cleanArgs?: string[];
}
const SPILLED = join(dir, "distinct-clients.log");
{
  const lines: string[] = [];
  for (let i = 0; i < 40_000; i++) {
    lines.push(`10.1.${(i >> 8) & 255}.${i & 255} - - [27/Nov/2026:10:00:${String(i % 60).padStart(2, "0")} +0000] "GET /item/${i >> 1}x HTTP/1.1" ${i % 9 === 0 ? 404 : 200} ${i % 1000} "-" "agent/${i % 13}"`);
  }
  writeFileSync(SPILLED, `${lines.join("\n")}\n`);
}
// Small inputs with several tasks each.
const INPUTS: Input[] = [
  { name: "generated", args: ["--lines", "60000", "--workers", "3"], tasks: 3 },
  { name: "file", args: [FIXTURE, FIXTURE, "--workers", "2"], tasks: 2 },
  // About 790 KB in segments of 100 KB: eight tasks.
  { name: "stdin", args: ["-", "--workers", "2"], tasks: 8, stdin: new Uint8Array(Buffer.concat([readFileSync(FIXTURE), readFileSync(FIXTURE)])), env: { LOGMR_SEGMENT_BYTES: "100000" } },
  {
    name: "spilled",
    args: [SPILLED, "--workers", "2", "--memory", "400M", "--partitions", "3"],
    cleanArgs: [SPILLED, "--workers", "2", "--memory", "16G"],
    tasks: 2,
    reducers: 3,
    env: { LOGMR_SPILL_KEYS: "8000" },
  },
  {
    name: "replaced file",
    args: [ROTATED, "--workers", "1"],
    tasks: 1,
    change: () => {
      renameSync(ROTATED, `${ROTATED}.1`);
      writeFileSync(ROTATED, readFileSync(FIXTURE, "latin1").replaceAll('" 200 ', '" 404 '), "latin1");
    },
  },
];

async function run(input: Input, faults: string | null, reduceFaults: string | null = null) {
  if (input.args.includes(ROTATED)) copyFileSync(FIXTURE, ROTATED);
  const gate = join(dir, `gate-${Math.random().toString(36).slice(2)}`);
  const all = [faults, input.change ? "pause@*" : null].filter(Boolean).join(",");
  const child = Bun.spawn([process.execPath, ENTRY, ...input.args, "--json", "--task-timeout", "0.8", "--retries", "2"], {
    stdin: input.stdin ? new Blob([input.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...input.env, LOGMR_FAULTS: all, LOGMR_FAULT_GATE: gate, LOGMR_REDUCE_FAULTS: reduceFaults ?? "" },
  });
  const result = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (input.change) {
    while (!existsSync(`${gate}.waiting`)) await Bun.sleep(5);
    input.change();
    writeFileSync(gate, "");
  }
  const [out, err, code] = await result;
  if (code !== 0) throw new Error(`exit ${code} with faults ${all} ${reduceFaults ?? ""} (${input.name}): ${err.trim()}`);
  const doc = JSON.parse(out);
  const { input: _, ...data } = doc.data;
  return { data: JSON.stringify(data), retries: (doc.run.retries.length as number) + (doc.run.memory?.retries?.length ?? 0) };
}

const started = performance.now();
const clean = new Map<string, string>();
// The clean run of every input is the fixture's, unchanged, however it is read.
for (const input of INPUTS) clean.set(input.name, (await run({ ...input, args: input.cleanArgs ?? input.args, change: undefined }, null)).data);
const byKind = new Map<string, number>();
const byInput = new Map<string, number>();
let retried = 0;
let mismatches = 0;
try {
  for (let k = 0; k < RUNS; k++) {
    const input = pick(INPUTS);
    const kind = pick(FAILURE_KINDS);
    const reducer = input.reducers !== undefined && random() < 0.5;
    const task = Math.floor(random() * (reducer ? input.reducers! : input.tasks));
    // Now and then the retry fails as well (still within --retries 2), another
    // way: a partial refused twice for the same reason is not tried again.
    const faults = random() < 0.2 ? `${kind}@${task},${pick(FAILURE_KINDS.filter((k) => k !== kind))}@${task}:2` : `${kind}@${task}`;
    const result = reducer ? await run(input, null, faults) : await run(input, faults);
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    byInput.set(reducer ? `${input.name} (a reducer)` : input.name, (byInput.get(reducer ? `${input.name} (a reducer)` : input.name) ?? 0) + 1);
    retried += result.retries;
    if (result.data !== clean.get(input.name)) {
      mismatches++;
      console.error(`run ${k + 1}: counts differ from the clean run (${input.name}, ${faults})`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const seconds = (performance.now() - started) / 1000;
const list = (m: Map<string, number>) => [...m].map(([k, n]) => `${k} ${n}`).join(", ");
console.log(`${RUNS} runs with one injected fault each (${list(byKind)}; inputs: ${list(byInput)}) in ${seconds.toFixed(1)} s`);
console.log(`${retried} tasks retried; ${mismatches === 0 ? "every run's counts equal the clean run's" : `${mismatches} runs differ`}`);
process.exitCode = mismatches === 0 ? 0 : 1;
