// Beyond one machine: the public map/reduce contract (plan, standalone
// worker, reduce) and a mapper that runs the tasks on other hosts through GNU
// parallel over ssh. Retries keep the engine's meaning: each retry round runs
// the failed tasks again (attempt + 1), so every attempt and its host is known
// (GNU parallel's joblog keeps only a task's last attempt).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type ChildRun, type MapOptions, type MapResult, RetryBook } from "../map/run-tasks.ts";
import { checkCoverage, PartialError, validatePartial, type TaskPartial } from "../core/partial.ts";
import { streamLines } from "../core/lines.ts";
import { EXIT_INPUT_CHANGED, EXIT_INPUT_CORRUPT, FATAL_PREFIX } from "../core/protocol.ts";
import type { InputFormat } from "../core/codecs.ts";
import type { InputSummary } from "../report/report.ts";
import { describeTask, parseTask, taskKey, type Task } from "../core/task.ts";
import { FAULT_ENV } from "../core/faults.ts";
import { ENGINE_VERSION } from "../core/version.ts";
import { DEFAULT_GENERATOR } from "../core/traffic.ts";
import { LogmrError } from "../core/errors.ts";

export class ClusterError extends LogmrError {}

// ------------------------------------------------------------------ plan

/** The tasks as JSON lines, file paths made absolute so any working directory will do. */
export function planLines(tasks: readonly Task[]): string {
  // A descriptor is the planning process's own: the workers of a plan open the file by name (and check its identity).
  return tasks.map((t) => `${JSON.stringify("path" in t ? { ...t, path: resolve(t.path), fd: undefined } : t)}\n`).join("");
}

