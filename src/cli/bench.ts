// `bun analyze.ts bench`: whole runs of the real CLI, timed from outside
// (start, spawn, map, reduce, report), several times per worker count, with
// hyperfine-style statistics, and yardsticks measured in the same run.

import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from "node:fs";
import { cpus, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { generateText } from "../map/generate.ts";
import { type Stats, stats } from "../core/stats.ts";
import { ENGINE_VERSION } from "../core/version.ts";
import { LogmrError } from "../core/errors.ts";
import { ReferenceCounter } from "../count/reference.ts";
import { LineAssembler } from "../map/read-input.ts";
import type { CountsPartial } from "../core/partial.ts";

export const BENCH_SCHEMA_VERSION = 1;
const ENTRY = new URL("../../analyze.ts", import.meta.url).pathname;


export interface BenchRow {
  /** "workers=2", "reference", "C limit gen", "wc -l", "mawk" */
  name: string;
  kind: "engine" | "engine-minimal" | "state-first" | "state-unchanged" | "baseline" | "reference" | "yardstick";
  workers: number | null;
  /** Wall seconds per run. */
  seconds: Stats;
  lines: number;
  bytes: number | null;
  linesPerSecond: number;
  mbPerSecond: number | null;
  /** Engine rows: the 1-worker row's median over this row's (> 1: faster than 1 worker). */
  speedup: number | null;
  efficiency: number | null;
  /** Peak worker memory (engine rows), MB. */
  workerMaxRssMb: number | null;
  note?: string;
}

export interface BenchResult {
  schema: number;
  environment: {
    engineVersion: string;
    commit: string | null;
    bunVersion: string;
    cpuModel: string;
    cores: number;
    memoryGiB: number;
    os: string;
    date: string;
  };
  input: string;
  /** The Combined file of the baseline rows, when there are any. */
  baseline?: string;
  rows: BenchRow[];
}


async function timeCommand(argv: string[]): Promise<{ seconds: number; stdout: string; code: number; stderr: string }> {
  const t0 = performance.now();
  const child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { seconds: (performance.now() - t0) / 1000, stdout, code, stderr };
}

/**
 * Reads the files through once (not timed), so that a timed command finds
 * them in the page cache, as a file bench promises. This VM's host pages
 * out idle memory (DAMON, action "pageout"): 30 MB of an 857 MB file left
 * the cache within 20 s of being read, and a command that follows a slower
 * one would otherwise read part of its input from disk. Returns the bytes read.
 */
export function readThrough(files: readonly string[]): number {
  const chunk = new Uint8Array(1 << 20);
  let total = 0;
  for (const file of files) {
    if (file === "-") continue;
    const fd = openSync(file, "r");
    try {
      for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) total += n;
    } finally {
      closeSync(fd);
    }
  }
  return total;
}

export class BenchError extends LogmrError {}

export interface BenchOptions {
  inputs: readonly string[];
  lines: number;
  workers: readonly number[];
  runs: number;
  warmup: number;
  /** Lines of the straightforward reference, run in-process on a slice. */
  referenceLines: number;
  /** Run the C program, wc -l and mawk when they are available. */
  yardsticks: boolean;
  yardstickSource?: string;
  /** Also time each worker count with --counters minimal (clients and statuses only). */
  minimalCounters?: boolean;
  /** The inputs' log format (analyze's --format), when not Combined. */
  format?: string;
  /** A Combined file timed by the same worker counts in the same rounds: the rows' yardstick for a format's cost. */
  baseline?: string;
  /** --where of the engine rows (not the baseline's): what a filter costs, with the same file as the baseline. */
  where?: string;
  /** Also time each worker count with --state: a first run (empty state) and a run over the unchanged files. */
  state?: boolean;
  onProgress?: (message: string) => void;
}

/** The straightforward single-process analyzer the engine replaces: a string and a RegExp per line. */
export function referenceCount(text: string): { lines: number; clients: Map<string, number>; status: Map<string, number> } {
  const re = /^(\S+) \S+ \S+ \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?$/;
  const clients = new Map<string, number>();
  const status = new Map<string, number>();
  let lines = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    lines++;
    const m = re.exec(line);
    if (!m) continue;
    clients.set(m[1]!, (clients.get(m[1]!) ?? 0) + 1);
    status.set(m[4]!, (status.get(m[4]!) ?? 0) + 1);
  }
  return { lines, clients, status };
}

/** The plain reference parser over bytes, as a worker would feed it. */
export function countWithReference(bytes: Uint8Array): CountsPartial {
  const counter = new ReferenceCounter();
  const lines = new LineAssembler(counter);
  lines.push(bytes);
  lines.end();
  return counter.toCounts();
}

