// The library core of one analysis: plan tasks, run the map phase on child
// processes, reduce, and build the report data and run timings.

import { cpus, platform, release, availableParallelism } from "node:os";
import type { Counters, TimeWindow } from "./count.ts";
import { DEFAULT_GENERATOR, type GeneratorSettings } from "./traffic.ts";
import { planFileTasks, resolveInputs, type LogInput } from "./inputs.ts";
import { type MapOptions, type MapProgress, type MapResult, runMapTasks } from "./mapreduce.ts";
import { mergeAll, type TaskPartial } from "./partial.ts";
import { buildReport, type InputSummary, type ReportData, type RunInfo } from "./report.ts";
import { describeTask, splitGuided, TASK_VERSION, type Task } from "./task.ts";
import { stats as summary } from "./stats.ts";
import { ENGINE_VERSION } from "./version.ts";

export interface AnalyzeOptions {
  /** Files, directories or "-"; empty for generated traffic. */
  inputs: readonly string[];
  lines: number;
  seed: number;
  workers: number;
  top: number;
  since?: number;
  until?: number;
  generator?: GeneratorSettings;
  retries?: number;
  counters?: Counters;
  /** No-progress timeout per child, ms; 0 = off. */
  taskTimeoutMs?: number;
  onProgress?: (p: MapProgress) => void;
}

export interface Analysis {
  data: ReportData;
  run: RunInfo;
}

/** Nothing valid to analyze: the caller shows what was read and exits 1. */
export class NoValidLinesError extends Error {
  constructor(readonly data: ReportData) {
    super(`no valid access-log line in ${data.lines.read.toLocaleString("en-US")} lines read`);
  }
}

/** Smallest generated task (the last ones): about 15 ms of a worker's time. */
const MIN_LINES_PER_TASK = 25_000;

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

export function cpuModel(): string {
  return cpus()[0]?.model?.trim() || "unknown CPU";
}

/** Tasks for generated traffic: contiguous line ranges, shrinking (see splitGuided), at least one per worker. */
export function planGenerateTasks(lines: number, workers: number, seed: number, generator: GeneratorSettings, window?: TimeWindow): Task[] {
  const ranges = lines === 0 ? [[0, 0] as [number, number]] : splitGuided(lines, workers, Math.min(MIN_LINES_PER_TASK, Math.ceil(lines / workers)));
  return ranges.map(([start, end], id) => ({
    version: TASK_VERSION,
    id,
    input: 0,
    kind: "generate" as const,
    seed,
    start,
    end,
    generator,
    ...(window ? { window } : {}),
  }));
}

/** Makes malformed-line numbers global: a file range's lines come after those of the ranges before it. */
export function globalLineNumbers(tasks: readonly Task[], partials: readonly TaskPartial[]): void {
  const byId = new Map(partials.map((p) => [p.taskId, p]));
  const linesBefore = new Map<number, number>();
  const ordered = [...tasks].sort((a, b) => a.input - b.input || ("start" in a && "start" in b ? a.start - b.start : 0));
  for (const task of ordered) {
    const p = byId.get(task.id);
    if (!p) continue;
    const before = linesBefore.get(task.input) ?? 0;
    for (const s of p.malformedSamples) s.line += before;
    linesBefore.set(task.input, before + p.lines.read);
  }
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const { min, median, max } = summary(values);
  return { min, median, max };
}

export interface Plan {
  tasks: Task[];
  input: InputSummary;
  inputNames: string[];
  /** Workers worth starting: never more than tasks. */
  workers: number;
  /** Plain files among the inputs (an empty valid result is then an error). */
  hasFiles: boolean;
}

