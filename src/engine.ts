// The library core of one analysis: plan tasks, run the map phase on child
// processes, reduce, and build the report data and run timings.

import { cpus, hostname, platform, release, availableParallelism } from "node:os";
import type { Counters, TimeWindow } from "./core/task.ts";
import { DEFAULT_GENERATOR, type GeneratorSettings } from "./core/traffic.ts";
import { statSync } from "node:fs";
import { EXIT_FAILED, EXIT_USAGE, InputError, LogmrError } from "./core/errors.ts";
import { compareIdentity, readIdentity } from "./map/identity.ts";
import { closeInputs, lastLineEnd, type ListedInput, planFileTasks, resolveInputs, type LogInput } from "./plan/resolve-inputs.ts";
import { compressedSamplesOf, detectedNote, detectFormat, gzipSampleOf, sampleOf } from "./plan/detect-format.ts";
import { FAST_FORMATS } from "./count/format-names.ts";
import { BY_FIELDS } from "./count/by-fields.ts";
import type { MapOptions, MapProgress, MapResult } from "./map/run-tasks.ts";
import { checkCoverage, mergeAll, type TaskPartial } from "./core/partial.ts";
import { buildReport, type InputSummary, type ReportData, type RunInfo, type TimelineBucket } from "./report/report.ts";
import { describeTask, splitGuided, TASK_VERSION, type Task } from "./core/task.ts";
import { stats as summary } from "./core/stats.ts";
import { ENGINE_VERSION } from "./core/version.ts";
import type { IncrementalRun, StateReport } from "./state/incremental.ts";
import { defaultBudget, type MemoryPlan, planMemory } from "./shuffle/budget.ts";
import type { KeyedSummary } from "./shuffle/combine.ts";
import { makeSpillDir, type SpillDir } from "./shuffle/spill-dir.ts";
import type { SpillConfig } from "./shuffle/spill-partial.ts";
import { ParentGuard } from "./shuffle/parent-guard.ts";
import { SPILL_ENV } from "./core/protocol.ts";

export interface AnalyzeOptions {
  /** Files, directories or "-"; empty for generated traffic. */
  inputs: readonly string[];
  lines: number;
  seed: number;
  /** Worker processes; undefined: autoWorkers decides from the size of the work. */
  workers?: number;
  top: number;
  since?: number;
  until?: number;
  generator?: GeneratorSettings;
  retries?: number;
  counters?: Counters;
  /** No-progress timeout per child, ms; 0 = off. */
  taskTimeoutMs?: number;
  /** Leave out files that cannot be read (each named in a note) instead of failing. */
  skipUnreadable?: boolean;
  /** Share (0..1) of an input's lines that may be malformed before the run exits 1 [DEFAULT_MAX_MALFORMED]. */
  maxMalformed?: number;
  /** The log format (see count/format.ts); undefined for Common/Combined. */
  format?: string;
  /** --vhost: only lines of these virtual hosts are counted. */
  hosts?: string[];
  /** --where: only lines this expression holds for are counted. */
  where?: string;
  /** --group-path: route templates and "none" (absent: the default folds). */
  pathGroups?: string[];
  /** --by: the field every metric is also split by. */
  by?: string;
  /** --bucket: the timeline's bucket (absent: chosen from the span). */
  bucket?: TimelineBucket;
  onProgress?: (p: MapProgress) => void;
  /** Standard input's bytes, for "-" (default: the process's stdin). */
  stdin?: AsyncIterable<Uint8Array>;
  /** Size of the segments stdin is cut into (default SEGMENT_BYTES). */
  stdinSegmentBytes?: number;
  /** --state FILE: the SQLite file of partials already counted (see state/). */
  stateFile?: string;
  /** --follow: count complete lines only (a last line without its newline waits), and keep the files open for the follower. */
  follow?: boolean;
  /** --memory: the run's budget in bytes (default: a quarter of the machine's memory); `memoryGiven`: the user set it. */
  memory?: number;
  memoryGiven?: boolean;
  /** --tmp: where spill files go (default: the OS temporary directory). */
  tmpDir?: string;
  /** --partitions: reduce partitions of a run that spills (default: two per worker). */
  partitions?: number;
  /** Keys a worker may hold in the middle of a task (tests: LOGMR_SPILL_KEYS; default from the budget). */
  spillKeys?: number;
}

