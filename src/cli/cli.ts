// The thin CLI over the engine: argument checking, dispatch between the
// analyze command (the default) and subcommands, output, exit codes, signals.

import { closeSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ArgsDef, CommandDef } from "citty";
import { EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, InputError, LogmrError } from "../core/errors.ts";
import { checkArgs, defineCommand, optionValues, parseCount, parseCountList, parseFlags as parseArgs, parseTime, UsageError } from "./args.ts";
import { analyze, defaultWorkers, type LiveRun, localMapper as analyzeMapper, type Mapper, planAnalysis, reducePartials } from "../engine.ts";
import { DEFAULT_GENERATOR, DEFAULT_SEED } from "../core/traffic.ts";
import { closeInputs, type ListedInput, type LogInput } from "../plan/resolve-inputs.ts";
import { isRunning, runCleanups, whileRunning } from "../core/cleanup.ts";
import { SEGMENT_BYTES_ENV, SPILL_KEYS_ENV } from "../core/protocol.ts";
import { FAST_FORMATS } from "../count/format-names.ts";
import { parseHostNames } from "../count/host-filter.ts";
import type { Task } from "../core/task.ts";
import { DEFAULT_RETRIES, DEFAULT_TASK_TIMEOUT_MS, killChildren } from "../map/children.ts";
import { logError, logWarn, setQuiet } from "./log.ts";
import { isTerminal, writeAll } from "../core/fd.ts";
import { ProgressLine } from "./progress.ts";
import { REPORT_SCHEMA_VERSION, renderJson, renderReport, type ReportData, type RunInfo, TIMELINE_BUCKETS, type TimelineBucket } from "../report/report.ts";
import { ENGINE_VERSION } from "../core/version.ts";
import { stateCommand } from "./state-args.ts";
import { parseSize } from "../shuffle/budget.ts";

export { EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE } from "../core/errors.ts";

export const DEFAULT_LINES = 5_000_000;
export const DEFAULT_TOP = 10;


const commonArgs = {
  lines: { type: "string", description: `Generated lines to analyze (5000000, 5_000_000, 5e6 or 5M) [default: ${DEFAULT_LINES}]` },
  seed: { type: "string", description: `Seed of the generated traffic (0..4294967295) [default: ${DEFAULT_SEED}]` },
} as const satisfies ArgsDef;