function gitCommit(): string | null {
  try {
    const r = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: new URL("../..", import.meta.url).pathname, stderr: "ignore" });
    return r.exitCode === 0 ? r.stdout.toString().trim() : null;
  } catch {
    return null;
  }
}

function which(cmd: string): boolean {
  return Bun.which(cmd) !== null;
}

/**
 * The order of a bench's timed runs: `rounds` rounds, each running every one
 * of `commands` once, each round starting one command further on. On a
 * machine whose speed drifts from one minute to the next, every command then
 * sees the same drift, so the ratios between them (engine against a
 * yardstick, 2 workers against 1) hold even when the absolute times move.
 */
export function benchSchedule(commands: number, rounds: number): number[][] {
  return Array.from({ length: rounds }, (_, round) => Array.from({ length: commands }, (_, k) => (round + k) % commands));
}

interface TimedCommand {
  name: string;
  kind: BenchRow["kind"];
  workers: number;
  argv: string[];
  seconds: number[];
  rss: number;
  /** Engine and baseline runs: the lines they read. */
  lines?: number;
  /** A yardstick that failed is left out; an engine run that fails ends the bench. */
  failed: boolean;
  /** Untimed, before each run (--state rows: remove the state, or make it once). */
  before?: () => void;
}

/** The files of an SQLite state. */
const stateFiles = (path: string) => [path, `${path}-wal`, `${path}-shm`];

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const files = options.inputs;
  const bytes = files.length > 0 ? files.reduce((a, f) => a + (f === "-" ? 0 : statSync(f).size), 0) : null;
  const stateDir = options.state ? mkdtempSync(join(tmpdir(), "logmr-bench-state-")) : null;
  const commands = engineCommands(options, stateDir);
  const yardstickStart = commands.length;
  const build = options.yardsticks ? yardstickCommands(options) : { commands: [], buildDir: null };
  let lines = options.lines;
  try {
    commands.push(...build.commands);
    lines = (await runRounds(commands, yardstickStart, options)) ?? lines;
  } finally {
    if (build.buildDir !== null) rmSync(build.buildDir, { recursive: true, force: true });
    if (stateDir !== null) rmSync(stateDir, { recursive: true, force: true });
  }
  const row = (c: TimedCommand): BenchRow => {
    const s = stats(c.seconds);
    const n = c.lines ?? lines;
    const size = c.kind === "baseline" ? statSync(options.baseline!).size : bytes;
    return {
      name: c.name, kind: c.kind, workers: c.workers, seconds: s, lines: n, bytes: size,
      linesPerSecond: n / s.median, mbPerSecond: size === null ? null : size / 1e6 / s.median,
      speedup: null, efficiency: null, workerMaxRssMb: c.kind === "yardstick" ? null : c.rss,
    };
  };
  const rows = commands.slice(0, yardstickStart).map(row);
  // Speedup and efficiency against 1 worker, within each kind of counting.
  for (const kind of ["engine", "engine-minimal"] as const) {
    const one = rows.find((r) => r.kind === kind && r.workers === 1);
    for (const r of rows.filter((x) => x.kind === kind)) {
      if (!one) break;
      r.speedup = one.seconds.median / r.seconds.median;
      r.efficiency = r.speedup / r.workers!;
    }
  }
  for (const r of rows.filter((x) => x.kind === "state-unchanged")) {
    const first = rows.find((x) => x.kind === "state-first" && x.workers === r.workers);
    if (first) r.note = `${((100 * r.seconds.median) / first.seconds.median).toFixed(1)}% of the first run's time`;
  }
  if (options.referenceLines > 0 && files.length === 0) rows.push(...referenceRows(options, lines));
  for (const c of commands.slice(yardstickStart)) {
    if (!c.failed && c.seconds.length > 0) rows.push(row(c));
  }
  return {
    schema: BENCH_SCHEMA_VERSION,
    environment: {
      engineVersion: ENGINE_VERSION,
      commit: gitCommit(),
      bunVersion: Bun.version,
      cpuModel: cpus()[0]?.model?.trim() ?? "unknown",
      cores: cpus().length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      os: `${platform()} ${release()}`,
      date: new Date().toISOString(),
    },
    input: `${files.length > 0 ? files.join(" ") : `generated, ${options.lines.toLocaleString("en-US")} lines`}${options.format ? ` (--format ${options.format})` : ""}${options.where ? ` (--where ${options.where})` : ""}`,
    ...(options.baseline ? { baseline: options.baseline } : {}),
    rows,
  };
}