export interface Analysis {
  data: ReportData;
  run: RunInfo;
  /** What the user should hear about the inputs (skipped files, a log that grew or was rotated during the run). */
  notes: string[];
  /** Inputs over --max-malformed, one line each: the report is printed, then the run exits 1. */
  tooMalformed: string[];
  /** --follow: what the follower goes on from (the files still open, the state still held). */
  live?: LiveRun;
}

/** The end of a first pass that goes on (--follow): its plan and partials, the files open, the state held. */
export interface LiveRun {
  plan: Plan;
  tasks: Task[];
  partials: TaskPartial[];
  state?: IncrementalRun;
}

/** Nothing valid to analyze: the caller shows what was read and exits 1. */
export class NoValidLinesError extends LogmrError {
  constructor(readonly data: ReportData) {
    super(
      `no valid access-log line in ${data.lines.read.toLocaleString("en-US")} lines read`,
      EXIT_FAILED,
      [
        ...data.malformedReasons.slice(0, 5).map((r) => `${r.count.toLocaleString("en-US")} ${r.reason}`),
        ...data.malformedSamples.map((m) => `${m.input}:${m.line}${m.column !== undefined ? ` column ${m.column}` : ""}: ${m.reason ?? "malformed"}  ${JSON.stringify(m.text.slice(Math.max(0, (m.markAt ?? 0) - 60), (m.markAt ?? 0) + 60))}`),
      ],
    );
  }
}

/** Smallest generated task (the last ones): about 15 ms of a worker's time. */
const MIN_LINES_PER_TASK = 25_000;

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/**
 * With the default worker count, each worker gets at least this much work.
 * Below it a second worker costs more than it saves: every worker compiles
 * its hot code again (about 0.25 s of JIT work, which a lone worker leaves to
 * an idle core). Measured on 2 cores, 1 worker against 2 (bench, 7
 * interleaved runs, medians): 300,000 generated lines 0.33 s against 0.41 s,
 * 600,000 0.46 against 0.49, 1,000,000 0.62 against 0.59, 2,000,000 1.19
 * against 0.92; files of 54 MB 0.25 against 0.33 s, 108 MB 0.29 against
 * 0.28, 180 MB 0.48 against 0.43.
 */
export const MIN_LINES_PER_WORKER = 500_000;
export const MIN_BYTES_PER_WORKER = 64 * 2 ** 20;

/**
 * The default worker count: one per MIN_LINES_PER_WORKER generated lines or
 * MIN_BYTES_PER_WORKER bytes of plain file, plus one per gzip file or stdin
 * (each a task of unknown size that no other worker can share), at least 1
 * and at most `cores`.
 */
export function autoWorkers(cores: number, work: { lines: number } | { files: readonly LogInput[] }): number {
  let units: number;
  if ("lines" in work) {
    units = Math.floor(work.lines / MIN_LINES_PER_WORKER);
  } else {
    const plainBytes = work.files.reduce((a, f) => a + (f.format === "plain" ? (f.bytes ?? 0) : 0), 0);
    // Standard input is cut into segments as it arrives: any worker may take one.
    units = Math.floor(plainBytes / MIN_BYTES_PER_WORKER) + work.files.filter((f) => f.format !== "plain" && f.format !== "stdin").length + (work.files.some((f) => f.format === "stdin") ? cores : 0);
  }
  return Math.max(1, Math.min(cores, units));
}

export function cpuModel(): string {
  return cpus()[0]?.model?.trim() || "unknown CPU";
}

