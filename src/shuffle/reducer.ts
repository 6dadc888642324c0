// The reduce side: a child process that reads one ReduceJob (JSON) on stdin
// and writes its PartitionResult (one JSON line) on stdout. Like the worker,
// no consola here, and the result is written once, in full.

import { writeSync } from "node:fs";
import { FATAL_PREFIX, EXIT_INPUT_CHANGED, PROGRESS_PREFIX } from "../core/protocol.ts";
import { writeAll } from "../core/fd.ts";
import { faultFor, parseFaults } from "../core/faults.ts";
import { type ReduceJob, reducePartition, RunContentError } from "./reduce-partition.ts";
import { spillProblem } from "./spill-dir.ts";

/** Fault injection for reducers (tests and the soak): LOGMR_FAULTS's syntax, with the partition for the task. */
export const REDUCE_FAULT_ENV = "LOGMR_REDUCE_FAULTS";

async function main(): Promise<void> {
  const job = JSON.parse(await Bun.stdin.text()) as ReduceJob;
  let json: string;
  try {
    let last = 0;
    json = JSON.stringify(reducePartition(job, (rows) => {
      const t = performance.now();
      if (t - last < 100) return;
      last = t;
      // Synchronous: the merge never yields to the event loop. The parent's no-progress timeout watches these.
      writeSync(2, `${PROGRESS_PREFIX}${JSON.stringify({ task: job.partition, done: rows })}\n`);
    }));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A damaged run, or a disk that cannot take the candidates: no other attempt would do better.
    if (err instanceof RunContentError || code === "ENOSPC" || code === "EACCES" || code === "EROFS") {
      process.stderr.write(`${FATAL_PREFIX}${err instanceof RunContentError ? err.message : spillProblem(err, job.dir)}\n`);
      process.exitCode = EXIT_INPUT_CHANGED;
      return;
    }
    throw err;
  }
  const fault = faultFor(parseFaults(process.env[REDUCE_FAULT_ENV]), job.partition, job.attempt ?? 1);
  if (fault) {
    process.stderr.write(`injected fault: ${fault}\n`);
    if (fault === "crash") process.exit(70);
    if (fault === "kill") process.kill(process.pid, "SIGKILL");
    if (fault === "silent") process.exit(0);
    if (fault === "hang") await new Promise(() => {});
    if (fault === "garbage") json = "this is not a result";
    if (fault === "truncate") json = json.slice(0, json.length >> 1);
    if (fault === "shape") {
      const r = JSON.parse(json);
      for (const t of Object.values(r.tables) as Array<{ sums: number[] }>) t.sums[0]! += 1;
      json = JSON.stringify(r);
    }
  }
  writeAll(1, Buffer.from(`${json}\n`));
}

if (import.meta.main) await main();
