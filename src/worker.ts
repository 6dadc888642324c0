// The map side: a child process that reads tasks (one JSON object per line)
// on stdin and writes one partial per task (one JSON line each) on stdout.
// Runs standalone too: `bun src/worker.ts < tasks.jsonl > partials.jsonl`.
// No consola here: stdout carries only partials, written once at the end.

import { LogCounter } from "./count.ts";
import { countFileRange, countGenerated, countGzipFile, countStream } from "./input.ts";
import type { TaskPartial } from "./partial.ts";
import { parseTask, type Task } from "./task.ts";

const readyAt = performance.timeOrigin + performance.now();
const now = () => performance.timeOrigin + performance.now();

/** Environment variable that carries the task when stdin carries the data. */
export const STDIN_TASK_ENV = "LOGMR_STDIN_TASK";

export async function runTask(task: Task): Promise<TaskPartial> {
  const startedAt = now();
  const counter = new LogCounter(task.window);
  switch (task.kind) {
    case "generate":
      countGenerated(task, counter);
      break;
    case "file":
      countFileRange(task.path, task.start, task.end, counter);
      break;
    case "gzip":
      await countGzipFile(task.path, counter);
      break;
    case "stdin":
      await countStream(Bun.stdin.stream(), counter);
      break;
  }
  const counts = counter.toCounts();
  for (const s of counts.malformedSamples) s.input = task.input;
  return {
    ...counts,
    taskId: task.id,
    timings: { readyAt, startedAt, endedAt: now(), pid: process.pid, maxRssKb: process.resourceUsage().maxRSS },
  };
}

async function readTasks(): Promise<Task[]> {
  const inline = process.env[STDIN_TASK_ENV];
  if (inline) return [parseTask(inline)];
  const text = await Bun.stdin.text();
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map(parseTask);
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

async function main(): Promise<void> {
  let out = "";
  try {
    for (const task of await readTasks()) out += `${JSON.stringify(await runTask(task))}\n`;
  } catch (err) {
    process.stderr.write(`worker error: ${errorMessage(err)}\n`);
    process.exitCode = 1;
    return;
  }
  // One write, then let the process end by itself so a large pipe write completes.
  process.stdout.write(out);
}

if (import.meta.main) await main();