/** Tasks for generated traffic: contiguous line ranges, shrinking (see splitGuided), at least one per worker. */
export function planGenerateTasks(lines: number, workers: number, seed: number, generator: GeneratorSettings, window?: TimeWindow, maxTaskLines = Number.POSITIVE_INFINITY): Task[] {
  const ranges = lines === 0 ? [[0, 0] as [number, number]] : splitGuided(lines, workers, Math.min(MIN_LINES_PER_TASK, Math.ceil(lines / workers), maxTaskLines), maxTaskLines);
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
  /** The files, open until closeInputs(plan.files): every task reads the file planned. */
  files: LogInput[];
  /** Files left out with --skip-unreadable, with the reason. */
  skipped: string[];
  /** What directory scans left out, a line per directory. */
  leftOut: string[];
  /** Every file considered, read or not, and why. */
  listing: ListedInput[];
  /** What every task carries beside its input (window, counters, filters, split): tasks made later (--follow) carry the same. */
  settings: Partial<Task>;
}

/** Cuts the analysis into map tasks (no process is started). */
function windowOf(options: AnalyzeOptions): TimeWindow | undefined {
  return options.since !== undefined || options.until !== undefined ? { since: options.since, until: options.until } : undefined;
}

/** The format a task carries: none for those the Combined fast path reads (named or not, the same partials). */
function taskFormat(given: string | undefined): string | undefined {
  return given !== undefined && FAST_FORMATS.has(given) ? undefined : given;
}

/**
 * Each input's format: the one given, or, for a plain file, the one its
 * first lines fit (Combined unless another fits better). Returns a note for
 * each file read in another format than the default.
 */
function detectFormats(files: LogInput[], given: string | undefined): string[] {
  const notes: string[] = [];
  // A rotated log is often compressed: its start is expanded and tried the same way (zstd, bzip2 and xz all in one child).
  const others = given === undefined ? files.filter((f) => f.format !== "plain" && f.format !== "gzip" && f.format !== "stdin") : [];
  const sampled = new Map(compressedSamplesOf(others.map((f) => ({ path: f.path, codec: f.format, fd: f.fd }))).map((s, k) => [others[k]!, s]));
  for (const file of files) {
    if (given !== undefined) {
      file.logFormat = taskFormat(given);
      continue;
    }
    const sample = file.format === "plain" ? sampleOf(file.path, file.fd) : file.format === "gzip" ? gzipSampleOf(file.path, file.fd) : (sampled.get(file) ?? null);
    if (sample === null) continue;
    file.logFormat = detectFormat(sample);
    if (file.logFormat !== undefined) notes.push(detectedNote(file.path, file.logFormat));
  }
  return notes;
}

/** The task caps of a budget, once the worker count is known (a budget too small for it is exit 2). */
const memoryCaps = (budget: number | undefined, workers: number): MemoryPlan | undefined => (budget === undefined ? undefined : planMemory(budget, workers, 1));

