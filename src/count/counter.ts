// The seam between the bytes of an input and the counts: a LineCounter is
// fed blocks of whole lines by the LineAssembler and turns them into a
// partial. A log format is one more parser behind this interface, feeding
// the same Tally.

import type { CountsPartial } from "../core/partial.ts";
import { type Task, TaskError } from "../core/task.ts";
import { FastCombinedCounter } from "./fast/combined.ts";
import { type CompiledFormat, compileFormat, FAST_FORMATS, FormatCounter } from "./format.ts";
import { JsonLinesCounter } from "./json-lines.ts";
import { type CombinedShape, combinedShapeOf } from "./suffix.ts";
import type { Tally } from "./tally.ts";
import { BY_FIELDS, type ByField } from "./by.ts";

export interface LineCounter {
  /**
   * Counts the lines of buf[start, end) that start before `startLimit`.
   * Returns the index of the first byte not consumed: the start of an
   * unterminated last line (unless `final`, when it is counted too) or of
   * the first line at or past `startLimit`. `origin` is the absolute offset
   * of buf[0] (for malformed-line samples).
   */
  countBlock(buf: Uint8Array, start: number, end: number, final: boolean, origin: number, startLimit?: number): number;
  /** A line too long to hold in memory, from its first bytes: malformed. */
  countOversizedLine(head: Uint8Array, offset: number): void;
  /** The counts as a partial (without task id and timings). */
  toCounts(): CountsPartial;
}

const compiled = new Map<string, { format: CompiledFormat; shape: CombinedShape | null }>();

/**
 * The counter for a task's lines: Common and Combined logs through the fast
 * path, any other format through its format string, compiled once a worker.
 */
export function counterFor(task: Pick<Task, "window" | "counters" | "format" | "hosts" | "where" | "pathGroups" | "by">): LineCounter & { tally: Tally } {
  const counter = plainCounterFor(task);
  if (task.hosts !== undefined) counter.tally.onlyHosts(task.hosts);
  if (task.where !== undefined) counter.tally.onlyWhere(task.where);
  if (task.pathGroups !== undefined) counter.tally.groupPaths(task.pathGroups);
  if (task.by !== undefined) {
    if (!(BY_FIELDS as readonly string[]).includes(task.by)) throw new TaskError(`task.by: ${JSON.stringify(task.by)} is not a field to split by`);
    counter.tally.groupBy(task.by as ByField);
  }
  return counter;
}

function plainCounterFor(task: Pick<Task, "window" | "counters" | "format" | "hosts">): LineCounter & { tally: Tally } {
  const hostless = () => new TaskError(`task.hosts: the format ${task.format ?? "combined"} names no virtual host`);
  if (task.format === undefined || FAST_FORMATS.has(task.format)) {
    if (task.hosts !== undefined) throw hostless();
    return new FastCombinedCounter(task.window, task.counters);
  }
  if (task.format === "json" || task.format.startsWith("json:")) return new JsonLinesCounter(task.window, task.counters, task.format);
  let known = compiled.get(task.format);
  if (!known) {
    const format = compileFormat(task.format);
    compiled.set(task.format, (known = { format, shape: combinedShapeOf(format) }));
  }
  if (task.hosts !== undefined && known.format.host < 0) throw hostless();
  // Combined with fields appended, vhost_combined: the fast path, reading the host first and the fields after the agent.
  if (known.shape) return new FastCombinedCounter(task.window, task.counters, known.shape.suffix, known.shape.vhost);
  return new FormatCounter(known.format, task.window, task.counters);
}