/** The engine's runs: one command per worker count (and its minimal-counters twin, and its --state twins). */
function engineCommands(options: BenchOptions, stateDir: string | null = null): TimedCommand[] {
  const files = options.inputs;
  const baseline = options.baseline;
  const baselines: TimedCommand[] = baseline
    ? options.workers.map((workers) => ({
      name: `baseline workers=${workers}`, kind: "baseline", workers,
      argv: [process.execPath, ENTRY, baseline, "--workers", String(workers), "--json", "--quiet"],
      seconds: [], rss: 0, failed: false,
    }))
    : [];
  const formatFlags = [...(options.format ? ["--format", options.format] : []), ...(options.where ? ["--where", options.where] : [])];
  const engine: TimedCommand[] = options.workers
    .flatMap((workers) => [
      { workers, minimal: false },
      ...(options.minimalCounters ? [{ workers, minimal: true }] : []),
    ])
    .map(({ workers, minimal }) => ({
      name: `workers=${workers}${minimal ? " (clients+status only)" : ""}`,
      kind: minimal ? "engine-minimal" : "engine",
      workers,
      argv: [
        process.execPath, ENTRY, ...files, ...(files.length ? [] : ["--lines", String(options.lines)]), ...formatFlags,
        "--workers", String(workers), "--json", "--quiet", ...(minimal ? ["--counters", "minimal"] : []),
      ],
      seconds: [], rss: 0, failed: false,
    }));
  const stateful: TimedCommand[] = stateDir === null ? [] : options.workers.flatMap((workers) => {
    const base = engine.find((c) => c.kind === "engine" && c.workers === workers)!;
    const first = join(stateDir, `first-${workers}.db`);
    const kept = join(stateDir, `kept-${workers}.db`);
    return [
      {
        name: `workers=${workers} --state, first run`, kind: "state-first" as const, workers, argv: [...base.argv, "--state", first],
        seconds: [], rss: 0, failed: false, before: () => stateFiles(first).forEach((f) => rmSync(f, { force: true })),
      },
      {
        name: `workers=${workers} --state, unchanged`, kind: "state-unchanged" as const, workers, argv: [...base.argv, "--state", kept],
        seconds: [], rss: 0, failed: false,
        before: () => {
          if (existsSync(kept)) return;
          const made = Bun.spawnSync([...base.argv, "--state", kept], { stdout: "ignore", stderr: "pipe" });
          if (made.exitCode !== 0) throw new BenchError(`the engine failed making a state (exit ${made.exitCode}): ${made.stderr.toString().trim().split("\n")[0] ?? ""}`);
        },
      },
    ];
  });
  return [...engine, ...stateful, ...baselines];
}

/**
 * Warm-up and timed rounds, every command once a round (see benchSchedule);
 * fills each command's times. Returns the lines the engine read.
 */
async function runRounds(commands: TimedCommand[], yardstickStart: number, options: BenchOptions): Promise<number | undefined> {
  const say = options.onProgress ?? (() => {});
  const rounds = options.warmup + options.runs;
  let lines: number | undefined;
  for (const [round, order] of benchSchedule(commands.length, rounds).entries()) {
    const warm = round < options.warmup;
    for (const k of order) {
      const c = commands[k]!;
      if (c.failed) continue;
      say(`round ${round + 1} of ${rounds}${warm ? " (warm-up)" : ""}: ${c.name}`);
      c.before?.();
      readThrough(options.inputs);
      const r = await timeCommand(c.argv);
      if (r.code !== 0) {
        if (k < yardstickStart) throw new BenchError(`the engine failed (exit ${r.code}): ${r.stderr.trim().split("\n")[0] ?? ""}`);
        c.failed = true;
        continue;
      }
      if (warm) continue;
      c.seconds.push(r.seconds);
      if (k < yardstickStart) {
        const doc = JSON.parse(r.stdout);
        c.lines = doc.data.lines.read;
        if (c.kind !== "baseline") lines = doc.data.lines.read;
        c.rss = Math.max(c.rss, ...doc.run.workerTimings.map((w: { maxRssMb: number }) => w.maxRssMb));
      }
    }
  }
  return lines;
}

/**
 * In this process, on a slice, scaled to the full input: the engine's own
 * plain reference parser (what the fast path accelerates), and the
 * straightforward analyzer the engine replaces.
 */