/** `budget`: --memory, when this run may spill (tasks are then cut to fit a worker's share). */
export function planAnalysis(options: AnalyzeOptions, state?: IncrementalRun, budget?: number): Plan {
  const window = windowOf(options);
  let detected: string[] = [];
  let plan: Plan;
  if (options.inputs.length === 0) {
    const generator = options.generator ?? DEFAULT_GENERATOR;
    const wanted = options.workers ?? autoWorkers(defaultWorkers(), { lines: options.lines });
    const workers = Math.max(1, Math.min(wanted, options.lines));
    // Several tasks per worker, fed as workers finish, so an unequal pair of
    // cores (or a noisy neighbour) does not leave one worker idle at the end.
    plan = {
      tasks: planGenerateTasks(options.lines, workers, options.seed, generator, window, memoryCaps(budget, workers)?.maxTaskLines),
      input: { kind: "generated", seed: options.seed, lines: options.lines, ...generator },
      inputNames: ["generated"],
      workers,
      hasFiles: false,
      files: [],
      skipped: [],
      leftOut: [],
      listing: [],
      settings: {},
    };
  } else {
    const { inputs: files, skipped, leftOut, listing } = resolveInputs(options.inputs, { skipUnreadable: options.skipUnreadable });
    detected = detectFormats(files, options.format);
    if (files.length === 0) throw new InputError(`no input can be read (skipped: ${skipped.join("; ")})`);
    if (state) detected.push(...state.prepare(files));
    else if (options.follow) {
      // A last line without its newline is not counted until it has one.
      for (const f of files) {
        if (f.format !== "plain" || f.fd === undefined) continue;
        f.countedEnd = lastLineEnd(f.fd, 0, f.bytes ?? 0);
        f.ranges = [[0, f.countedEnd]];
      }
    }
    const wanted = options.workers ?? autoWorkers(defaultWorkers(), { files });
    const tasks = planFileTasks(files, wanted, window, memoryCaps(budget, wanted)?.maxTaskBytes);
    const stdin = files.some((f) => f.format === "stdin");
    plan = {
      tasks,
      input: { kind: "files", files: files.map((f) => ({ path: f.path, format: f.format, bytes: f.bytes })) },
      inputNames: files.map((f) => f.path),
      workers: Math.max(1, stdin ? wanted : Math.min(wanted, tasks.length)),
      hasFiles: true,
      files,
      skipped,
      leftOut: [...leftOut, ...detected],
      listing,
      settings: {},
    };
  }
  if (window) plan.settings.window = window;
  if (options.counters === "minimal") plan.settings.counters = "minimal";
  if (options.hosts !== undefined) {
    const hosts = options.hosts;
    checkFormatsNameHosts(plan.files);
    plan.settings.hosts = hosts;
  }
  if (options.where !== undefined) {
    const where = options.where;
    checkWhere(where, plan.files);
    plan.settings.where = where;
  }
  if (options.by !== undefined) {
    const by = options.by;
    if (!(BY_FIELDS as readonly string[]).includes(by)) throw new LogmrError(`--by ${JSON.stringify(by)}: not a field to split by (${BY_FIELDS.join(", ")})`, EXIT_USAGE);
    if (by === "vhost") checkFormatsNameHosts(plan.files, "--by vhost");
    plan.settings.by = by;
  }
  if (options.pathGroups !== undefined) {
    const { checkPathGroups } = require("./count/path-groups.ts") as typeof import("./count/path-groups.ts");
    plan.settings.pathGroups = checkPathGroups(options.pathGroups);
  }
  const { window: _window, ...rest } = plan.settings;
  if (Object.keys(rest).length > 0) plan.tasks = plan.tasks.map((t) => ({ ...t, ...rest }) as Task);

  return plan;
}

/** --where, parsed and checked against what every input's format provides: exit 2 with the column when it is wrong. */
function checkWhere(text: string, files: readonly LogInput[]): void {
  const formats = files.length === 0 ? [undefined] : files.map((f) => f.logFormat);
  const json = (f: string | undefined) => f === "json" || f?.startsWith("json:") === true;
  const { compileFormat } = require("./count/format.ts") as typeof import("./count/format.ts");
  const { parseWhere, WhereError } = require("./count/where.ts") as typeof import("./count/where.ts");
  const compiled = (f: string | undefined) => (f === undefined || FAST_FORMATS.has(f) ? null : compileFormat(f));
  const has = {
    vhost: formats.every((f) => json(f) || (compiled(f)?.host ?? -1) >= 0),
    request_time: formats.every((f) => json(f) || (compiled(f)?.latency ?? -1) >= 0),
  };
  try {
    parseWhere(text, has);
  } catch (err) {
    if (err instanceof WhereError) throw new LogmrError(err.message, EXIT_USAGE);
    throw err;
  }
}

/** --vhost needs every input's format to name the host of a line. */
function checkFormatsNameHosts(files: readonly LogInput[], flag = "--vhost"): void {
  if (files.length === 0) throw new LogmrError(`${flag} applies to log files whose format names the host (generated traffic has none)`, EXIT_USAGE);
  for (const file of files) {
    const format = file.logFormat;
    if (format === "json" || format?.startsWith("json:")) continue;
    if (format !== undefined && (require("./count/format.ts") as typeof import("./count/format.ts")).compileFormat(format).host >= 0) continue;
    const name = file.format === "stdin" ? "standard input" : file.path;
    throw new LogmrError(`${flag}: ${name} is read as ${format ?? "combined"}, which names no virtual host (give a --format with %v, $host or $server_name, or JSON lines with a host)`, EXIT_USAGE);
  }
}

