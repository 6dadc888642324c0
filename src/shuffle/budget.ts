// --memory: the budget of a whole run (parent and children), and what each
// process may hold under it. Below the budget a run is the in-memory run of
// before; past it, tasks get smaller and their keyed tables go to disk.

import { totalmem } from "node:os";
import { MIN_INLINE_ROWS } from "./tables.ts";
import { EXIT_USAGE, LogmrError } from "../core/errors.ts";

/** "512M", "2G", "1.5g", "800000K", a plain byte count. */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return null;
  const unit = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

/** The default budget: a quarter of the machine's memory. */
export function defaultBudget(): number {
  return Math.floor(totalmem() / 4);
}

/** Resident memory of a Bun process before it holds any table (runtime, code, buffers). */
export const PROCESS_BASE_BYTES = 64 * 2 ** 20;
/**
 * What a worker holds while it counts, per byte of its task, at worst (every
 * line its own client and path). Measured on `generate --cardinality high`
 * files as the peak resident memory above PROCESS_BASE_BYTES over the task's bytes.
 */
export const WORKER_BYTES_PER_TASK_BYTE = 6;
/**
 * What a worker holds per distinct key while it counts, at the peak of a
 * task's end (tables, rows, runs written): from the same measurement, about
 * 1,080 bytes a line of 1.5 new keys.
 */
export const WORKER_BYTES_PER_KEY = 720;
/** The parent's cost of a keyed row it holds (parsed, and in the merged union). */
export const PARENT_BYTES_PER_ROW = 400;
/** The smallest task a budget may ask for: below it, the tasks' fixed costs dominate. */
export const MIN_TASK_BYTES = 4 * 2 ** 20;
/** Bytes of a generated line, to turn a byte cap into a line cap. */
const GENERATED_LINE_BYTES = 180;

export interface MemoryPlan {
  budget: number;
  parentShare: number;
  workerShare: number;
  /** The largest task of a plain file, in bytes, and of generated traffic, in lines. */
  maxTaskBytes: number;
  maxTaskLines: number;
  /** Keyed rows the parent may hold inline, over all partials: a task may return its share of them (by its size) inline, and spills past it. */
  parentRows: number;
  /** The share of a task whose size is not known (gzip, stdin): parentRows over the tasks. */
  inlineRows: number;
  /** Distinct keys a worker may hold in the middle of a task. */
  maxKeys: number;
}

/** A budget too small for the run: a usage error (exit 2). */
export class BudgetError extends LogmrError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

/**
 * Splits `budget` between the parent and `workers` children: each process's
 * base, then half of the rest to the parent and half to the workers. The
 * parent's half is what decides whether a run stays in memory (it holds the
 * union of every partial's keys); a run that spills leaves most of it
 * unused. `tasks`: how many partials the parent may hold at once.
 */
export function planMemory(budget: number, workers: number, tasks: number): MemoryPlan {
  const base = (workers + 1) * PROCESS_BASE_BYTES;
  const rest = budget - base;
  const need = base + 2 * workers * MIN_TASK_BYTES * WORKER_BYTES_PER_TASK_BYTE;
  if (rest <= 0 || rest < need - base) {
    throw new BudgetError(`--memory ${mib(budget)} is too small for ${workers} worker${workers === 1 ? "" : "s"}: give at least ${mib(need)} (or fewer --workers)`);
  }
  const parentShare = Math.floor(rest / 2);
  const workerShare = Math.floor((rest - parentShare) / workers);
  const maxTaskBytes = Math.max(MIN_TASK_BYTES, Math.floor(workerShare / WORKER_BYTES_PER_TASK_BYTE));
  return {
    budget,
    parentShare,
    workerShare,
    maxTaskBytes,
    maxTaskLines: Math.max(1, Math.floor(maxTaskBytes / GENERATED_LINE_BYTES)),
    parentRows: Math.floor(parentShare / PARENT_BYTES_PER_ROW),
    inlineRows: Math.max(MIN_INLINE_ROWS, Math.floor(parentShare / PARENT_BYTES_PER_ROW / Math.max(1, tasks))),
    maxKeys: Math.max(10_000, Math.floor(workerShare / WORKER_BYTES_PER_KEY)),
  };
}

const mib = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)}M`;