function referenceRows(options: BenchOptions, lines: number): BenchRow[] {
  const say = options.onProgress ?? (() => {});
  const slice = Math.min(options.referenceLines, lines);
  const text = generateText(1, 0, slice);
  const bytes = new TextEncoder().encode(text);
  const references: Array<[string, () => void]> = [
    ["reference parser (1 process)", () => countWithReference(bytes)],
    ["reference (strings + RegExp, 1 process)", () => referenceCount(text)],
  ];
  return references.map(([name, run]) => {
    const seconds: number[] = [];
    for (let k = 0; k < Math.max(1, Math.min(options.runs, 3)); k++) {
      say(`${name}: run ${k + 1}`);
      const t0 = performance.now();
      run();
      seconds.push(((performance.now() - t0) / 1000) * (lines / slice));
    }
    const s = stats(seconds);
    return {
      name, kind: "reference", workers: 1, seconds: s, lines, bytes: null,
      linesPerSecond: lines / s.median, mbPerSecond: null, speedup: null, efficiency: null,
      workerMaxRssMb: null, note: `measured on ${slice.toLocaleString("en-US")} lines, scaled to ${lines.toLocaleString("en-US")}`,
    };
  });
}

/**
 * The yardsticks that apply: the C program (compiled into a temporary folder,
 * which the caller removes) for generated data, `wc -l` and `mawk` for one file.
 */
function yardstickCommands(options: BenchOptions): { commands: TimedCommand[]; buildDir: string | null } {
  const found: Array<{ name: string; workers: number; argv: string[] }> = [];
  let buildDir: string | null = null;
  if (options.inputs.length === 0) {
    const source = options.yardstickSource;
    if (source && existsSync(source) && which("gcc")) {
      buildDir = mkdtempSync(join(tmpdir(), "logmr-bench-"));
      const exe = join(buildDir, "limit");
      const cc = Bun.spawnSync(["gcc", "-O2", "-o", exe, source]);
      if (cc.exitCode === 0) {
        for (const w of options.workers) found.push({ name: `C limit gen ${options.lines} ${w}`, workers: w, argv: [exe, "gen", String(options.lines), String(w)] });
      }
    }
  } else if (options.inputs.length === 1 && options.inputs[0] !== "-") {
    const file = options.inputs[0]!;
    if (which("wc")) found.push({ name: "wc -l", workers: 1, argv: ["wc", "-l", file] });
    if (which("mawk")) {
      found.push({ name: "mawk (clients + status)", workers: 1, argv: ["mawk", "{c[$1]++; s[$9]++} END{for(k in c) print k, c[k]; for(k in s) print k, s[k]}", file] });
    }
  }
  return { commands: found.map((f) => ({ ...f, kind: "yardstick", seconds: [], rss: 0, failed: false })), buildDir };
}

// ------------------------------------------------------------------ output

const sec = (s: number) => (s >= 1 ? `${s.toFixed(3)} s` : `${(s * 1000).toFixed(1)} ms`);
const rate = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0));

function cells(r: BenchRow): string[] {
  return [
    r.name,
    sec(r.seconds.median),
    `${sec(r.seconds.mean)} ± ${sec(r.seconds.stddev)}`,
    `${sec(r.seconds.min)} … ${sec(r.seconds.max)}`,
    String(r.seconds.runs),
    `${rate(r.linesPerSecond)} lines/s`,
    r.mbPerSecond === null ? "" : `${r.mbPerSecond.toFixed(0)} MB/s`,
    r.speedup === null ? "" : r.speedup.toFixed(2),
    r.efficiency === null ? "" : `${(r.efficiency * 100).toFixed(0)}%`,
    r.workerMaxRssMb === null ? "" : `${r.workerMaxRssMb.toFixed(0)} MB`,
  ];
}
const HEADER = ["", "median", "mean ± σ", "min … max", "runs", "throughput", "MB/s", "speedup", "efficiency", "worker RSS"];

/**
 * "N.NN ± 0.NN": the ratio of two medians, with hyperfine's error estimate
 * (the relative standard deviations of the two means, added in quadrature).
 */
function ratioText(slow: Stats, fast: Stats): string {
  const ratio = slow.median / fast.median;
  const rel = Math.sqrt((slow.stddev / slow.mean) ** 2 + (fast.stddev / fast.mean) ** 2);
  return `${ratio.toFixed(2)} ± ${(ratio * rel).toFixed(2)}`;
}