/** The reduce phase: global line numbers, one merge, the report data. */
export function reducePartials(
  plan: Pick<Plan, "tasks" | "input" | "inputNames">, partials: readonly TaskPartial[],
  options: { top: number; since?: number; until?: number; skipped?: string[]; bucket?: TimelineBucket; keyed?: KeyedSummary },
): ReportData {
  globalLineNumbers(plan.tasks, partials);
  const counts = mergeAll(partials);
  // Every task of a run carries the same --vhost.
  const hosts = plan.tasks[0]?.hosts;
  const where = plan.tasks[0]?.where;
  const pathGroups = plan.tasks[0]?.pathGroups;
  return buildReport(counts, { input: plan.input, inputNames: plan.inputNames, top: options.top, since: options.since, until: options.until, hosts, where, pathGroups, skipped: options.skipped ?? [], bucket: options.bucket, keyed: options.keyed });
}

/** What the most frequent reason says about the log's format. */
const FORMAT_HINTS: Record<string, string> = {
  "junk after the user agent": " (Combined lines with more fields after them: give the server's log_format or LogFormat with --format)",
  "a JSON object, not a Common or Combined line": " (JSON lines, as Caddy, Traefik or nginx's escape=json write them: --format json)",
};

/** The share of an input's lines that may be malformed before the run says so and exits 1 (`--max-malformed`). */
export const DEFAULT_MAX_MALFORMED = 0.1;

/**
 * Inputs with more than `maxShare` of their lines malformed, as one line
 * each (name, share, lines, the most frequent reason): a cron job must not
 * report a fraction of the traffic without knowing.
 */
export function overMalformed(tasks: readonly Task[], partials: readonly TaskPartial[], inputNames: readonly string[], maxShare: number): string[] {
  const byInput = new Map<number, { read: number; malformed: number; reasons: Map<string, number> }>();
  const inputOf = new Map(tasks.map((t) => [t.id, t.input]));
  for (const p of partials) {
    const input = inputOf.get(p.taskId) ?? p.task.input;
    const acc = byInput.get(input) ?? { read: 0, malformed: 0, reasons: new Map<string, number>() };
    acc.read += p.lines.read;
    acc.malformed += p.lines.malformed;
    for (const [reason, n] of p.malformedReasons) acc.reasons.set(reason, (acc.reasons.get(reason) ?? 0) + n);
    byInput.set(input, acc);
  }
  const out: string[] = [];
  for (const [input, { read, malformed, reasons }] of [...byInput].sort((a, b) => a[0] - b[0])) {
    if (read === 0 || malformed / read <= maxShare || malformed === 0) continue;
    const [top] = [...reasons].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    out.push(
      `${inputNames[input] ?? `input ${input}`}: ${((100 * malformed) / read).toFixed(1)}% of its ${read.toLocaleString("en-US")} lines are malformed (more than --max-malformed ${+(maxShare * 100).toFixed(2)}%)${top ? `, most of them: ${top[0]}` : ""}${top ? (FORMAT_HINTS[top[0]] ?? "") : ""}`,
    );
  }
  return out;
}

/** Runs the map tasks somewhere (local children by default, GNU parallel over ssh with --hosts). */
export type Mapper = (tasks: readonly Task[], options: MapOptions) => Promise<MapResult>;

/**
 * After the map: every file must still be what was planned (or have only
 * grown), and the partials of each input must cover its bytes end to end.
 * Returns notes for the user; throws InputError when the counts cannot be trusted.
 */