/** Cuts the analysis into map tasks (no process is started). */
export function planAnalysis(options: AnalyzeOptions): Plan {
  const window: TimeWindow | undefined =
    options.since !== undefined || options.until !== undefined ? { since: options.since, until: options.until } : undefined;
  let plan: Plan;
  if (options.inputs.length === 0) {
    const generator = options.generator ?? DEFAULT_GENERATOR;
    const workers = Math.max(1, Math.min(options.workers, options.lines));
    // Several tasks per worker, fed as workers finish, so an unequal pair of
    // cores (or a noisy neighbour) does not leave one worker idle at the end.
    plan = {
      tasks: planGenerateTasks(options.lines, workers, options.seed, generator, window),
      input: { kind: "generated", seed: options.seed, lines: options.lines, ...generator },
      inputNames: ["generated"],
      workers,
      hasFiles: false,
    };
  } else {
    const files: LogInput[] = resolveInputs(options.inputs);
    const tasks = planFileTasks(files, options.workers, window);
    plan = {
      tasks,
      input: { kind: "files", files: files.map((f) => ({ path: f.path, format: f.format, bytes: f.bytes })) },
      inputNames: files.map((f) => f.path),
      workers: Math.max(1, Math.min(options.workers, tasks.length)),
      hasFiles: true,
    };
  }
  if (options.counters === "minimal") plan.tasks = plan.tasks.map((t) => ({ ...t, counters: "minimal" as const }));
  return plan;
}

/** The reduce phase: global line numbers, one merge, the report data. */
export function reducePartials(plan: Pick<Plan, "tasks" | "input" | "inputNames">, partials: readonly TaskPartial[], options: { top: number; since?: number; until?: number }): ReportData {
  globalLineNumbers(plan.tasks, partials);
  const counts = mergeAll(partials);
  return buildReport(counts, { input: plan.input, inputNames: plan.inputNames, top: options.top, since: options.since, until: options.until });
}

/** Runs the map tasks somewhere (local children by default, GNU parallel over ssh with --hosts). */
export type Mapper = (tasks: readonly Task[], options: MapOptions) => Promise<MapResult>;

export async function analyze(options: AnalyzeOptions, mapper: Mapper = runMapTasks): Promise<Analysis> {
  const t0 = performance.now();
  const plan = planAnalysis(options);
  const { tasks, workers } = plan;
  const map = await mapper(tasks, {
    workers,
    retries: options.retries,
    taskTimeoutMs: options.taskTimeoutMs,
    onProgress: options.onProgress,
  });
  const tReduce = performance.now();
  const data = reducePartials(plan, map.partials, options);
  const tEnd = performance.now();

  const wallMs = tEnd - t0;
  const run: RunInfo = {
    engineVersion: ENGINE_VERSION,
    bunVersion: Bun.version,
    cpuModel: cpuModel(),
    cores: availableParallelism(),
    platform: `${platform()} ${release()}`,
    workers,
    tasks: tasks.length,
    wallMs,
    spawnMs: stats(map.children.filter((c) => c.busyMs > 0).map((c) => c.readyAt - c.spawnAt)),
    mapMs: stats(map.children.filter((c) => c.busyMs > 0).map((c) => c.busyMs)),
    reduceMs: tEnd - tReduce,
    linesPerSecond: wallMs > 0 ? (data.lines.read / wallMs) * 1000 : 0,
    utilisation: wallMs > 0 ? map.children.reduce((a, c) => a + c.busyMs, 0) / wallMs : 0,
    parentMaxRssMb: process.resourceUsage().maxRSS / 1024,
    retries: map.retried.map((r) => ({
      task: describeTask(r.task),
      failedAttempts: r.failures.length,
      causes: r.failures.map((f) => `attempt ${f.attempt}: ${f.cause}`),
      costMs: r.failures.reduce((a, f) => a + f.ms, 0),
    })),
    workerTimings: map.children.filter((c) => c.busyMs > 0).map((c) => ({
      pid: c.pid,
      tasks: c.tasks.length,
      spawnMs: c.readyAt - c.spawnAt,
      mapMs: c.busyMs,
      maxRssMb: c.maxRssKb / 1024,
      ...(c.host ? { host: c.host } : {}),
    })),
  };
  if (plan.hasFiles && data.lines.valid === 0) throw new NoValidLinesError(data);
  return { data, run };
}