/** Reads a plan (tasks.jsonl) back. */
export function readPlan(text: string, name: string): Task[] {
  const tasks: Task[] = [];
  text.split("\n").forEach((line, k) => {
    if (line.trim() === "") return;
    try {
      tasks.push(parseTask(line));
    } catch (err) {
      throw new ClusterError(`${name}:${k + 1}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  const ids = new Set<number>();
  for (const t of tasks) {
    if (ids.has(t.id)) throw new ClusterError(`${name}: task ${t.id} appears twice`);
    ids.add(t.id);
  }
  return tasks;
}

/** What a plan says about its inputs, for the report of `reduce --plan`. */
export function inputsOfPlan(tasks: readonly Task[]): { input: InputSummary; inputNames: string[] } {
  const generated = tasks.filter((t) => t.kind === "generate");
  if (generated.length === tasks.length && generated.length > 0) {
    const first = generated[0]!;
    const lines = generated.reduce((a, t) => a + (t.kind === "generate" ? t.end - t.start : 0), 0);
    return { input: { kind: "generated", seed: first.kind === "generate" ? first.seed : 0, lines, ...(first.kind === "generate" ? first.generator : DEFAULT_GENERATOR) }, inputNames: ["generated"] };
  }
  const names: string[] = [];
  const files: Array<{ path: string; format: InputFormat; bytes: number | null }> = [];
  for (const t of [...tasks].sort((a, b) => a.input - b.input)) {
    if (names[t.input] !== undefined) continue;
    const path = "path" in t ? t.path : "-";
    names[t.input] = path;
    files[t.input] = { path, format: t.kind === "compressed" ? t.codec : t.kind === "stdin" || t.kind === "segment" ? "stdin" : "plain", bytes: null };
  }
  return { input: { kind: "files", files: files.filter(Boolean) }, inputNames: names.map((n) => n ?? "?") };
}

// ------------------------------------------------------------------ reduce

/** What makes two tasks read the same input: the task without its id and range. */
function inputKey(task: Task): string {
  return taskKey({ ...task, id: 0, ...("start" in task ? { start: 0, end: 0 } : {}) } as Task);
}

/**
 * Partials whose tasks read the same input must not overlap, or lines would
 * be counted twice (without a plan, nothing else says which belong together).
 */
function checkNoOverlap(partials: readonly TaskPartial[]): void {
  const byInput = new Map<string, TaskPartial[]>();
  for (const p of partials) {
    const key = inputKey(p.task);
    byInput.set(key, [...(byInput.get(key) ?? []), p]);
  }
  for (const group of byInput.values()) {
    const ranged = group.filter((p) => "start" in p.task).sort((a, b) => (a.task as { start: number }).start - (b.task as { start: number }).start);
    if (ranged.length < group.length && group.length > 1) throw new ClusterError(`tasks ${group[0]!.taskId} and ${group[1]!.taskId} read the same input: its lines would be counted twice`);
    for (let k = 1; k < ranged.length; k++) {
      const a = ranged[k - 1]!.task as { id: number; end: number };
      const b = ranged[k]!.task as { id: number; start: number };
      if (b.start < a.end) throw new ClusterError(`tasks ${a.id} and ${b.id} overlap (${describeTask(ranged[k]!.task)}): its lines would be counted twice`);
    }
  }
}

/**
 * Reads partials (one JSON object per line, from any number of streams) and
 * checks each. A task with two partials, or two tasks over the same lines,
 * would count lines twice: an error. With a plan, each partial must answer
 * its plan's task exactly, every task needs one, and a file's partials must
 * cover it end to end.
 */
export async function readPartials(sources: ReadonlyArray<{ name: string; stream: AsyncIterable<Uint8Array> }>, plan?: readonly Task[]): Promise<TaskPartial[]> {
  const byTask = new Map<number, TaskPartial>();
  const planned = plan ? new Map(plan.map((t) => [t.id, t])) : undefined;
  for (const { name, stream } of sources) {
    for await (const { line, number } of streamLines(stream)) {
      const where = `${name}:${number}`;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new ClusterError(`${where}: not JSON`);
      }
      const id = (json as { taskId?: unknown } | null)?.taskId;
      const expected = planned && typeof id === "number" ? planned.get(id) : undefined;
      if (planned && !expected) throw new ClusterError(`${where}: a partial for task ${JSON.stringify(id)}, which the plan does not have`);
      let partial: TaskPartial;
      try {
        partial = validatePartial(json, expected);
      } catch (err) {
        throw new ClusterError(`${where}: ${err instanceof PartialError ? err.message : String(err)}`);
      }
      if (byTask.has(partial.taskId)) throw new ClusterError(`${where}: a second partial for task ${partial.taskId} (its lines would be counted twice)`);
      byTask.set(partial.taskId, partial);
    }
  }
  const partials = [...byTask.values()].sort((a, b) => a.taskId - b.taskId);
  checkNoOverlap(partials);
  if (plan) {
    const missing = plan.filter((t) => !byTask.has(t.id)).map((t) => t.id);
    if (missing.length > 0) throw new ClusterError(`no partial for task${missing.length === 1 ? "" : "s"} ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ", ..." : ""} of the plan`);
    const inputs = new Set(plan.map((t) => t.input));
    for (const input of inputs) {
      const mine = partials.filter((p) => p.task.input === input);
      const first = mine[0]?.task;
      const size = first?.kind === "file" ? first.identity?.size : undefined;
      try {
        checkCoverage(mine, first && "path" in first ? first.path : `input ${input}`, size);
      } catch (err) {
        throw new ClusterError(err instanceof Error ? err.message : String(err));
      }
    }
  }
  return partials;
}

// ------------------------------------------------------------------ GNU parallel over ssh

export interface HostsOptions {
  /** Host names (GNU parallel sshlogins); or a file of them. */
  hosts?: string[];
  sshloginFile?: string;
  /** The ssh command GNU parallel uses (port, key, options). */
  ssh?: string;
  /** Jobs at once per host (default: GNU parallel's, one per core). */
  jobsPerHost?: number;
  /** Per-attempt wall-time limit in seconds (GNU parallel --timeout); 0 = none. */
  timeoutSeconds?: number;
}

interface JoblogRow {
  seq: number;
  host: string;
  exitval: number;
  signal: number;
}

export function parseJoblog(text: string): JoblogRow[] {
  return text
    .split("\n")
    .slice(1)
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const f = l.split("\t");
      return { seq: Number(f[0]), host: f[1] ?? "", exitval: Number(f[6]), signal: Number(f[7]) };
    });
}

/** The Bun binary and the worker bundled into one file, in a cache folder GNU parallel copies to each host (--basefile). */
async function workerFiles(): Promise<{ bun: string; worker: string }> {
  const dir = join(tmpdir(), `logmr-remote-${ENGINE_VERSION}`);
  mkdirSync(dir, { recursive: true });
  const bun = join(dir, "bun");
  if (!existsSync(bun) || statSync(bun).size !== statSync(process.execPath).size) copyFileSync(process.execPath, bun);
  const out = mkdtempSync(join(tmpdir(), "logmr-build-"));
  try {
    const built = await Bun.build({ entrypoints: [new URL("../map/worker.ts", import.meta.url).pathname], target: "bun", outdir: out });
    if (!built.success) throw new ClusterError(`cannot bundle the worker: ${built.logs.map(String).join("; ")}`);
    const code = readFileSync(built.outputs[0]!.path, "utf8");
    const worker = join(dir, "worker.js");
    // Rewrite only on change, so GNU parallel's rsync finds it up to date.
    if (!existsSync(worker) || readFileSync(worker, "utf8") !== code) writeFileSync(worker, code);
    return { bun, worker };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function hostList(options: HostsOptions): string[] {
  if (options.hosts && options.hosts.length > 0) return options.hosts;
  if (options.sshloginFile) {
    return readFileSync(options.sshloginFile, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
  }
  return [];
}

/** A Mapper that runs the tasks on other hosts with GNU parallel over ssh. */
export function hostsMapper(hostOptions: HostsOptions) {
  return async (tasks: readonly Task[], options: MapOptions): Promise<MapResult> => {
    if (!Bun.which("parallel")) throw new ClusterError("GNU parallel is not installed (Debian package: parallel; apt-get install parallel)");
    if (options.source || tasks.some((t) => t.kind === "stdin")) throw new ClusterError("standard input (-) cannot be analyzed on other hosts: save it to a file every host sees");
    let hosts = hostList(hostOptions);
    if (hosts.length === 0) throw new ClusterError("no hosts: give --hosts h1,h2 or --sshlogin-file FILE");
    const files = await workerFiles();
    const work = mkdtempSync(join(tmpdir(), "logmr-hosts-"));
    const done = new Map<number, TaskPartial>();
    const book = new RetryBook(options.retries);
    const children: ChildRun[] = [];
    const badHosts = new Map<string, string>();
    // A local descriptor means nothing on another host: workers there open the file by name.
    let pending: Task[] = tasks.map((t) => ({ ...t, attempt: 1, ...("fd" in t ? { fd: undefined } : {}) }));
    try {
      for (let round = 1; pending.length > 0; round++) {
        const { rows, stdout, stderr } = await runRound(pending, hosts, join(work, String(round)), files, hostOptions, options.env);
        const got = partialsOf(stdout, pending);
        const next: Task[] = [];
        const sshFailures = new Map<string, string>();
        pending.forEach((task, k) => {
          const row = rows.find((r) => r.seq === k + 1);
          const partial = got.get(task.id);
          if (partial && (!row || row.exitval === 0)) {
            done.set(task.id, partial);
            const t = partial.timings;
            children.push({ pid: t.pid, host: row?.host ?? t.host, tasks: [task.id], spawnAt: t.readyAt, readyAt: t.readyAt, exitAt: t.endedAt, busyMs: t.endedAt - t.startedAt, maxRssKb: t.maxRssKb });
            return;
          }
          const cause = failureCause(row, stderr);
          if (row?.exitval === 255) sshFailures.set(row.host, cause);
          const fatal = row?.exitval === EXIT_INPUT_CHANGED || row?.exitval === EXIT_INPUT_CORRUPT
            ? (stderr.split("\n").find((l) => l.startsWith(FATAL_PREFIX))?.slice(FATAL_PREFIX.length) ?? `${describeTask(task)}: its input changed during the analysis (on ${row.host})`)
            : undefined;
          const attempt = task.attempt ?? 1;
          const end = book.failed(task, { attempt, cause, ms: 0, pid: 0, stderr: "" }, fatal);
          if (end) throw end;
          next.push({ ...task, attempt: attempt + 1 });
        });
        // A host ssh could not reach (and that ran nothing this round) gets no
        // more tasks; its tasks run elsewhere.
        for (const [host, why] of sshFailures) {
          if (!rows.some((r) => r.host === host && r.exitval === 0)) badHosts.set(host, why);
        }
        hosts = hosts.filter((h) => !badHosts.has(h));
        if (next.length > 0 && hosts.length === 0) {
          throw new ClusterError(`every host is down: ${[...badHosts].map(([h, why]) => `${h} (${why})`).join(", ")}`);
        }
        pending = next;
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return { tasks: [...tasks], partials: [...done.values()].sort((a, b) => a.taskId - b.taskId), children, retried: book.retried(tasks) };
  };
}

/** One round of GNU parallel over the pending tasks: its joblog rows and output. */
async function runRound(
  pending: readonly Task[], hosts: readonly string[], prefix: string, files: { bun: string; worker: string },
  hostOptions: HostsOptions, env: Record<string, string | undefined> | undefined,
): Promise<{ rows: JoblogRow[]; stdout: string; stderr: string }> {
  const input = `${prefix}-tasks.jsonl`;
  const joblog = `${prefix}-joblog`;
  writeFileSync(input, pending.map((t) => `${JSON.stringify(t)}\n`).join(""));
  const argv = [
    "parallel", "--will-cite", "--pipe", "-N1", "--joblog", joblog, "--retries", "1", "--sshlogin", hosts.join(","),
    "--basefile", files.bun, "--basefile", files.worker,
    ...(hostOptions.ssh ? ["--ssh", hostOptions.ssh] : []),
    ...(hostOptions.jobsPerHost ? ["--jobs", String(hostOptions.jobsPerHost)] : []),
    ...(hostOptions.timeoutSeconds ? ["--timeout", String(hostOptions.timeoutSeconds)] : []),
    ...(process.env[FAULT_ENV] ? ["--env", FAULT_ENV] : []),
    // The worker tags its partial with the host it ran on.
    `LOGMR_HOST=$PARALLEL_SSHLOGIN ${files.bun} ${files.worker}`,
  ];
  const child = Bun.spawn(argv, { stdin: Bun.file(input), stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const rows = existsSync(joblog) ? parseJoblog(readFileSync(joblog, "utf8")) : [];
  return { rows, stdout, stderr };
}

/** The valid partials of a round's output, by task (garbage and refused partials leave their task without one). */
function partialsOf(stdout: string, pending: readonly Task[]): Map<number, TaskPartial> {
  const got = new Map<number, TaskPartial>();
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const json = JSON.parse(line) as { taskId?: unknown };
      const task = pending.find((t) => t.id === json.taskId);
      if (task && !got.has(task.id)) got.set(task.id, validatePartial(json, task));
    } catch {
      // garbage, or a partial that does not add up: its task has none
    }
  }
  return got;
}

/** Why a task of a round has no partial, from its joblog row. */
function failureCause(row: JoblogRow | undefined, stderr: string): string {
  if (!row) return `GNU parallel did not run it${stderr.trim() ? ` (${stderr.trim().split("\n").slice(-1)[0]})` : ""}`;
  if (row.signal) return `killed by signal ${row.signal} on ${row.host}`;
  if (row.exitval === 255) return `ssh to ${row.host} failed (exit 255)`;
  if (row.exitval !== 0) return `exited with code ${row.exitval} on ${row.host}`;
  return `printed no valid partial on ${row.host}`;
}