export function checkInputsAfterMap(files: readonly LogInput[], tasks: readonly Task[], partials: readonly TaskPartial[], stdinBytes: number): string[] {
  const notes: string[] = [];
  const byTask = new Map(partials.map((p) => [p.taskId, p]));
  files.forEach((file, k) => {
    const mine = tasks.filter((t) => t.input === k).map((t) => byTask.get(t.id)).filter((p): p is TaskPartial => p !== undefined);
    try {
      checkCoverage(mine, file.format === "stdin" ? "standard input" : file.path, file.format === "stdin" ? stdinBytes : file.format === "plain" ? (file.countedEnd ?? file.identity?.size ?? undefined) : undefined);
    } catch (err) {
      throw new InputError(`${err instanceof Error ? err.message : String(err)}: the report would be wrong`);
    }
    if (file.fd === undefined || !file.identity) return;
    const check = compareIdentity(file.path, file.identity, readIdentity(file.fd, file.identity.size));
    if (!check.ok) throw new InputError(check.message);
    const count = (n: number) => n.toLocaleString("en-US");
    if (check.grewBy > 0) notes.push(`${file.path} grew by ${count(check.grewBy)} bytes during the analysis: counted the ${count(file.identity.size)} bytes it had when the run started`);
    try {
      const now = statSync(file.path);
      if (now.ino !== file.identity.ino || now.dev !== file.identity.dev) notes.push(`${file.path} was replaced during the analysis (rotated?): counted the file it was when the run started`);
    } catch {
      notes.push(`${file.path} was moved or removed during the analysis: counted the file as it was when the run started`);
    }
  });
  return notes;
}

/** What depends on the run, not on the input: the machine, the workers, the timings. */
function runInfo(map: MapResult, r: { workers: number; tasks: number; autoWorkers: boolean; wallMs: number; reduceMs: number; linesRead: number }): RunInfo {
  const busy = map.children.filter((c) => c.busyMs > 0);
  return {
    engineVersion: ENGINE_VERSION,
    bunVersion: Bun.version,
    cpuModel: cpuModel(),
    cores: availableParallelism(),
    platform: `${platform()} ${release()}`,
    hostname: hostname(),
    startedAt: new Date(Math.floor((Date.now() - r.wallMs) / 1000) * 1000).toISOString().replace(".000Z", "Z"),
    workers: r.workers,
    autoWorkers: r.autoWorkers,
    tasks: r.tasks,
    wallMs: r.wallMs,
    spawnMs: stats(busy.map((c) => c.readyAt - c.spawnAt)),
    mapMs: stats(busy.map((c) => c.busyMs)),
    reduceMs: r.reduceMs,
    linesPerSecond: r.wallMs > 0 ? (r.linesRead / r.wallMs) * 1000 : 0,
    utilisation: r.wallMs > 0 ? map.children.reduce((a, c) => a + c.busyMs, 0) / r.wallMs : 0,
    parentMaxRssMb: process.resourceUsage().maxRSS / 1024,
    retries: map.retried.map((t) => ({
      task: describeTask(t.task),
      failedAttempts: t.failures.length,
      causes: t.failures.map((f) => `attempt ${f.attempt}: ${f.cause}`),
      costMs: t.failures.reduce((a, f) => a + f.ms, 0),
    })),
    workerTimings: busy.map((c) => ({
      pid: c.pid,
      tasks: c.tasks.length,
      spawnMs: c.readyAt - c.spawnAt,
      mapMs: c.busyMs,
      maxRssMb: c.maxRssKb / 1024,
      ...(c.host ? { host: c.host } : {}),
    })),
  };
}

/** The local mapper, loaded when there is something to map (a --state run over unchanged files has nothing). */
export const localMapper: Mapper = async (tasks, options) => {
  if (tasks.length === 0 && !options.source) return { tasks: [], partials: [], children: [], retried: [], skipped: [] };
  const { runMapTasks } = await import("./map/run-tasks.ts");
  return runMapTasks(tasks, options);
};

export async function analyze(options: AnalyzeOptions, mapper: Mapper = localMapper): Promise<Analysis> {
  if (options.stateFile === undefined) return analyzeWith(options, mapper);
  const { openIncremental } = await import("./state/incremental.ts");
  const state = openIncremental(options.stateFile, stateSettingsOf(options));
  state.completeLinesOnly = options.follow === true;
  let handed = false;
  try {
    const analysis = await analyzeWith(options, mapper, state);
    handed = analysis.live !== undefined;
    return analysis;
  } finally {
    if (!handed) state.close();
  }
}