/** Ratios people quote: engine against the yardsticks, hyperfine style. */
export function comparisons(result: BenchResult): string[] {
  const out: string[] = [];
  const engine = result.rows.filter((r) => r.kind === "engine");
  const one = engine.find((r) => r.workers === 1);
  for (const r of engine) {
    if (!one || r === one) continue;
    const faster = r.seconds.median <= one.seconds.median;
    out.push(`workers=${r.workers} ran ${faster ? ratioText(one.seconds, r.seconds) : ratioText(r.seconds, one.seconds)} times ${faster ? "faster" : "slower"} than workers=1`);
  }
  for (const b of result.rows.filter((r) => r.kind === "baseline")) {
    const e = engine.find((r) => r.workers === b.workers);
    if (e) out.push(`${e.name} took ${ratioText(e.seconds, b.seconds)} times as long as the Combined baseline at ${b.workers} worker${b.workers === 1 ? "" : "s"} (${sec(e.seconds.median)} against ${sec(b.seconds.median)})`);
  }
  const fastest = engine.reduce<BenchRow | undefined>((a, r) => (a && a.seconds.median <= r.seconds.median ? a : r), undefined);
  for (const m of result.rows.filter((r) => r.kind === "engine-minimal")) {
    const e = engine.find((r) => r.workers === m.workers);
    if (e) out.push(`the full counters cost ${(100 * (e.seconds.median / m.seconds.median - 1)).toFixed(0)}% on ${m.workers} worker${m.workers === 1 ? "" : "s"} (${sec(e.seconds.median)} against ${sec(m.seconds.median)} for clients and statuses only)`);
  }
  for (const u of result.rows.filter((r) => r.kind === "state-unchanged")) {
    const first = result.rows.find((r) => r.kind === "state-first" && r.workers === u.workers);
    const plain = engine.find((r) => r.workers === u.workers);
    if (first) out.push(`a second --state run over unchanged files took ${((100 * u.seconds.median) / first.seconds.median).toFixed(1)}% of the first one's time at ${u.workers} worker${u.workers === 1 ? "" : "s"} (${sec(u.seconds.median)} against ${sec(first.seconds.median)}${plain ? `; without --state ${sec(plain.seconds.median)}` : ""})`);
  }
  for (const y of result.rows.filter((r) => r.kind === "reference" || r.kind === "yardstick")) {
    // The C program runs on as many processes as an engine row; other yardsticks face the fastest row.
    const e = (y.name.startsWith("C ") ? engine.find((r) => r.workers === y.workers) : undefined) ?? fastest;
    if (!e) continue;
    out.push(
      e.seconds.median >= y.seconds.median
        ? `${e.name} took ${ratioText(e.seconds, y.seconds)} times as long as ${y.name}`
        : `${e.name} ran ${ratioText(y.seconds, e.seconds)} times faster than ${y.name}`,
    );
  }
  return out;
}

export function renderBench(result: BenchResult): string {
  const rows = [HEADER, ...result.rows.map(cells)];
  const widths = HEADER.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ").trimEnd());
  const env = result.environment;
  return [
    `bench: ${result.input}`,
    `${env.cpuModel}, ${env.cores} cores, ${env.memoryGiB} GiB, ${env.os}, Bun ${env.bunVersion}, engine ${env.engineVersion}${env.commit ? ` (${env.commit})` : ""}`,
    "",
    ...lines,
    "",
    ...comparisons(result),
    ...result.rows.filter((r) => r.note).map((r) => `${r.name}: ${r.note}`),
    "",
  ].join("\n");
}

/** Speedup against 1 worker for each engine row (full counters), when a 1-worker row exists. */
export function scalingPoints(result: BenchResult): Array<{ workers: number; speedup: number }> {
  const engine = result.rows.filter((r) => r.kind === "engine" && r.workers !== null);
  const one = engine.find((r) => r.workers === 1);
  if (!one) return [];
  return engine.map((r) => ({ workers: r.workers!, speedup: one.seconds.median / r.seconds.median })).sort((a, b) => a.workers - b.workers);
}

export function renderBenchMarkdown(result: BenchResult): string {
  const env = result.environment;
  const row = (cs: string[]) => `| ${cs.join(" | ")} |`;
  return [
    `**${result.input}** on ${env.cpuModel}, ${env.cores} cores, ${env.memoryGiB} GiB, ${env.os}, Bun ${env.bunVersion}, engine ${env.engineVersion}${env.commit ? ` (${env.commit})` : ""}`,
    "",
    row(HEADER.map((h, k) => (k === 0 ? "command" : h))),
    row(HEADER.map((_, k) => (k === 0 ? ":---" : "---:"))),
    ...result.rows.map((r) => row(cells(r).map((c, k) => (k === 0 ? `\`${c}\`` : c)))),
    "",
    ...comparisons(result).map((c) => `- ${c}`),
    "",
  ].join("\n");
}