const analyzeArgs = {
  files: { type: "positional", required: false, description: "Access logs to analyze: files, directories, - for stdin (none: generated traffic)" },
  ...commonArgs,
  workers: { type: "string", alias: "w", description: "Worker processes [default: the cores available, at most one per 500,000 generated lines or 64 MiB of plain file]" },
  top: { type: "string", description: `Length of the top lists [default: ${DEFAULT_TOP}]` },
  since: { type: "string", description: "Count only requests at or after this time (ISO 8601 or 27/Nov/2026:10:00:00 +0000; UTC if no offset)" },
  until: { type: "string", description: "Count only requests before this time" },
  retries: { type: "string", description: `Re-runs of a failed map task, on a fresh child [default: ${DEFAULT_RETRIES}]` },
  format: { type: "string", description: "The log format: combined (default), common, nginx, nginx-timed (nginx with $request_time $upstream_response_time), vhost_combined, json (Caddy, Traefik, nginx escape=json), an nginx log_format string, or apache: and a LogFormat string" },
  "format-file": { type: "string", description: "Read the format from this nginx or Apache configuration file (its log_format or LogFormat line)" },
  "format-name": { type: "string", description: "With --format-file: which of its formats, by name" },
  where: { type: "string", description: "Count only the lines this holds for, e.g. 'status >= 500 and path ~ \"^/api/\"': fields status, class, method, path, query, client, referer, agent, bytes, time, vhost, request_time; = != < <= > >= ~ !~ in, and, or, not, CIDR (client in 10.0.0.0/8), 1M, 250ms, 2026-11-27T10:00" },
  "group-path": { type: "string", description: "Count paths by route: a template (/users/:id/posts, /static/**; repeatable, tried in order before the default folds); none: no default folds (alone: the paths as logged) [default: numeric ids, UUIDs and hex hashes as :id, :uuid, :hash]" },
  by: { type: "string", description: "Also split requests, errors, clients, bytes and response times by one field: status, class, method, path (by route), client, referer, agent, vhost, hour, day, week or month" },
  bucket: { type: "string", description: "The timeline's bucket: minute, hour, day, week (from Monday) or month, in UTC [default: chosen from the log's span]" },
  vhost: { type: "string", description: "Count only these virtual hosts (comma-separated; with or without the port; *.example.com for subdomains): the format must name the host (%v, $host, $server_name, JSON's request.host)" },
  field: { type: "string", description: "With --format json: the log's own keys, NAME=KEY,... (client, method, uri, request, status, bytes, referer, agent, host, time, seconds, milliseconds, nanoseconds; KEY may be dotted: req.ip)" },
  follow: { type: "boolean", alias: "f", description: "After the report, keep watching the files (as tail -F: renamed and truncated ones too) and count their new lines as they come: the report is drawn again every --interval on a terminal, or one --json document a line per interval on a pipe; Ctrl-C ends it with a last report" },
  interval: { type: "string", description: "With --follow: seconds between reports [default: 2]" },
  memory: { type: "string", description: "The run's memory budget, parent and workers together (512M, 2G): past it, tasks get smaller and the keyed tables (clients, paths, 404 paths, referrers, agents, virtual hosts, --by groups) go to sorted files under --tmp, reduced by partition on the workers; the counts stay exact [default: a quarter of the machine's memory]" },
  tmp: { type: "string", description: "Where --memory puts its spill files (removed when the run ends) [default: the OS temporary directory]" },
  partitions: { type: "string", description: "With spill files: the reduce partitions, one reducer each [default: two per worker]" },
  state: { type: "string", description: "Remember what was counted in this SQLite file: a later run with it reads only the bytes no earlier run counted (rotated files are known by inode and first bytes) and reports the whole" },
  "list-inputs": { type: "boolean", description: "Print which files would be read (oldest first) and which left out, and why, without analyzing" },
  "max-malformed": { type: "string", description: "Percent of an input's lines that may be malformed: above it the report says so and the run exits 1 after it; 0 = strict, 100 = accept anything [default: 10]" },
  "skip-unreadable": { type: "boolean", description: "Leave out files that cannot be read (dangling links, no permission), each named on stderr, instead of failing the run" },
  "task-timeout": { type: "string", description: `Seconds a worker may go without progress before it is killed and its tasks retried; 0 = off [default: ${DEFAULT_TASK_TIMEOUT_MS / 1000}]` },
  counters: { type: "enum", options: ["full", "minimal"], description: "minimal: report only clients, statuses, bytes and minutes (what the C yardstick counts; every line is validated the same), to see what the other counters cost [default: full]" },
  hosts: { type: "string", description: "Run the map tasks on these hosts over ssh with GNU parallel (comma-separated sshlogins)" },
  "sshlogin-file": { type: "string", description: "Like --hosts, one sshlogin per line" },
  ssh: { type: "string", description: "The ssh command GNU parallel uses (e.g. \"ssh -p 2222 -i key\")" },
  "jobs-per-host": { type: "string", description: "Tasks at once per host with --hosts [default: one per core]" },
  json: { type: "boolean", description: "Print the report as one JSON document" },
  html: { type: "string", description: "Also write the report as one self-contained HTML page (charts, sortable tables) to this file; with --quiet, instead of the report on stdout (- : the page on stdout)" },
  csv: { type: "string", description: "Also write every table of the report to this CSV file (one table, a section column saying which list a row is from; - : on stdout)" },
  out: { type: "string", alias: "o", description: "Write the report to this file instead of stdout, in the form its name ends with: .html, .json, .csv or .txt (- : stdout)" },
  quiet: { type: "boolean", alias: "q", description: "No progress or messages on stderr except errors" },
  version: { type: "boolean", alias: "v", description: "Print the engine version" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;

const generateArgs = {
  ...commonArgs,
  out: { type: "string", alias: "o", description: "Write to this file (atomically: temporary name, then rename) [default: stdout]" },
  format: { type: "string", description: "combined (default), or nginx-timed: nginx's combined with $request_time $upstream_response_time appended" },
  cardinality: { type: "enum", options: ["normal", "high"], description: "high: every line its own client (10.0.0.0 upwards) and every two lines their own path (/item/N), for measuring memory on logs with millions of keys [default: normal]" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;

const analyzeCommand = defineCommand({
  meta: {
    name: "analyze.ts",
    version: ENGINE_VERSION,
    description: "MapReduce access-log analysis on every core. Subcommands: generate, bench, compare, diff, plan, reduce, help. Name a file called like a subcommand as ./generate.",
  },
  args: analyzeArgs,
});
const generateCommand = defineCommand({
  meta: { name: "generate", description: "Write the generated traffic as an access log, byte-identical to what the mappers analyze" },
  args: generateArgs,
});

const benchArgs = {
  files: { type: "positional", required: false, description: "Log files to analyze (none: generated traffic)" },
  lines: { type: "string", description: `Generated lines per run [default: ${DEFAULT_LINES}]` },
  workers: { type: "string", alias: "w", description: "Worker counts to compare, comma-separated [default: 1 and the cores available]" },
  runs: { type: "string", description: "Timed runs per configuration [default: 5]" },
  warmup: { type: "string", description: "Untimed warm-up runs per configuration [default: 1]" },
  "reference-lines": { type: "string", description: "Lines for the straightforward reference row, 0 for none [default: 300000]" },
  yardsticks: { type: "boolean", default: true, description: "Also time the C program (generated data), wc -l and mawk (one file) when present" },
  "yardstick-c": { type: "string", description: "Source of the C yardstick [default: ../shared/bench/limit.c]" },
  json: { type: "boolean", description: "Print the result as JSON" },
  "export-json": { type: "string", description: "Also save the result as JSON to this file" },
  "export-markdown": { type: "string", description: "Also save the result as a Markdown table to this file" },
  svg: { type: "string", description: "Also draw the scaling curve (speedup against workers, with the ideal) to this SVG file" },
  html: { type: "string", description: "Also write the runs table and the scaling curve as one self-contained HTML page to this file (- : instead of the table on stdout)" },
  counters: { type: "enum", options: ["full", "both"], description: "both: also time every worker count with --counters minimal, to show what the full counters cost [default: full]" },
  format: analyzeArgs.format,
  "format-file": analyzeArgs["format-file"],
  "format-name": analyzeArgs["format-name"],
  field: analyzeArgs.field,
  baseline: { type: "string", description: "Also time this Combined log with the same worker counts in the same rounds, and compare (what a --format or a --where costs)" },
  where: analyzeArgs.where,
  state: { type: "boolean", description: "Also time each worker count with --state: a first run into an empty state, and a run over the unchanged files (what a cron job pays when nothing is new)" },
  quiet: { type: "boolean", alias: "q", description: "No progress on stderr" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;

const benchCommand = defineCommand({
  meta: { name: "bench", description: "Time whole runs per worker count (warm-up, then K runs, in interleaved rounds), with yardsticks measured in the same rounds" },
  args: benchArgs,
});

/** What plan uses of analyze's flags: the inputs and how they are cut into tasks (the rest belongs to the run). */
const planArgs = {
  files: analyzeArgs.files,
  lines: analyzeArgs.lines,
  seed: analyzeArgs.seed,
  workers: analyzeArgs.workers,
  since: analyzeArgs.since,
  until: analyzeArgs.until,
  counters: analyzeArgs.counters,
  format: analyzeArgs.format,
  "format-file": analyzeArgs["format-file"],
  "format-name": analyzeArgs["format-name"],
  field: analyzeArgs.field,
  vhost: analyzeArgs.vhost,
  where: analyzeArgs.where,
  "group-path": analyzeArgs["group-path"],
  by: analyzeArgs.by,
  "skip-unreadable": analyzeArgs["skip-unreadable"],
  quiet: analyzeArgs.quiet,
  help: analyzeArgs.help,
} as const satisfies ArgsDef;
const planCommand = defineCommand({
  meta: { name: "plan", description: "Write the map tasks, one JSON object per line, for running elsewhere (the inputs and how they are cut, as for analyze)" },
  args: planArgs,
});
const reduceArgs = {
  partials: { type: "positional", required: false, description: "Files of partials, one JSON object per line (none or -: stdin)" },
  plan: { type: "string", description: "The plan the partials answer: every task must have exactly one partial" },
  top: analyzeArgs.top,
  bucket: analyzeArgs.bucket,
  json: analyzeArgs.json,
  html: analyzeArgs.html,
  csv: analyzeArgs.csv,
  out: analyzeArgs.out,
  quiet: { type: "boolean", alias: "q", description: "With --html or --csv: no report on stdout" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;
const reduceCommand = defineCommand({
  meta: { name: "reduce", description: "Validate and merge partials from workers run anywhere, and print the report" },
  args: reduceArgs,
});

const compareArgs = {
  results: { type: "positional", required: false, description: "Two or more results saved with bench --export-json" },
  json: { type: "boolean", description: "Print the comparison as JSON" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;
const compareCommand = defineCommand({
  meta: { name: "compare", description: "Saved bench results side by side: each row's median and its ratio to the first result" },
  args: compareArgs,
});

// diff prints a comparison, not a report: the report's files are not its flags.
const { html: _html, csv: _csv, out: _out, state: _state, ...analyzeRunArgs } = analyzeArgs;
const diffArgs = {
  ...analyzeRunArgs,
  files: { type: "positional", required: false, description: "Two reports saved with --json (A, then B); or, with --baseline-since/--baseline-until, the logs to read in both windows" },
  "baseline-since": { type: "string", description: "Make A from the logs themselves: their requests at or after this time (B: --since/--until)" },
  "baseline-until": { type: "string", description: "With the logs: A's requests before this time" },
  top: { type: "string", description: `Movers shown per top list (and, with the logs, the length of each run's top lists) [default: ${DEFAULT_TOP}]` },
  json: { type: "boolean", description: "Print the comparison as one JSON document" },
} as const satisfies ArgsDef;
const diffCommand = defineCommand({
  meta: { name: "diff", description: "Compare two reports (saved with --json, or two windows of the same logs): totals, error rates, response times, and the movers of every top list" },
  args: diffArgs,
});

const SUBCOMMANDS: Record<string, CommandDef<ArgsDef>> = {
  diff: diffCommand as CommandDef<ArgsDef>,
  plan: planCommand as CommandDef<ArgsDef>,
  reduce: reduceCommand as CommandDef<ArgsDef>,
  compare: compareCommand as CommandDef<ArgsDef>,
  generate: generateCommand as CommandDef<ArgsDef>,
  bench: benchCommand as CommandDef<ArgsDef>,
  state: stateCommand as CommandDef<ArgsDef>,
};

function useColor(terminal: boolean): boolean {
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== "0") return true;
  return terminal;
}

/** The report's style on stdout (its width read only from a terminal: process.stdout costs start-up, see isTerminal). */
function stdoutStyle(): { color: boolean; width: number } {
  const terminal = isTerminal(1);
  return { color: useColor(terminal), width: (terminal ? process.stdout.columns : undefined) ?? 100 };
}


/** Writes to stdout; a reader that went away (`| head`) ends the process quietly. */
function writeStdout(text: string): void {
  try {
    writeAll(1, Buffer.from(text));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EPIPE") process.exit(EXIT_OK);
    throw err;
  }
}

async function showHelp(cmd: CommandDef<ArgsDef>, parent?: CommandDef<ArgsDef>): Promise<void> {
  const { renderUsage } = await import("citty");
  let text = (await renderUsage(cmd, parent)).replace(/ +$/gm, "");
  // citty colours by environment only; colour only a terminal here.
  if (!useColor(isTerminal(1))) text = text.replace(/\x1b\[[0-9;]*m/g, "");
  writeStdout(`${text}\n`);
}

function seedOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SEED;
  const seed = parseCount(text, "seed", 0);
  if (seed > 0xffffffff) throw new UsageError(`--seed must be at most 4294967295, got ${JSON.stringify(text)}`);
  return seed;
}

type AnalyzeArgs = ReturnType<typeof parseArgs>;

/** --bucket's value, checked. */
function bucketOf(text: string | undefined): TimelineBucket | undefined {
  if (text === undefined) return undefined;
  if (!(TIMELINE_BUCKETS as readonly string[]).includes(text)) throw new UsageError(`--bucket must be one of ${TIMELINE_BUCKETS.join(", ")}, got ${JSON.stringify(text)}`);
  return text as TimelineBucket;
}

/** The --group-path values, checked (none given: the default folds, told to no task; "none" with patterns: the patterns only). */
function pathGroupsOf(values: readonly string[]): string[] | undefined {
  if (values.length === 0) return undefined;
  const { checkPathGroups } = require("../count/path-groups.ts") as typeof import("../count/path-groups.ts");
  return checkPathGroups(values);
}

/** plan refuses the flags of a run it does not make (citty would take them silently). */
function refuseRunFlags(rawArgs: readonly string[]): void {
  const names = (def: ArgsDef) => new Set(Object.entries(def).flatMap(([k, v]) => [k, ...("alias" in v && typeof v.alias === "string" ? [v.alias] : [])]));
  const [forPlan, forRun] = [names(planArgs), names(analyzeArgs)];
  const runOnly = rawArgs.find((a) => {
    const name = a.replace(/^--?/, "").split("=")[0]!;
    return a.startsWith("-") && a !== "-" && !forPlan.has(name) && forRun.has(name);
  });
  if (runOnly) throw new UsageError(`plan does not use ${runOnly.split("=")[0]}: it belongs to a run (analyze or reduce)`);
}

function sizeOf(text: string, flag: string): number {
  const bytes = parseSize(text);
  if (bytes === null) throw new UsageError(`--${flag} ${JSON.stringify(text)} is not a size (512M, 2G, 1.5G, 800000K)`);
  return bytes;
}

/** --tmp: an existing directory (checked now, not after the map). */
function tmpDirOf(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  let st: import("node:fs").Stats;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`--tmp ${JSON.stringify(dir)}: no such directory`);
  }
  if (!st.isDirectory()) throw new UsageError(`--tmp ${JSON.stringify(dir)} is not a directory`);
  return dir;
}

/** The analysis options of the command line, every value checked. */
function analyzeOptions(files: string[], args: AnalyzeArgs, rawArgs: readonly string[]) {
  if (files.length > 0 && args.lines !== undefined) throw new UsageError("--lines applies to generated traffic, not to files");
  if (files.length > 0 && args.seed !== undefined) throw new UsageError("--seed applies to generated traffic, not to files");
  if (files.length === 0 && (args.format !== undefined || args["format-file"] !== undefined || args.field !== undefined)) throw new UsageError("--format applies to log files (generated traffic is Combined)");
  const options = {
    inputs: files,
    lines: args.lines === undefined ? DEFAULT_LINES : parseCount(args.lines, "lines"),
    seed: seedOf(args.seed),
    // Unset: the engine starts a worker per core only when each has enough work (autoWorkers).
    workers: args.workers === undefined ? undefined : parseCount(args.workers, "workers"),
    top: args.top === undefined ? DEFAULT_TOP : parseCount(args.top, "top"),
    since: args.since === undefined ? undefined : parseTime(args.since, "since"),
    until: args.until === undefined ? undefined : parseTime(args.until, "until"),
    retries: args.retries === undefined ? DEFAULT_RETRIES : parseCount(args.retries, "retries", 0),
    counters: args.counters === "minimal" ? ("minimal" as const) : ("full" as const),
    taskTimeoutMs: args["task-timeout"] === undefined ? DEFAULT_TASK_TIMEOUT_MS : parseSeconds(args["task-timeout"], "task-timeout") * 1000,
    skipUnreadable: args["skip-unreadable"] === true,
    format: formatOf(args.format as string | undefined, args["format-file"] as string | undefined, args["format-name"] as string | undefined, args.field as string | undefined),
    hosts: args.vhost === undefined ? undefined : hostNamesOf(args.vhost as string),
    where: args.where as string | undefined,
    pathGroups: pathGroupsOf(optionValues(rawArgs, "group-path")),
    by: args.by as string | undefined,
    bucket: bucketOf(args.bucket as string | undefined),
    maxMalformed: args["max-malformed"] === undefined ? undefined : parsePercent(args["max-malformed"], "max-malformed") / 100,
    memory: args.memory === undefined ? undefined : sizeOf(args.memory as string, "memory"),
    memoryGiven: args.memory !== undefined,
    tmpDir: tmpDirOf(args.tmp as string | undefined),
    partitions: args.partitions === undefined ? undefined : parseCount(args.partitions as string, "partitions", 1),
    // Small segments inside a task, to test them on small inputs (tests and the soak only).
    spillKeys: process.env[SPILL_KEYS_ENV] ? parseCount(process.env[SPILL_KEYS_ENV], SPILL_KEYS_ENV) : undefined,
    // Small segments make small stdin inputs several tasks (tests and the soak only).
    stdinSegmentBytes: process.env[SEGMENT_BYTES_ENV] ? parseCount(process.env[SEGMENT_BYTES_ENV], SEGMENT_BYTES_ENV) : undefined,
  };
  if (options.since !== undefined && options.until !== undefined && options.since >= options.until) {
    throw new UsageError("--since must be before --until");
  }
  const stateFile = args.state as string | undefined;
  if (stateFile !== undefined) {
    if (files.length === 0) throw new UsageError("--state remembers log files: give the files (generated traffic is made again by each run)");
    if (files.includes("-")) throw new UsageError("--state cannot remember standard input (it has no name or inode to know it by next time)");
    if (stateFile === "") throw new UsageError("--state needs a file name");
  }
  const follow = args.follow === true;
  if (follow) {
    if (files.length === 0) throw new UsageError("--follow watches log files: give the files (generated traffic does not grow)");
    if (files.includes("-")) throw new UsageError("--follow watches files by name; standard input is read to its end without it");
  }
  if (args.interval !== undefined && !follow) throw new UsageError("--interval goes with --follow");
  const intervalMs = args.interval === undefined ? 2000 : parseSeconds(args.interval as string, "interval") * 1000;
  if (follow && intervalMs < 100) throw new UsageError(`--interval must be at least 0.1 seconds, got ${JSON.stringify(args.interval)}`);
  return { ...options, stateFile, follow, intervalMs };
}

/** The mapper --hosts or --sshlogin-file ask for (GNU parallel over ssh), or undefined for local children. */
async function mapperOf(args: AnalyzeArgs): Promise<Mapper | undefined> {
  const hosts = (args.hosts as string | undefined)?.split(",").map((h) => h.trim()).filter(Boolean);
  if (hosts?.length || args["sshlogin-file"]) {
    const { hostsMapper } = await import("../cluster/cluster.ts");
    return hostsMapper({
      hosts,
      sshloginFile: args["sshlogin-file"],
      ssh: args.ssh,
      jobsPerHost: args["jobs-per-host"] === undefined ? undefined : parseCount(args["jobs-per-host"], "jobs-per-host"),
      timeoutSeconds: args["task-timeout"] === undefined ? 0 : parseSeconds(args["task-timeout"], "task-timeout"),
    });
  }
  if (args.ssh || args["jobs-per-host"]) throw new UsageError("--ssh and --jobs-per-host go with --hosts or --sshlogin-file");
  return undefined;
}

async function runAnalyze(rawArgs: string[], mode: "analyze" | "plan" = "analyze"): Promise<number> {
  if (mode === "plan") refuseRunFlags(rawArgs);
  const files = checkArgs(rawArgs, mode === "plan" ? planArgs : analyzeArgs);
  const args = parseArgs(rawArgs, analyzeArgs);
  if (args.help) {
    await showHelp((mode === "plan" ? planCommand : analyzeCommand) as CommandDef<ArgsDef>, mode === "plan" ? (analyzeCommand as CommandDef<ArgsDef>) : undefined);
    return EXIT_OK;
  }
  if (args.version) {
    writeStdout(`${ENGINE_VERSION}\n`);
    return EXIT_OK;
  }
  const options = analyzeOptions(files, args, rawArgs);
  if (mode === "analyze") checkReportTargets(reportTargets(args));
  setQuiet(args.quiet === true);
  if (args["list-inputs"]) {
    if (files.length === 0) throw new UsageError("--list-inputs needs files or directories");
    // Every file is listed, those that cannot be read too (with why).
    const plan = planAnalysis({ ...options, skipUnreadable: true });
    closeInputs(plan.files);
    writeStdout(renderListing(plan.listing, plan.files));
    return EXIT_OK;
  }
  if (mode === "plan") {
    if (files.includes("-")) throw new UsageError("a plan cannot read standard input (-): its tasks run elsewhere");
    const { planLines } = await import("../cluster/cluster.ts");
    const plan = planAnalysis(options);
    closeInputs(plan.files);
    for (const s of plan.skipped) await logWarn(`skipped ${s}`);
    writeStdout(planLines(plan.tasks));
    return EXIT_OK;
  }
  const mapper = await mapperOf(args);
  const progress = !args.quiet && isTerminal(2) ? new ProgressLine(process.stderr, files.length > 0 ? "bytes" : "lines") : null;
  activeProgress = progress;
  if (options.follow && mapper) throw new UsageError("--follow maps on this machine: leave out --hosts");
  const { data, run, notes, tooMalformed, live } = await analyze({ ...options, onProgress: progress?.update }, mapper);
  progress?.finish(true);
  activeProgress = null;
  for (const note of notes) await logWarn(note);
  await reportNow();
  if (live) return await followOn(live, data, run, options, args);
  await writeReport(data, run, reportTargets(args));
  // After the report, so that it is there to read; the exit code is what a cron job sees.
  for (const line of tooMalformed) await logError(line);
  return tooMalformed.length > 0 ? EXIT_FAILED : EXIT_OK;
}

/**
 * --follow after the first pass: on a terminal the report is drawn again in
 * place, with --json one document a line per interval (for a program that
 * reads the pipe), otherwise only the last report at the end. Ctrl-C (or
 * SIGTERM) ends it with exit 0 once the last report is out.
 */
async function followOn(live: LiveRun, data: ReportData, run: RunInfo, options: ReturnType<typeof analyzeOptions>, args: AnalyzeArgs): Promise<number> {
  const { Follower } = await import("../follow/follow.ts");
  const terminal = isTerminal(1) && !args.json;
  const targets = reportTargets(args);
  const show = async (d: ReportData, r: RunInfo, last: boolean) => {
    if (args.json) writeStdout(`${JSON.stringify({ schema: REPORT_SCHEMA_VERSION, engine: r.engineVersion, data: d, run: r })}\n`);
    else if (terminal) writeStdout(`\x1b[H\x1b[2J${renderReport(d, r, stdoutStyle())}`);
    else if (last) await writeReport(d, r, targets);
    if (last && (targets.html !== undefined || targets.csv !== undefined || targets.out !== undefined) && (args.json || terminal)) await writeReport(d, r, { ...targets, json: false, quiet: true });
  };
  await show(data, run, false);
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  onFollowStop = stop;
  const follower = new Follower(live, run, {
    mapper: (tasks, o) => analyzeMapper(tasks, o),
    workers: Math.max(1, options.workers ?? defaultWorkers()),
    retries: options.retries,
    taskTimeoutMs: options.taskTimeoutMs,
    top: options.top,
    since: options.since,
    until: options.until,
    bucket: options.bucket,
    intervalMs: options.intervalMs,
    pollMs: Math.min(1000, options.intervalMs),
    onReport: show,
    onNote: (line) => logWarn(line),
    stopped,
  });
  try {
    await follower.run();
  } finally {
    onFollowStop = null;
    follower.close();
  }
  return EXIT_OK;
}

async function runGenerate(rawArgs: string[]): Promise<number> {
  checkArgs(rawArgs, generateArgs, 0);
  const args = parseArgs(rawArgs, generateArgs);
  if (args.help) {
    await showHelp(generateCommand as CommandDef<ArgsDef>, analyzeCommand as CommandDef<ArgsDef>);
    return EXIT_OK;
  }
  const lines = args.lines === undefined ? DEFAULT_LINES : parseCount(args.lines, "lines");
  const seed = seedOf(args.seed);
  const format: string = args.format ?? "combined";
  // What generate writes (loaded here, like the generator, to spare every other command its start-up).
  const { appendTimings, GENERATED_FORMATS, MAX_TIMING_BYTES } = await import("../map/timed-lines.ts");
  if (!(GENERATED_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format of generate: ${format} is not one of ${GENERATED_FORMATS.join(", ")}`);
  const out = args.out;
  const toStdout = out === undefined || out === "-";
  const temp = toStdout ? null : join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  let fd = 1;
  let removeTemp = () => {};
  if (temp) {
    removeStaleTemps(out!);
    try {
      fd = openSync(temp, "w");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? `there is no folder ${dirname(out!)}` : code === "EACCES" ? `no permission to write in ${dirname(out!)}` : code ?? String(err);
      throw new InputError(`cannot write ${out}: ${why}`);
    }
    removeTemp = whileRunning(() => rmSync(temp, { force: true }));
  }
  // Loaded here: its tables cost every other command ~10 ms of start-up.
  const { LineGenerator } = await import("../map/generate.ts");
  const high = args.cardinality === "high" ? await import("../map/high-cardinality.ts") : null;
  try {
    const gen = new LineGenerator(seed, DEFAULT_GENERATOR);
    const buf = new Uint8Array(1 << 20);
    // A generated line is at least 64 bytes: room for what each line of a buffer may grow by.
    const keyed = high ? new Uint8Array(buf.length + (buf.length >> 6) * high.MAX_HIGH_CARDINALITY_GROWTH) : null;
    const timed = format === "nginx-timed" ? new Uint8Array((keyed ?? buf).length + (buf.length >> 6) * MAX_TIMING_BYTES) : null;
    for (let i = 0, chunks = 0; i < lines; i = gen.next) {
      let n = gen.fill(buf, i, lines);
      let lineBytes = buf;
      if (high && keyed) {
        n = high.withHighCardinality(buf, n, i, keyed);
        lineBytes = keyed;
      }
      writeAll(fd, timed ? timed.subarray(0, appendTimings(lineBytes, n, i, seed, timed)) : lineBytes.subarray(0, n));
      // The loop is synchronous: let a SIGINT or SIGTERM in now and then.
      if (++chunks % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await reportNow();
    if (temp) {
      closeSync(fd);
      renameSync(temp, out!);
      removeTemp = () => {};
    }
  } catch (err) {
    removeTemp();
    if (toStdout && (err as NodeJS.ErrnoException).code === "EPIPE") return EXIT_OK;
    throw new InputError(`cannot write ${toStdout ? "stdout" : out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return EXIT_OK;
}

/** `help [SUBCOMMAND]`: the help of the main command or of a subcommand. */
async function runHelp(rest: string[]): Promise<number> {
  const [name, ...extra] = rest;
  if (extra.length > 0 || (name !== undefined && !SUBCOMMANDS[name])) throw new UsageError(`help takes no argument or one of: ${Object.keys(SUBCOMMANDS).join(", ")}`);
  await showHelp((name ? SUBCOMMANDS[name]! : analyzeCommand) as CommandDef<ArgsDef>, name ? (analyzeCommand as CommandDef<ArgsDef>) : undefined);
  return EXIT_OK;
}

/** Removes temporary files that an earlier generate to `out` left behind when it was killed. */
function removeStaleTemps(out: string): void {
  const prefix = `.${basename(out)}.`;
  let entries: string[];
  try {
    entries = readdirSync(dirname(out));
  } catch {
    return; // the write itself will say what is wrong
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !entry.endsWith(".tmp")) continue;
    const pid = Number(entry.slice(prefix.length, -".tmp".length));
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || isRunning(pid)) continue;
    rmSync(join(dirname(out), entry), { force: true });
  }
}

async function runBenchCommand(rawArgs: string[]): Promise<number> {
  const files = checkArgs(rawArgs, benchArgs);
  const args = parseArgs(rawArgs, benchArgs);
  if (args.help) {
    await showHelp(benchCommand as CommandDef<ArgsDef>, analyzeCommand as CommandDef<ArgsDef>);
    return EXIT_OK;
  }
  if (files.includes("-")) throw new UsageError("bench cannot read standard input (it runs the input several times)");
  if (files.length > 0 && args.lines !== undefined) throw new UsageError("--lines applies to generated traffic, not to files");
  if (files.length === 0 && (args.format !== undefined || args["format-file"] !== undefined || args.field !== undefined)) throw new UsageError("--format applies to log files (generated traffic is Combined)");
  if (args.baseline !== undefined && files.length === 0) throw new UsageError("--baseline compares log files: give the file to bench too");
  if (args.state === true && files.length === 0) throw new UsageError("bench --state times runs over log files: give the files");
  if (args.baseline !== undefined && !statSync(args.baseline, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`--baseline: ${args.baseline} is not a file`);
  const format = formatOf(args.format as string | undefined, args["format-file"] as string | undefined, args["format-name"] as string | undefined, args.field as string | undefined);
  checkReportTargets({ html: args.html as string | undefined });
  const cores = defaultWorkers();
  const progress = !args.quiet && isTerminal(2);
  const { comparisons, renderBench, renderBenchMarkdown, runBench, scalingPoints } = await import("./bench.ts");
  const { scalingChart, scalingSvg } = await import("./chart.ts");
  const result = await runBench({
    inputs: files,
    lines: args.lines === undefined ? DEFAULT_LINES : parseCount(args.lines, "lines"),
    workers: args.workers === undefined ? [...new Set([1, cores])] : parseCountList(args.workers, "workers"),
    runs: args.runs === undefined ? 5 : parseCount(args.runs, "runs"),
    warmup: args.warmup === undefined ? 1 : parseCount(args.warmup, "warmup", 0),
    referenceLines: args["reference-lines"] === undefined ? 300_000 : parseCount(args["reference-lines"], "reference-lines", 0),
    yardsticks: args.yardsticks !== false,
    minimalCounters: args.counters === "both",
    format,
    baseline: args.baseline,
    where: args.where as string | undefined,
    state: args.state === true,
    yardstickSource: args["yardstick-c"] ?? join(dirname(new URL("../..", import.meta.url).pathname), "shared/bench/limit.c"),
    onProgress: progress ? (m) => process.stderr.write(`\r\x1b[K${m}`) : undefined,
  });
  if (progress) process.stderr.write("\r\x1b[K");
  if (args["export-json"]) await Bun.write(args["export-json"], `${JSON.stringify(result, null, 2)}\n`);
  if (args["export-markdown"]) await Bun.write(args["export-markdown"], renderBenchMarkdown(result));
  const points = scalingPoints(result);
  if (args.svg) await Bun.write(args.svg, scalingSvg(points, `Scaling: ${result.input} (${result.environment.cpuModel})`));
  const page = args.html ? (await import("../report/html.ts")).renderBenchHtml(result, comparisons(result)) : "";
  if (args.html === "-") return (writeStdout(page), EXIT_OK);
  if (args.html) writeFileAtomic(args.html, page);
  const chart = points.length > 1 ? `${scalingChart(points)}\n` : "";
  writeStdout(args.json ? `${JSON.stringify(result, null, 2)}\n` : `${renderBench(result)}${chart}`);
  return EXIT_OK;
}

async function runReduce(rawArgs: string[]): Promise<number> {
  const files = checkArgs(rawArgs, reduceArgs);
  const args = parseArgs(rawArgs, reduceArgs);
  if (args.help) {
    await showHelp(reduceCommand as CommandDef<ArgsDef>, analyzeCommand as CommandDef<ArgsDef>);
    return EXIT_OK;
  }
  const top = args.top === undefined ? DEFAULT_TOP : parseCount(args.top, "top");
  const bucket = bucketOf(args.bucket as string | undefined);
  checkReportTargets(reportTargets(args));
  const { inputsOfPlan, readPartials, readPlan } = await import("../cluster/cluster.ts");
  const open = (name: string) => {
    if (name === "-") return { name: "standard input", stream: Bun.stdin.stream() };
    const file = Bun.file(name);
    return { name, stream: readable(name, file.stream()) };
  };
  let plan: Task[] | undefined;
  if (args.plan) plan = readPlan(readText(args.plan), args.plan);
  // Streamed, a file after the other: signals are handled between chunks.
  const partials = await readPartials((files.length ? files : ["-"]).map(open), plan);
  const tasks = plan ?? partials.map((p) => p.task);
  const data = reducePartials({ tasks, ...inputsOfPlan(tasks) }, partials, { top, bucket });
  await reportNow();
  await writeReport(data, null, reportTargets(args));
  return EXIT_OK;
}

type ReportTargets = { json?: boolean; html?: string; csv?: string; out?: string; quiet?: boolean };
function reportTargets(args: Record<string, unknown>): ReportTargets {
  const text = (k: string) => args[k] as string | undefined;
  return { json: args.json as boolean | undefined, html: text("html"), csv: text("csv"), out: text("out"), quiet: args.quiet as boolean | undefined };
}

const REPORT_FORMS = [".html", ".json", ".csv", ".txt"] as const;

/**
 * Refuses, before any work, report files that could not be written: a name
 * with no known form, or a folder that is not there. Returns -o's form, or null for stdout.
 */
function checkReportTargets(args: ReportTargets): (typeof REPORT_FORMS)[number] | null {
  for (const path of [args.html, args.csv, args.out]) {
    if (path === undefined || path === "-") continue;
    if (!statSync(dirname(path), { throwIfNoEntry: false })?.isDirectory()) throw new InputError(`cannot write ${path}: there is no folder ${dirname(path)}`);
  }
  if (args.html === "-" && args.csv === "-") throw new UsageError("--html - and --csv - would both write to stdout: give one of them a file");
  if ((args.html === "-" || args.csv === "-") && args.out !== undefined) throw new UsageError("-o and --html -/--csv - both say what goes to stdout: give the page or the tables a file");
  if (args.out === undefined || args.out === "-") return null;
  const form = REPORT_FORMS.find((ext) => args.out!.toLowerCase().endsWith(ext));
  if (!form) throw new UsageError(`-o ${args.out}: the name must end with ${REPORT_FORMS.join(", ")} (the form to write), or be - for stdout`);
  if (args.json) throw new UsageError("-o FILE takes its form from the name: leave out --json (or name it .json)");
  return form;
}

/** The report on stdout (text or --json), to -o FILE in the form its name says, and as a page to --html FILE and tables to --csv FILE. */
async function writeReport(data: ReportData, run: RunInfo | null, args: ReportTargets): Promise<void> {
  const form = checkReportTargets(args);
  const html = async () => (await import("../report/html.ts")).renderHtml(data, run);
  const csv = async () => (await import("../report/csv.ts")).renderCsv(data);
  const text = async (ext: (typeof REPORT_FORMS)[number]) =>
    ext === ".html" ? await html() : ext === ".csv" ? await csv() : ext === ".json" ? renderJson(data, run) : renderReport(data, run, { color: false, width: 100 });
  if (args.html !== undefined && args.html !== "-") writeFileAtomic(args.html, await html());
  if (args.csv !== undefined && args.csv !== "-") writeFileAtomic(args.csv, await csv());
  if (form !== null) return writeFileAtomic(args.out!, await text(form));
  // --html - and --csv -: the page or the tables take the report's place on stdout.
  if (args.html === "-") return writeStdout(await html());
  if (args.csv === "-") return writeStdout(await csv());
  if (args.quiet && (args.html !== undefined || args.csv !== undefined)) return;
  writeStdout(args.json ? renderJson(data, run) : renderReport(data, run, stdoutStyle()));
}

/** Writes a whole file under a temporary name, then renames it: a reader never sees half of it. */
function writeFileAtomic(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const remove = whileRunning(() => rmSync(temp, { force: true }));
  try {
    writeFileSync(temp, text);
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? `there is no folder ${dirname(path)}` : code === "EACCES" ? `no permission to write in ${dirname(path)}` : code === "EISDIR" ? "it is a folder" : code ?? String(err);
    throw new InputError(`cannot write ${path}: ${why}`);
  } finally {
    remove();
  }
}

/** A small file the command reads whole (a plan, a saved report), or one line saying why not. */
function readText(name: string): string {
  try {
    return readFileSync(name, "utf8");
  } catch (err) {
    throw new InputError(`cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

async function runDiff(rawArgs: string[]): Promise<number> {
  const files = checkArgs(rawArgs, diffArgs);
  const args = parseArgs(rawArgs, diffArgs);
  if (args.help) {
    await showHelp(diffCommand as CommandDef<ArgsDef>, analyzeCommand as CommandDef<ArgsDef>);
    return EXIT_OK;
  }
  const { diffReports, readReport, renderDiff, renderDiffJson } = await import("../report/diff.ts");
  const top = args.top === undefined ? DEFAULT_TOP : parseCount(args.top, "top");
  const fromLogs = args["baseline-since"] !== undefined || args["baseline-until"] !== undefined;
  let pair: [ReportData, ReportData];
  let labels: [string, string];
  if (!fromLogs) {
    const allowed = new Set(["top", "json", "help", "h", "quiet", "q"]);
    const runFlag = rawArgs.find((a) => a.startsWith("-") && a !== "-" && !allowed.has(a.replace(/^--?/, "").split("=")[0]!));
    if (runFlag) throw new UsageError(`${runFlag.split("=")[0]} applies to diff over logs (with --baseline-since/--baseline-until), not to two saved reports`);
    if (files.length !== 2) throw new UsageError("diff needs two reports saved with --json (A then B), or logs with --baseline-since/--baseline-until");
    pair = [readReport(readText(files[0]!), files[0]!), readReport(readText(files[1]!), files[1]!)];
    labels = [files[0]!, files[1]!];
  } else {
    if (files.includes("-")) throw new UsageError("diff reads the logs twice, so not from standard input");
    const options = analyzeOptions(files, args, rawArgs);
    const since = args["baseline-since"] === undefined ? undefined : parseTime(args["baseline-since"], "baseline-since");
    const until = args["baseline-until"] === undefined ? undefined : parseTime(args["baseline-until"], "baseline-until");
    if (since !== undefined && until !== undefined && since >= until) throw new UsageError("--baseline-since must be before --baseline-until");
    setQuiet(args.quiet === true);
    const runs: ReportData[] = [];
    for (const [s, u] of [[since, until], [options.since, options.until]] as const) {
      const { data, notes } = await analyze({ ...options, since: s, until: u });
      for (const note of notes) await logWarn(note);
      runs.push(data);
    }
    pair = [runs[0]!, runs[1]!];
    labels = ["baseline", "current"];
  }
  const diff = diffReports(pair[0], pair[1], labels, top);
  writeStdout(args.json ? renderDiffJson(diff) : renderDiff(diff));
  return EXIT_OK;
}

async function runCompare(rawArgs: string[]): Promise<number> {
  const files = checkArgs(rawArgs, compareArgs);
  const args = parseArgs(rawArgs, compareArgs);
  if (args.help) {
    await showHelp(compareCommand as CommandDef<ArgsDef>, analyzeCommand as CommandDef<ArgsDef>);
    return EXIT_OK;
  }
  if (files.length < 2) throw new UsageError("compare needs two or more result files (bench --export-json FILE)");
  const { compareResults, loadBenchResult, renderCompare } = await import("./compare.ts");
  const results = files.map(loadBenchResult);
  writeStdout(args.json ? `${JSON.stringify({ results: files, rows: compareResults(results) }, null, 2)}\n` : renderCompare(files, results));
  return EXIT_OK;
}

/** --list-inputs: a line per file, read or left out, with its format and size and why. */
function renderListing(listing: readonly ListedInput[], files: readonly LogInput[]): string {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const rows = listing.map((l) => {
    const f = byPath.get(l.path);
    const size = f?.bytes === null || f?.bytes === undefined ? "" : f.bytes.toLocaleString("en-US");
    return [l.read ? "read" : "skip", l.path, f ? f.format : "", size, l.why];
  });
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : c < 4 ? cell.padEnd(widths[c]!) : cell)).join("  ").trimEnd()).join("\n") + "\n";
}

/** A file's chunks, its read errors as one line naming it. */
async function* readable(name: string, stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* stream;
  } catch (err) {
    throw new InputError(`cannot read ${name}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * Lets a signal that arrived during synchronous work (a long merge) be
 * handled before anything is printed: no report after an interrupt.
 */
async function reportNow(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (interrupted) await new Promise(() => {});
}

let activeProgress: ProgressLine | null = null;
let interrupted = false;

/** The --format value, checked (compiled) here so that a bad one is a usage error; undefined when none is given. */
function formatOf(given: string | undefined, file?: string, name?: string, fields?: string): string | undefined {
  if (fields !== undefined) {
    if ((given ?? "json") !== "json" || file !== undefined) throw new UsageError("--field goes with --format json");
    const text = `json:${fields}`;
    (require("../count/json-lines.ts") as typeof import("../count/json-lines.ts")).jsonFieldNames(text);
    return text;
  }
  if (file !== undefined && given !== undefined) throw new UsageError("--format and --format-file: give one of them");
  if (name !== undefined && file === undefined) throw new UsageError("--format-name goes with --format-file");
  let text = given;
  if (file !== undefined) {
    let config: string;
    try {
      config = readFileSync(file, "utf8");
    } catch (err) {
      throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    text = (require("../count/format.ts") as typeof import("../count/format.ts")).formatFromConfig(config, file, name);
  }
  // A format given, even the default, is kept: it turns detection off.
  if (text === undefined || FAST_FORMATS.has(text)) return text;
  // The compiler (and the parsers it builds on) is loaded only when a format string is given.
  if (text !== "json") (require("../count/format.ts") as typeof import("../count/format.ts")).compileFormat(text);
  return text;
}

/** --vhost's names, checked. */
function hostNamesOf(text: string): string[] {
  try {
    return parseHostNames(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A percentage from 0 to 100, possibly fractional. */
function parsePercent(text: string, flag: string): number {
  const value = Number(text.trim().replace(/%$/, ""));
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || value > 100) {
    throw new UsageError(`--${flag} must be a percentage from 0 to 100, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Seconds, possibly fractional, >= 0. */
function parseSeconds(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`--${flag} must be a number of seconds (0 for none), got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Set while --follow runs: the first SIGINT or SIGTERM ends it with a last report instead of at once. */
let onFollowStop: (() => void) | null = null;

function onSignal(signal: "SIGINT" | "SIGTERM"): void {
  if (onFollowStop) {
    onFollowStop();
    onFollowStop = null;
    return;
  }
  interrupted = true;
  killChildren();
  runCleanups();
  process.exit(signal === "SIGINT" ? EXIT_SIGINT : EXIT_SIGTERM);
}

/** Runs the CLI on `argv` (without the runtime and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  const [first, ...rest] = argv;
  try {
    const sub = first !== undefined && SUBCOMMANDS[first] ? SUBCOMMANDS[first] : undefined;
    if (sub === generateCommand) return await runGenerate(rest);
    if (sub === benchCommand) return await runBenchCommand(rest);
    if (sub === compareCommand) return await runCompare(rest);
    if (sub === diffCommand) return await runDiff(rest);
    if (sub === planCommand) return await runAnalyze(rest, "plan");
    if (first === "help") return await runHelp(rest);
    if (sub === reduceCommand) return await runReduce(rest);
    if (sub === stateCommand) {
      if (rest.includes("--help") || rest.includes("-h")) {
        await showHelp(stateCommand as CommandDef<ArgsDef>, analyzeCommand as CommandDef<ArgsDef>);
        return EXIT_OK;
      }
      const { runStateCommand } = await import("./state-command.ts");
      return runStateCommand(rest, writeStdout, (line) => void logWarn(line));
    }
    return await runAnalyze(argv);
  } catch (err) {
    if (interrupted) return EXIT_FAILED;
    killChildren();
    activeProgress?.finish(false);
    // citty's own errors (an enum value out of range) are usage errors, with colour codes.
    if (err instanceof Error && err.name === "CLIError") err = new UsageError(err.message.replace(/\x1b\[[0-9;]*m/g, ""));
    if (err instanceof LogmrError) {
      await logError(err.exitCode === EXIT_USAGE ? `${err.message} (see --help)` : err.message);
      for (const line of err.details) process.stderr.write(`  ${line}\n`);
      return err.exitCode;
    }
    await logError(`internal error: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT_FAILED;
  }
}