/** What the partials of a state are counted with (the format is kept per input). */
function stateSettingsOf(options: AnalyzeOptions) {
  return {
    window: windowOf(options),
    counters: options.counters === "minimal" ? ("minimal" as const) : undefined,
    hosts: options.hosts,
    where: options.where,
    pathGroups: options.pathGroups,
    by: options.by,
  };
}

/** A run that may spill: its directory, what its workers are told, the budget, the rows the parent may hold inline. */
interface SpillPlan {
  dir: SpillDir;
  config: SpillConfig;
  budget: number;
  parentRows: number;
}

/**
 * The budget a run spills under, or undefined for one that keeps everything
 * in memory: --follow keeps its partials to go on from, and a remote
 * mapper's spills would be on other machines. Each gets a note when --memory was given.
 */
function spillBudget(options: AnalyzeOptions, mapper: Mapper, notes: string[]): number | undefined {
  const why = options.follow ? "--follow" : mapper !== localMapper ? "--hosts" : null;
  if (why) {
    if (options.memoryGiven) notes.push(`--memory: a run with ${why} keeps its keyed tables in memory (it does not spill)`);
    return undefined;
  }
  return options.memory ?? defaultBudget();
}

async function analyzeWith(options: AnalyzeOptions, mapper: Mapper, state?: IncrementalRun): Promise<Analysis> {
  const t0 = performance.now();
  const budgetNotes: string[] = [];
  const budget = spillBudget(options, mapper, budgetNotes);
  const plan = planAnalysis(options, state, budget);
  plan.leftOut.push(...budgetNotes);
  const { workers } = plan;
  let spill: SpillPlan | undefined;
  if (budget !== undefined) {
    const { parentRows, inlineRows, maxKeys, workerShare } = planMemory(budget, workers, Math.max(1, plan.tasks.length));
    // A task may keep inline its share of what the parent may hold, by its size.
    const sized = (kind: string) => plan.tasks.reduce((a, t) => a + (t.kind === kind && "end" in t ? t.end - t.start : 0), 0);
    const dir = makeSpillDir(options.tmpDir);
    // The runs a state holds are in its partitions: this run's must be too.
    const stored = state?.storedPartitions() ?? null;
    if (stored !== null && options.partitions !== undefined && options.partitions !== stored) plan.leftOut.push(`--partitions ${options.partitions}: the state's runs are in ${stored} partitions, so this run's are too`);
    spill = {
      dir, budget, parentRows,
      config: {
        dir: dir.path, partitions: stored ?? options.partitions ?? 2 * workers, inlineRows, maxKeys: options.spillKeys ?? maxKeys, workerShare,
        rowsPerByte: parentRows / Math.max(1, sized("file")), rowsPerLine: parentRows / Math.max(1, sized("generate")),
      },
    };
  }
  if (spill && state) state.useSpill(spill.config.dir, spill.config.partitions);
  try {
    return await mapAndReduce(options, mapper, plan, t0, state, spill);
  } finally {
    spill?.dir.remove();
  }
}

