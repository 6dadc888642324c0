// The parent side of the map phase: spawn one child per worker slot, hand each
// a batch of tasks on stdin, collect and validate their partials.

import type { Subprocess } from "bun";
import { PartialError, validatePartial, type TaskPartial } from "./partial.ts";
import { describeTask, taskSize, type Task } from "./task.ts";
import { STDIN_TASK_ENV } from "./worker.ts";

export const WORKER_PATH = new URL("./worker.ts", import.meta.url).pathname;

/** Children still running, so a signal to the parent can take them down too. */
export const liveChildren = new Set<Subprocess>();

export interface ChildRun {
  pid: number;
  tasks: number[];
  spawnAt: number;
  readyAt: number;
  exitAt: number;
  /** Sum of the time its tasks spent working. */
  busyMs: number;
  maxRssKb: number;
}

export interface MapResult {
  partials: TaskPartial[];
  children: ChildRun[];
}

export class MapError extends Error {}

const now = () => performance.timeOrigin + performance.now();
const STDERR_TAIL_LINES = 5;

/**
 * Greedy longest-first assignment of tasks to `slots` batches of similar total
 * size. A stdin task gets a child of its own (that child's stdin is the data).
 */
export function assignBatches(tasks: readonly Task[], slots: number): Task[][] {
  const stdin = tasks.filter((t) => t.kind === "stdin");
  const rest = tasks.filter((t) => t.kind !== "stdin");
  const batches: Task[][] = Array.from({ length: Math.min(Math.max(1, slots - stdin.length), rest.length) }, () => []);
  const load = batches.map(() => 0);
  const bySize = [...rest].sort((a, b) => taskSize(b) - taskSize(a) || a.id - b.id);
  for (const task of bySize) {
    let least = 0;
    for (let k = 1; k < load.length; k++) if (load[k]! < load[least]!) least = k;
    batches[least]!.push(task);
    load[least]! += Math.max(taskSize(task), 1);
  }
  for (const b of batches) b.sort((x, y) => x.id - y.id);
  return [...batches, ...stdin.map((t) => [t])];
}

function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-n).join(" | ");
}

async function runChild(batch: Task[], env: Record<string, string | undefined>): Promise<{ partials: TaskPartial[]; run: ChildRun }> {
  const stdinTask = batch.find((t) => t.kind === "stdin");
  const spawnAt = now();
  const child = Bun.spawn([process.execPath, WORKER_PATH], {
    stdin: stdinTask ? "inherit" : new Blob([batch.map((t) => `${JSON.stringify(t)}\n`).join("")]),
    stdout: "pipe",
    stderr: "pipe",
    env: stdinTask ? { ...env, [STDIN_TASK_ENV]: JSON.stringify(stdinTask) } : env,
  });
  liveChildren.add(child);
  // Read both pipes and the exit together, right away: an unread pipe blocks the child.
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]).finally(() => liveChildren.delete(child));
  const exitAt = now();
  const what = batch.length === 1 ? describeTask(batch[0]!) : `worker ${child.pid} (${batch.map(describeTask).join(", ")})`;
  const tail = lastLines(stderr, STDERR_TAIL_LINES);
  const because = tail ? `; its stderr: ${tail}` : "";
  if (child.signalCode) throw new MapError(`${what} failed: the worker was killed by ${child.signalCode}${because}`);
  if (code !== 0) throw new MapError(`${what} failed: the worker exited with code ${code}${because}`);
  const lines = stdout.split("\n").filter((l) => l !== "");
  if (lines.length !== batch.length) {
    throw new MapError(`${what} failed: the worker returned ${lines.length} partials for ${batch.length} tasks${because}`);
  }
  const partials = batch.map((task, k) => {
    try {
      return validatePartial(JSON.parse(lines[k]!), task.id);
    } catch (err) {
      const cause = err instanceof PartialError ? err.message : "its output is not valid JSON";
      throw new MapError(`${describeTask(task)} failed: ${cause}${because}`);
    }
  });
  const busyMs = partials.reduce((sum, p) => sum + (p.timings.endedAt - p.timings.startedAt), 0);
  const readyAt = partials[0]?.timings.readyAt ?? exitAt;
  const maxRssKb = Math.max(...partials.map((p) => p.timings.maxRssKb));
  return { partials, run: { pid: child.pid, tasks: batch.map((t) => t.id), spawnAt, readyAt, exitAt, busyMs, maxRssKb } };
}

/** Runs every task on `workers` children and returns their validated partials, in task order. */
export async function runMapTasks(
  tasks: readonly Task[],
  options: { workers: number; env?: Record<string, string | undefined> },
): Promise<MapResult> {
  const batches = assignBatches(tasks, options.workers);
  const env = options.env ?? process.env;
  const results = await Promise.all(batches.map((batch) => runChild(batch, env)));
  const partials = results.flatMap((r) => r.partials).sort((a, b) => a.taskId - b.taskId);
  return { partials, children: results.map((r) => r.run) };
}

/** Kills every live child (on SIGINT/SIGTERM). */
export function killChildren(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}
