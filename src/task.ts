// Map tasks: what the parent sends a worker (one JSON object per line on its
// stdin), and how the work is split into them.

import type { GeneratorSettings } from "./traffic.ts";
import type { Counters, TimeWindow } from "./count.ts";

export const TASK_VERSION = 1;

interface TaskBase {
  version: number;
  id: number;
  /** Index of the input this task reads (for messages and line numbers). */
  input: number;
  window?: TimeWindow;
  /** 1 for the first run of this task, 2 for its first retry, ... */
  attempt?: number;
  /** "minimal" to report only clients and statuses (speed comparisons; lines are validated the same). */
  counters?: Counters;
}
export interface GenerateTask extends TaskBase {
  kind: "generate";
  seed: number;
  start: number;
  end: number;
  generator: GeneratorSettings;
}
/** Lines starting in bytes [start, end) of a plain file. */
export interface FileRangeTask extends TaskBase {
  kind: "file";
  path: string;
  start: number;
  end: number;
}
/** A whole gzip file (gzip cannot be split). */
export interface GzipTask extends TaskBase {
  kind: "gzip";
  path: string;
  /** Compressed size, for progress. */
  bytes?: number;
}
/** The worker's own stdin (the parent hands over its stdin). */
export interface StdinTask extends TaskBase {
  kind: "stdin";
}
export type Task = GenerateTask | FileRangeTask | GzipTask | StdinTask;

/**
 * Splits [0, n) into contiguous ranges that shrink with the work left
 * ("guided" scheduling): each takes 1/(2 x workers) of what is left, but
 * never less than minPart (only the last range may be smaller). Fed to the
 * workers largest first, they then finish within about one small range of
 * each other, where equal ranges left one worker idle for half a range on
 * average. At least `workers` ranges when minPart <= n / workers.
 */
export function splitGuided(n: number, workers: number, minPart: number): Array<[number, number]> {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot split ${n}`);
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`cannot split for ${workers} workers`);
  if (!Number.isSafeInteger(minPart) || minPart < 1) throw new RangeError(`cannot split into parts of ${minPart}`);
  const out: Array<[number, number]> = [];
  for (let start = 0; start < n; ) {
    const size = Math.min(n - start, Math.max(minPart, Math.ceil((n - start) / (2 * workers))));
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/** A short human description of a task's input, for messages. */
export function describeTask(task: Task): string {
  switch (task.kind) {
    case "generate":
      return `task ${task.id} (generated lines ${task.start}..${task.end}, seed ${task.seed})`;
    case "file":
      return `task ${task.id} (${task.path} bytes ${task.start}..${task.end})`;
    case "gzip":
      return `task ${task.id} (${task.path})`;
    case "stdin":
      return `task ${task.id} (standard input)`;
  }
}

/** Size of a task's input, in lines or bytes, for progress and timeouts. */
export function taskSize(task: Task): number {
  switch (task.kind) {
    case "generate":
    case "file":
      return task.end - task.start;
    case "gzip":
      return task.bytes ?? 0;
    default:
      return 0;
  }
}

export class TaskError extends Error {}

/** Parses and checks one task line (the worker's input is untrusted too). */
export function parseTask(line: string): Task {
  let t: Record<string, unknown>;
  try {
    t = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new TaskError("task is not valid JSON");
  }
  if (typeof t !== "object" || t === null) throw new TaskError("task is not a JSON object");
  if (t.version !== TASK_VERSION) throw new TaskError(`task version ${JSON.stringify(t.version)} is not ${TASK_VERSION}`);
  const int = (k: string) => {
    if (!Number.isSafeInteger(t[k]) || (t[k] as number) < 0) throw new TaskError(`task.${k} is not a non-negative integer`);
    return t[k] as number;
  };
  int("id");
  int("input");
  if (t.attempt !== undefined) int("attempt");
  switch (t.kind) {
    case "generate": {
      if (int("start") > int("end")) throw new TaskError("task.start > task.end");
      int("seed");
      const g = t.generator as Record<string, unknown> | undefined;
      if (!g || !Number.isSafeInteger(g.startEpoch) || !Number.isSafeInteger(g.linesPerSecond) || (g.linesPerSecond as number) < 1) {
        throw new TaskError("task.generator is not valid");
      }
      break;
    }
    case "file":
      if (int("start") > int("end")) throw new TaskError("task.start > task.end");
      if (typeof t.path !== "string") throw new TaskError("task.path is not a string");
      break;
    case "gzip":
      if (typeof t.path !== "string") throw new TaskError("task.path is not a string");
      break;
    case "stdin":
      break;
    default:
      throw new TaskError(`unknown task kind ${JSON.stringify(t.kind)}`);
  }
  return t as unknown as Task;
}