async function mapAndReduce(
  options: AnalyzeOptions, mapper: Mapper, plan: Plan, t0: number, state: IncrementalRun | undefined, spill: SpillPlan | undefined,
): Promise<Analysis> {
  const { workers } = plan;
  const guard = spill ? new ParentGuard(spill.config, spill.parentRows) : undefined;
  const stdinAt = plan.files.findIndex((f) => f.format === "stdin");
  let source: import("./map/stdin-segments.ts").StdinSegments | undefined;
  let map: MapResult;
  let notes: string[];
  let skippedInputs: string[];
  let stateReport: StateReport | undefined;
  let mappedTasks = 0;
  try {
    if (stdinAt >= 0) {
      const { StdinSegments } = await import("./map/stdin-segments.ts");
      source = new StdinSegments(options.stdin ?? Bun.stdin.stream(), {
        input: stdinAt,
        firstId: plan.tasks.length,
        window: windowOf(options),
        counters: options.counters,
        segmentBytes: options.stdinSegmentBytes,
        format: taskFormat(options.format),
        detect: options.format === undefined,
        hosts: options.hosts,
        where: options.where,
        pathGroups: options.pathGroups,
        by: options.by,
        // Room for a task in flight and one waiting per worker, whatever fails.
        maxPending: Math.max(8, 2 * workers),
      });
    }
    map = await mapper(plan.tasks, {
      workers,
      retries: options.retries,
      taskTimeoutMs: options.taskTimeoutMs,
      onProgress: options.onProgress,
      source,
      skipCorrupt: options.skipUnreadable,
      onPartial: state || guard
        ? (task, partial) => {
          state?.storePartial(task, partial);
          guard?.accept(task.id, partial);
        }
        : undefined,
      ...(spill ? { spillDir: spill.config.dir, env: { ...process.env, [SPILL_ENV]: JSON.stringify(spill.config) } } : {}),
    });
    mappedTasks = map.tasks.length;
    if (state) {
      // A mapper that reports only at its end (GNU parallel) stores here; each partial is stored once.
      const taskOf = new Map(map.tasks.map((t) => [t.id, t]));
      for (const p of map.partials) state.storePartial(taskOf.get(p.taskId) ?? p.task, p);
      const firstId = map.tasks.reduce((a, t) => Math.max(a, t.id), -1) + 1;
      const merged = state.finish(plan.files, map.tasks, map.partials, firstId);
      map = { ...map, tasks: merged.tasks, partials: merged.partials };
      stateReport = merged.report;
    }
    skippedInputs = [...plan.skipped, ...(map.skipped ?? []).map((s) => s.why)];
    notes = [...plan.leftOut, ...(source?.note ? [source.note] : []), ...skippedInputs.map((s) => `skipped ${s}`), ...checkInputsAfterMap(plan.files, map.tasks, map.partials, source?.bytes ?? 0)];
  } catch (err) {
    if (options.follow) closeInputs(plan.files);
    throw err;
  } finally {
    source?.close();
    if (!options.follow) closeInputs(plan.files);
  }
  if (source) {
    const entry = plan.input.kind === "files" ? plan.input.files[stdinAt] : undefined;
    if (entry) entry.bytes = source.bytes;
  }
  const tasks = map.tasks;
  const tReduce = performance.now();
  let shuffled: Awaited<ReturnType<typeof import("./shuffle/shuffle.ts").reduceSpilled>> | undefined;
  if (spill && map.partials.some((p) => p.spill)) {
    const { reduceSpilled } = await import("./shuffle/shuffle.ts");
    shuffled = await reduceSpilled(map.partials, spill.config, { top: options.top, workers, retries: options.retries, timeoutMs: options.taskTimeoutMs });
  }
  const data = reducePartials({ ...plan, tasks }, map.partials, { ...options, skipped: skippedInputs, keyed: shuffled?.keyed });
  const tEnd = performance.now();

  const run = runInfo(map, { workers, tasks: mappedTasks, autoWorkers: options.workers === undefined, wallMs: tEnd - t0, reduceMs: tEnd - tReduce, linesRead: data.lines.read });
  if (stateReport && state) run.state = { file: state.path, ...stateReport };
  if (spill) {
    run.memory = {
      budgetMb: spill.budget / 2 ** 20,
      spilled: shuffled !== undefined,
      ...shuffled?.info,
    };
  }
  // A followed log may start empty: its lines are still to come.
  if (plan.hasFiles && data.lines.valid === 0 && !(options.follow && data.lines.read === 0)) throw new NoValidLinesError(data);
  const tooMalformed = overMalformed(tasks, map.partials, plan.inputNames, options.maxMalformed ?? DEFAULT_MAX_MALFORMED);
  const live = options.follow ? { plan, tasks, partials: map.partials, ...(state ? { state } : {}) } : undefined;
  return { data, run, notes, tooMalformed, ...(live ? { live } : {}) };
}
