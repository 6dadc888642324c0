// Map tasks: what the parent sends a worker (one JSON object per line on its
// stdin), and how the work is split into them.

import type { GeneratorSettings } from "./traffic.ts";
import { type Codec, READABLE_CODECS } from "./codecs.ts";
import { LogmrError } from "./errors.ts";

export const TASK_VERSION = 1;

/** Time window: a line counts when since <= t < until (epoch seconds, UTC). */
export interface TimeWindow {
  since?: number;
  until?: number;
}

/** "minimal": clients, statuses, bytes and minutes only (what the C yardstick counts), for speed comparisons. */
export type Counters = "full" | "minimal";

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
  /** The log format: a preset name or a format string (see count/format.ts); absent for Common/Combined. */
  format?: string;
  /** --vhost: only lines of these virtual hosts are counted (the format must name a host). */
  hosts?: string[];
  /** --where: only lines the expression holds for are counted (count/where.ts). */
  where?: string;
  /** --group-path: route templates, and "none" to leave out the default folds (count/path-groups.ts); absent: the default folds. */
  pathGroups?: string[];
  /** --by: the field every metric is also split by (count/by.ts). */
  by?: string;
}
export interface GenerateTask extends TaskBase {
  kind: "generate";
  seed: number;
  start: number;
  end: number;
  generator: GeneratorSettings;
}
/**
 * What a file was when the run was planned: every task of the run must read
 * that file, and only the bytes it had then. mtimeNs is a decimal string
 * (nanoseconds do not fit a double); head and tail are hashes of the first
 * and the last FINGERPRINT_BYTES of the planned size.
 */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeNs: string;
  head: string;
  tail: string;
}
interface PinnedFile {
  path: string;
  identity?: FileIdentity;
  /**
   * The parent's open descriptor of the file: a local worker reads
   * /proc/PARENT/fd/N, the very file the parent planned, even after a rename.
   */
  fd?: number;
}
/** Lines starting in bytes [start, end) of a plain file. */
export interface FileRangeTask extends TaskBase, PinnedFile {
  kind: "file";
  start: number;
  end: number;
}
/** A whole compressed file (a compressed stream cannot be split). */
export interface CompressedTask extends TaskBase, PinnedFile {
  kind: "compressed";
  codec: Codec;
  /** Compressed size, for progress. */
  bytes?: number;
}
/**
 * Bytes [start, end) of standard input, which the parent read once and saved
 * to the file `path` (holding exactly those bytes, cut after a line end), so
 * a retry reads the same bytes again.
 */
export interface SegmentTask extends TaskBase {
  kind: "segment";
  path: string;
  start: number;
  end: number;
}
/** The worker's own stdin (`worker.ts --raw`, for GNU parallel --pipe-part). */
export interface StdinTask extends TaskBase {
  kind: "stdin";
}
export type Task = GenerateTask | FileRangeTask | CompressedTask | SegmentTask | StdinTask;

/** Bytes hashed at each end of a file for its identity. */
export const FINGERPRINT_BYTES = 4096;

/**
 * Splits [0, n) into contiguous ranges that shrink with the work left
 * ("guided" scheduling): each takes 1/(2 x workers) of what is left, but
 * never less than minPart (only the last range may be smaller). Fed to the
 * workers largest first, they then finish within about one small range of
 * each other, where equal ranges left one worker idle for half a range on
 * average. At least `workers` ranges when minPart <= n / workers.
 */
export function splitGuided(n: number, workers: number, minPart: number, maxPart = Number.POSITIVE_INFINITY): Array<[number, number]> {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot split ${n}`);
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`cannot split for ${workers} workers`);
  if (!Number.isSafeInteger(minPart) || minPart < 1) throw new RangeError(`cannot split into parts of ${minPart}`);
  const out: Array<[number, number]> = [];
  for (let start = 0; start < n; ) {
    const size = Math.min(n - start, maxPart, Math.max(minPart, Math.ceil((n - start) / (2 * workers))));
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
    case "compressed":
      return `task ${task.id} (${task.path}, ${task.codec})`;
    case "segment":
      return `task ${task.id} (standard input bytes ${task.start}..${task.end})`;
    case "stdin":
      return `task ${task.id} (standard input)`;
  }
}

/** Size of a task's input, in lines or bytes, for progress and timeouts. */
export function taskSize(task: Task): number {
  switch (task.kind) {
    case "generate":
    case "file":
    case "segment":
      return task.end - task.start;
    case "compressed":
      return task.bytes ?? 0;
    default:
      return 0;
  }
}

export class TaskError extends LogmrError {}

function checkPinned(t: Record<string, unknown>): void {
  if (t.fd !== undefined && (!Number.isSafeInteger(t.fd) || (t.fd as number) < 0)) throw new TaskError("task.fd is not a descriptor number");
  if (t.identity === undefined) return;
  const id = t.identity as Record<string, unknown> | null;
  if (typeof id !== "object" || id === null) throw new TaskError("task.identity is not an object");
  for (const k of ["dev", "ino", "size"]) {
    if (!Number.isSafeInteger(id[k]) || (id[k] as number) < 0) throw new TaskError(`task.identity.${k} is not a non-negative integer`);
  }
  for (const k of ["mtimeNs", "head", "tail"]) {
    if (typeof id[k] !== "string" || !/^[0-9a-f-]{1,40}$/.test(id[k] as string)) throw new TaskError(`task.identity.${k} is not valid`);
  }
  if (t.kind === "file" && (t.end as number) > (id.size as number)) throw new TaskError("task.end is past the file's planned size");
}

/**
 * The task's fields in one canonical text (keys sorted, without `attempt`),
 * so a partial's copy of its task compares with the plan's.
 */
export function taskKey(task: Task): string {
  const sorted = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sorted)
      : typeof x === "object" && x !== null
        ? Object.fromEntries(Object.keys(x).filter((k) => k !== "attempt").sort().map((k) => [k, sorted((x as Record<string, unknown>)[k])]))
        : x;
  return JSON.stringify(sorted(task));
}

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
  if (t.format !== undefined && (typeof t.format !== "string" || t.format.length > 4096)) throw new TaskError("task.format is not a format string");
  if (t.hosts !== undefined && (!Array.isArray(t.hosts) || t.hosts.length === 0 || !t.hosts.every((h) => typeof h === "string" && h !== ""))) throw new TaskError("task.hosts is not a list of host names");
  if (t.where !== undefined && (typeof t.where !== "string" || t.where === "" || t.where.length > 65536)) throw new TaskError("task.where is not an expression");
  if (t.pathGroups !== undefined && (!Array.isArray(t.pathGroups) || !t.pathGroups.every((g) => typeof g === "string" && g.length <= 4096))) throw new TaskError("task.pathGroups is not a list of patterns");
  if (t.by !== undefined && typeof t.by !== "string") throw new TaskError("task.by is not a field name");
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
    case "segment":
      if (int("start") > int("end")) throw new TaskError("task.start > task.end");
      if (typeof t.path !== "string") throw new TaskError("task.path is not a string");
      checkPinned(t);
      break;
    case "compressed":
      if (typeof t.path !== "string") throw new TaskError("task.path is not a string");
      if (!READABLE_CODECS.includes(t.codec as Codec)) throw new TaskError(`task.codec ${JSON.stringify(t.codec)} cannot be read`);
      checkPinned(t);
      break;
    case "stdin":
      break;
    default:
      throw new TaskError(`unknown task kind ${JSON.stringify(t.kind)}`);
  }
  return t as unknown as Task;
}
