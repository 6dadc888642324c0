// The map side: a child process that reads tasks (one JSON object per line)
// on stdin and writes one partial per task (one JSON line each) on stdout.
// Runs standalone too: `bun src/worker.ts < tasks.jsonl > partials.jsonl`.
// No consola here: stdout carries only partials, written once at the end;
// stderr carries progress lines (PROGRESS_PREFIX + JSON) and error messages.

import { closeSync, existsSync, fstatSync, openSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { counterFor } from "../count/counter.ts";
import { FAULT_ENV, FAULT_GATE_ENV, type FaultKind, faultFor, parseFaults, pausesAt } from "../core/faults.ts";
import { identityProblem } from "./identity.ts";
import { countFileRange, countGenerated, countCompressedFile, countStream, FileChangedError, InputFaultError, type ProgressHook } from "./read-input.ts";
import type { TaskPartial } from "../core/partial.ts";
import { EXIT_INPUT_CHANGED, EXIT_INPUT_CORRUPT, FATAL_PREFIX, PARENT_PID_ENV, PROGRESS_PREFIX, SPILL_ENV } from "../core/protocol.ts";
import { WhereTooSlowError } from "../count/where.ts";
import { readSome, writeAll } from "../core/fd.ts";
import { LineSplitter } from "../core/lines.ts";
import { type FileRangeTask, type CompressedTask, parseTask, type Task } from "../core/task.ts";

const readyAt = performance.timeOrigin + performance.now();
const now = () => performance.timeOrigin + performance.now();

const PROGRESS_EVERY_MS = 100;

const parentAtStart = Number(process.env[PARENT_PID_ENV]) || process.ppid;

/** A worker whose parent died (even by SIGKILL) has been re-parented: it stops. */
function exitIfOrphaned(): void {
  if (process.ppid !== parentAtStart) process.exit(1);
}

function progressReporter(task: Task): ProgressHook {
  let last = 0;
  return (done) => {
    const t = performance.now();
    if (t - last < PROGRESS_EVERY_MS) return;
    last = t;
    exitIfOrphaned();
    try {
      // Synchronous: the counting loops never yield to the event loop.
      writeSync(2, `${PROGRESS_PREFIX}${JSON.stringify({ task: task.id, done })}\n`);
    } catch {
      // a full pipe: skip this report, the next one will do
    }
  };
}

/**
 * Opens a task's file: through the parent's descriptor when it gave one (the
 * file it planned, whatever has the name now), else by name; either way
 * checked against the identity planned.
 */
function openPinned(task: FileRangeTask | CompressedTask, parentPid = process.env[PARENT_PID_ENV]): number {
  let fd: number | undefined;
  if (task.fd !== undefined && parentPid) {
    try {
      fd = openSync(`/proc/${parentPid}/fd/${task.fd}`, "r");
    } catch {
      // no /proc here, or not allowed: by name, checked below
    }
  }
  fd ??= openSync(task.path, "r");
  if (task.identity) {
    const problem = identityProblem(fd, task.path, task.identity);
    if (problem) {
      closeSync(fd);
      throw new FileChangedError(problem);
    }
  }
  return fd;
}

/**
 * Runs one task to its partial. `parentPid` is the process whose descriptors
 * the task names (the parent's, or this process's own when the parent maps
 * a small stretch itself, --follow).
 */
export async function runTask(task: Task, progress?: ProgressHook, parentPid?: string): Promise<TaskPartial> {
  const startedAt = now();
  const spillEnv = process.env[SPILL_ENV];
  const counter = spillEnv ? await spillingCounterFor(task, spillEnv) : counterFor(task);
  let covered: [number, number] | undefined;
  switch (task.kind) {
    case "generate": {
      // Loaded on the first such task: its tables cost a file worker ~10 ms of start-up.
      const { LineGenerator } = await import("./generate.ts");
      countGenerated(new LineGenerator(task.seed, task.generator), task, counter, progress);
      break;
    }
    case "file": {
      const fd = openPinned(task, parentPid);
      try {
        covered = countFileRange(fd, task.start, task.end, counter, { size: task.identity?.size, name: task.path, progress });
      } finally {
        closeSync(fd);
      }
      break;
    }
    case "segment": {
      const fd = openSync(task.path, "r");
      try {
        covered = countFileRange(fd, 0, task.end - task.start, counter, { size: task.end - task.start, base: task.start, name: "the saved standard input", progress });
      } finally {
        closeSync(fd);
      }
      break;
    }
    case "compressed": {
      const fd = openPinned(task, parentPid);
      try {
        await countCompressedFile(fd, task.identity?.size ?? fstatSync(fd).size, task.codec, counter, { name: task.path, progress });
      } finally {
        closeSync(fd);
      }
      break;
    }
    case "stdin":
      await countStream(Bun.stdin.stream(), counter, progress);
      break;
  }
  const counts = counter.toCounts();
  for (const s of counts.malformedSamples) s.input = task.input;
  if (process.env[SPILL_ENV]) await spillIfLarge(counts, task);
  const { attempt: _, ...echo } = task;
  return {
    ...counts,
    taskId: task.id,
    task: echo as Task,
    ...(covered ? { covered } : {}),
    timings: {
      readyAt,
      startedAt,
      endedAt: now(),
      pid: process.pid,
      maxRssKb: process.resourceUsage().maxRSS,
      host: process.env.LOGMR_HOST || hostname(),
      attempt: task.attempt ?? 1,
    },
  };
}

/** Under --memory: a counter that moves its tables to sorted runs whenever they pass the worker's share of keys. */
async function spillingCounterFor(task: Task, spillEnv: string) {
  const { SpillingCounter } = await import("../shuffle/spilling-counter.ts");
  const { maxKeys } = JSON.parse(spillEnv) as { maxKeys: number };
  return new SpillingCounter(() => counterFor(task), maxKeys, (counts, segment) => {
    const { parseSpillConfig, spillableTables, spillPartial } = require("../shuffle/spill-partial.ts") as typeof import("../shuffle/spill-partial.ts");
    spillPartial(counts, parseSpillConfig(spillEnv)!, `t${task.id}-a${task.attempt ?? 1}-s${segment}`, spillableTables(counts));
  });
}

/** Under --memory: a partial with more keyed rows than the parent may hold inline names sorted runs instead. */
async function spillIfLarge(counts: ReturnType<ReturnType<typeof counterFor>["toCounts"]>, task: Task): Promise<void> {
  // The spill code loads only for a partial over the least inline limit (most never are).
  const { keyedRows, MIN_INLINE_ROWS } = await import("../shuffle/tables.ts");
  if (keyedRows(counts) <= MIN_INLINE_ROWS) return;
  const { inlineLimit, parseSpillConfig, spillableTables, spillPartial } = await import("../shuffle/spill-partial.ts");
  const config = parseSpillConfig(process.env[SPILL_ENV])!;
  const tables = spillableTables(counts);
  if (keyedRows(counts, tables) > inlineLimit(task, config)) spillPartial(counts, config, `t${task.id}-a${task.attempt ?? 1}`, tables);
}

/**
 * The tasks, as they arrive: the parent feeds a task whenever the last
 * partial came back, so a faster worker takes more of them.
 */
async function* readTasks(): AsyncGenerator<Task> {
  // `--raw [--id N]`: stdin is log data (for GNU parallel --pipe-part), one task.
  const raw = process.argv.indexOf("--raw");
  if (raw >= 0) {
    const at = process.argv.indexOf("--id");
    const id = at >= 0 ? Number(process.argv[at + 1]) : 0;
    yield parseTask(JSON.stringify({ version: 1, id, input: 0, kind: "stdin" }));
    return;
  }
  // Read synchronously: a worker has nothing else to do while it waits, and
  // it starts its next task sooner (see readSome).
  const lines = new LineSplitter();
  const chunk = new Uint8Array(1 << 16);
  for (let n = readSome(0, chunk); n > 0; n = readSome(0, chunk)) {
    for (const line of lines.push(chunk.subarray(0, n))) if (line.trim() !== "") yield parseTask(line);
  }
  const last = lines.end();
  if (last !== undefined && last.trim() !== "") yield parseTask(last);
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** Misbehaves as asked (tests only); returns the line to write instead of the partial, if any. */
async function injectFault(kind: FaultKind, json: string): Promise<string | undefined> {
  process.stderr.write(`injected fault: ${kind}\n`);
  switch (kind) {
    case "crash":
      process.exit(70);
      break;
    case "kill":
      process.kill(process.pid, "SIGKILL");
      break;
    case "silent":
      process.exit(0);
      break;
    case "hang":
      // No progress, no exit; only the parent's timeout (or its death) ends this.
      setInterval(exitIfOrphaned, 200);
      await new Promise(() => {});
      break;
    case "garbage":
      return "this is not a partial";
    case "truncate":
      return json.slice(0, json.length >> 1);
    case "shape": {
      const p = JSON.parse(json);
      p.lines.read += 1;
      return JSON.stringify(p);
    }
  }
  return undefined;
}

/**
 * The "pause" fault: wait before the task until the file named by
 * FAULT_GATE_ENV exists, after creating that name + ".waiting", so a test can
 * change an input between planning and the map at a moment it knows.
 */
async function pauseAtGate(): Promise<void> {
  const gate = process.env[FAULT_GATE_ENV];
  if (!gate) throw new Error(`the pause fault needs ${FAULT_GATE_ENV}`);
  writeFileSync(`${gate}.waiting`, String(process.pid));
  while (!existsSync(gate)) {
    exitIfOrphaned();
    await Bun.sleep(10);
  }
}

async function main(): Promise<void> {
  // Streams (gzip, stdin) yield to the event loop: watch the parent there too.
  setInterval(exitIfOrphaned, 500).unref();
  try {
    const faults = parseFaults(process.env[FAULT_ENV]);
    for await (const task of readTasks()) {
      if (pausesAt(faults, task.id, task.attempt ?? 1)) await pauseAtGate();
      // Progress is for our own parent; run standalone or by GNU parallel, stderr stays quiet.
      const partial = await runTask(task, process.env[PARENT_PID_ENV] ? progressReporter(task) : undefined);
      const spilled = partial.spill !== undefined;
      const json = JSON.stringify(partial);
      const fault = faultFor(faults, task.id, task.attempt ?? 1);
      // Each partial as soon as it is ready, written in full (synchronously:
      // a large write to a pipe is never cut short); the process then ends
      // by itself when its stdin does.
      writeAll(1, Buffer.from(`${(fault && (await injectFault(fault, json))) ?? json}\n`));
      // A task that spilled had large tables: give them back before the next task, so a worker holds one task's at a time.
      if (spilled) Bun.gc(true);
    }
  } catch (err) {
    if (err instanceof Error && err.name === "SpillWriteError") {
      const { spillProblem } = await import("../shuffle/spill-dir.ts");
      const { parseSpillConfig } = await import("../shuffle/spill-partial.ts");
      process.stderr.write(`${FATAL_PREFIX}${spillProblem((err as Error & { failure: unknown }).failure, parseSpillConfig(process.env[SPILL_ENV])!.dir)}\n`);
      process.exitCode = EXIT_INPUT_CHANGED;
      return;
    }
    if (err instanceof InputFaultError || err instanceof WhereTooSlowError) {
      // The same task would fail again: the parent stops the run with this line (or skips a corrupt input).
      process.stderr.write(`${FATAL_PREFIX}${err.message}\n`);
      process.exitCode = err instanceof FileChangedError || err instanceof WhereTooSlowError ? EXIT_INPUT_CHANGED : EXIT_INPUT_CORRUPT;
      return;
    }
    process.stderr.write(`worker error: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.main) await main();
