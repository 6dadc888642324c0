// The parent side of the map phase: run batches of tasks on child processes
// (at most `workers` at a time), validate their partials, and run a failed
// task again on a fresh child, MapReduce style, up to `retries` times. Only a
// task's one successful partial is kept, so no line is counted twice.

import { availableParallelism } from "node:os";
import type { Subprocess } from "bun";
import { PartialError, validatePartial, type TaskPartial } from "../core/partial.ts";
import { describeTask, taskSize, type Task } from "../core/task.ts";
import { LineSplitter } from "../core/lines.ts";
import { EXIT_INPUT_CHANGED, EXIT_INPUT_CORRUPT, FATAL_PREFIX, PARENT_PID_ENV, PROGRESS_PREFIX } from "../core/protocol.ts";
import { LogmrError } from "../core/errors.ts";

export const WORKER_PATH = new URL("./worker.ts", import.meta.url).pathname;
export { DEFAULT_RETRIES, DEFAULT_TASK_TIMEOUT_MS, killChildren, liveChildren } from "./children.ts";
import { DEFAULT_RETRIES, DEFAULT_TASK_TIMEOUT_MS, killChildren, liveChildren } from "./children.ts";

export interface ChildRun {
  pid: number;
  /** The host it ran on (GNU parallel mode). */
  host?: string;
  tasks: number[];
  spawnAt: number;
  readyAt: number;
  exitAt: number;
  /** Sum of the time its tasks spent working. */
  busyMs: number;
  maxRssKb: number;
}

export interface FailedAttempt {
  attempt: number;
  cause: string;
  /** Wall time the attempt cost. */
  ms: number;
  pid: number;
  stderr: string;
}

export interface RetriedTask {
  task: Task;
  failures: FailedAttempt[];
}

export interface MapResult {
  /** Every task run: the planned ones and those a source brought. */
  tasks: Task[];
  partials: TaskPartial[];
  children: ChildRun[];
  /** Tasks that needed more than one attempt, with what went wrong each time. */
  retried: RetriedTask[];
  /** Tasks left out because their input is corrupt (with skipCorrupt), and why. */
  skipped?: Array<{ task: Task; why: string }>;
}

export interface MapProgress {
  /** Units done and in all (lines for generated traffic, bytes for files). */
  done: number;
  total: number;
}

export interface MapOptions {
  workers: number;
  /** Re-runs of a failed task after its first attempt. */
  retries?: number;
  /** Kill a child that reports no progress for this long; 0 turns it off. */
  taskTimeoutMs?: number;
  env?: Record<string, string | undefined>;
  onProgress?: (p: MapProgress) => void;
  /** Tasks that arrive during the map (standard input, as it is read). */
  source?: TaskSource;
  /** A task whose input is corrupt is left out (and listed) instead of failing the run. */
  skipCorrupt?: boolean;
  /** Told of each partial as it is accepted (--state stores it at once, so a run killed later keeps it). */
  onPartial?: (task: Task, partial: TaskPartial) => void;
  /** --memory: the run's spill directory, the only one a partial may name runs in. */
  spillDir?: string;
}

export interface TaskSource {
  /** The next task, waiting for it if need be; undefined when there are no more. Safe to call from several slots at once. */
  next(): Promise<Task | undefined>;
  /** The task's partial was accepted: what only a retry needed may go. */
  accepted?(task: Task): void;
}

export class MapError extends LogmrError {}

const now = () => performance.timeOrigin + performance.now();
const STDERR_TAIL_LINES = 5;

interface ChildOutcome {
  /** Every task handed to the child. */
  ran: Task[];
  partials: Map<number, TaskPartial>;
  /** Why the tasks without a partial failed. */
  cause: Map<number, string>;
  run: ChildRun;
  stderr: string;
  /** Set when the child said its task cannot succeed anywhere (an input changed or is corrupt): the message. */
  fatal?: string;
  /** The input is corrupt (not changed): a task that may be skipped. */
  corrupt?: boolean;
}

/** Keeps the last lines of a child's stderr and hands progress lines to `onProgress`. */
class StderrReader {
  private tail: string[] = [];
  private pending = "";
  constructor(private readonly onProgress: (task: number, done: number) => void) {}
  feed(text: string): void {
    const lines = (this.pending + text).split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }
  end(): void {
    if (this.pending) this.line(this.pending);
    this.pending = "";
  }
  /** The worker's FATAL_PREFIX line, if it wrote one. */
  fatal: string | undefined;
  private line(line: string): void {
    if (line.startsWith(FATAL_PREFIX)) {
      this.fatal = line.slice(FATAL_PREFIX.length);
      return;
    }
    if (line.startsWith(PROGRESS_PREFIX)) {
      try {
        const p = JSON.parse(line.slice(PROGRESS_PREFIX.length)) as { task: number; done: number };
        this.onProgress(p.task, p.done);
        return;
      } catch {
        // not ours after all: keep it as text
      }
    }
    if (line.trim() === "") return;
    this.tail.push(line);
    if (this.tail.length > STDERR_TAIL_LINES) this.tail.shift();
  }
  get lastLines(): string {
    return this.tail.join(" | ");
  }
}

/**
 * Runs one child. It gets `first`, then, each time a partial comes back, the
 * next task from `next()` (so a faster child takes more tasks; it may wait
 * for one, as when stdin is still arriving); its stdin closes when there is
 * none.
 */
interface ChildOptions {
  env: Record<string, string | undefined>;
  timeoutMs: number;
  onProgress: (task: number, done: number) => void;
  /** A partial was accepted (kept whatever becomes of the child). */
  onAccepted?: (task: Task) => void;
  spillDir?: string;
}

function runChild(first: Task, next: () => Promise<Task | undefined>, options: ChildOptions): Promise<ChildOutcome> {
  return new ChildSession(next, options).run(first);
}

const NOT_JSON = "the worker's output is not valid JSON (garbage or cut short)";

/** One child process: the tasks fed to it, what it answered, and why it ended. */
class ChildSession {
  private readonly spawnAt = now();
  private readonly child: Subprocess<"pipe", "pipe", "pipe">;
  private readonly inFlight: Task[] = [];
  private readonly ran: Task[] = [];
  private readonly partials = new Map<number, TaskPartial>();
  private readonly cause = new Map<number, string>();
  private readonly stderr: StderrReader;
  private lastSign = performance.now();
  private timedOut = false;
  private closed = false;

  constructor(
    private readonly next: () => Promise<Task | undefined>,
    private readonly options: ChildOptions,
  ) {
    this.child = Bun.spawn([process.execPath, WORKER_PATH], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...options.env, [PARENT_PID_ENV]: String(process.pid) },
    });
    liveChildren.add(this.child);
    this.stderr = new StderrReader((task, done) => {
      this.lastSign = performance.now();
      options.onProgress(task, done);
    });
  }

  async run(first: Task): Promise<ChildOutcome> {
    this.feed(first);
    const watchdog = this.watch();
    // Read both pipes and the exit together, right away: an unread pipe blocks the child.
    const [, , code] = await Promise.all([this.readStdout(), this.readStderr(), this.child.exited]).finally(() => {
      liveChildren.delete(this.child);
      if (watchdog) clearInterval(watchdog);
    });
    return this.outcome(code);
  }

  /** Sends a task, or with none closes the child's stdin (it then ends by itself). */
  private feed(task: Task | undefined): void {
    if (this.closed) return;
    const sink = this.child.stdin as import("bun").FileSink;
    try {
      if (task) {
        this.inFlight.push(task);
        this.ran.push(task);
        this.lastSign = performance.now();
        sink.write(`${JSON.stringify(task)}\n`);
        sink.flush();
      } else {
        this.closed = true;
        sink.end();
      }
    } catch {
      // the child is gone: its exit says why
    }
  }

  /** Only a child with a task can be stuck: one waiting for its next task is not. */
  private watch(): ReturnType<typeof setInterval> | null {
    const { timeoutMs } = this.options;
    if (timeoutMs <= 0) return null;
    return setInterval(() => {
      if (this.inFlight.length > 0 && performance.now() - this.lastSign > timeoutMs && !this.timedOut) {
        this.timedOut = true;
        this.child.kill("SIGKILL");
      }
    }, Math.min(1000, timeoutMs / 4));
  }

  private async readStderr(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.child.stderr) this.stderr.feed(decoder.decode(chunk, { stream: true }));
    this.stderr.end();
  }

  private async readStdout(): Promise<void> {
    const lines = new LineSplitter();
    for await (const chunk of this.child.stdout) {
      for (const line of lines.push(chunk)) {
        const task = this.inFlight.shift();
        if (!task) continue; // more output than tasks: nothing to attribute it to
        this.lastSign = performance.now();
        // The next task goes out before this partial is parsed and checked:
        // the child waits for nothing but the pipe (a cold first parse and
        // check kept it idle). A child whose partial turns out bad still
        // runs that one task; it is checked like any other. Once its stdin
        // is closed, a task taken from the queue would be lost.
        if (!this.closed) this.feed(await this.next());
        this.accept(task, line);
      }
    }
    if (lines.pending > 0 && this.inFlight.length > 0) this.cause.set(this.inFlight.shift()!.id, NOT_JSON);
  }

  /** Checks one partial line; a child whose output is refused gets no more work. */
  private accept(task: Task, line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.cause.set(task.id, NOT_JSON);
      this.feed(undefined);
      return;
    }
    try {
      this.partials.set(task.id, validatePartial(json, task, { spillDir: this.options.spillDir }));
      this.options.onAccepted?.(task);
      this.options.onProgress(task.id, taskSize(task)); // done, whatever its last progress line said
    } catch (err) {
      this.cause.set(task.id, `${INVALID_PARTIAL}: ${err instanceof PartialError ? err.message : String(err)}`);
      this.feed(undefined);
    }
  }

  private outcome(code: number): ChildOutcome {
    const child = this.child;
    const exitAt = now();
    const inputChanged = code === EXIT_INPUT_CHANGED || code === EXIT_INPUT_CORRUPT ? this.stderr.fatal : undefined;
    const why = this.timedOut
      ? `no progress for ${(this.options.timeoutMs / 1000).toFixed(1)} s: killed`
      : inputChanged ?? (child.signalCode
        ? `the worker was killed by ${child.signalCode}`
        : code !== 0
          ? `the worker exited with code ${code}`
          : "the worker printed nothing");
    // A regex the parse-time check let through can still backtrack for long on one line: say so.
    const regexNote = " (its --where has a regular expression: one that backtracks on a long line can take this long; simplify it)";
    for (const task of this.inFlight) this.cause.set(task.id, this.timedOut && task.where?.includes("~") ? `${why}${regexNote}` : why);
    const good = [...this.partials.values()];
    return {
      ran: this.ran,
      partials: this.partials,
      cause: this.cause,
      fatal: inputChanged,
      corrupt: code === EXIT_INPUT_CORRUPT && inputChanged !== undefined,
      stderr: this.stderr.lastLines,
      run: {
        pid: child.pid,
        tasks: good.map((p) => p.taskId),
        spawnAt: this.spawnAt,
        readyAt: good[0]?.timings.readyAt ?? exitAt,
        exitAt,
        busyMs: good.reduce((sum, p) => sum + (p.timings.endedAt - p.timings.startedAt), 0),
        // Measured by the system after the child ended: the partial's own figure predates writing it.
        maxRssKb: Math.max(0, ...good.map((p) => p.timings.maxRssKb), (child.resourceUsage()?.maxRSS ?? 0) / 1024),
      },
    };
  }
}

/**
 * The failed attempts of every task, and whether a task runs again: the one
 * retry rule of the local mapper and the GNU parallel one. A task runs again
 * up to `retries` times, except when it cannot succeed on any child: its
 * input changed under the run (`fatal`), or its partial was refused twice for
 * the same reason.
 */
export class RetryBook {
  private readonly failures = new Map<number, FailedAttempt[]>();
  constructor(private readonly retries: number = DEFAULT_RETRIES) {}

  /** Records a failed attempt; the error that ends the run, or null when the task is to run again. */
  failed(task: Task, attempt: FailedAttempt, fatal?: string): MapError | null {
    const list = this.failures.get(task.id) ?? [];
    list.push(attempt);
    this.failures.set(task.id, list);
    const before = list[list.length - 2];
    const again = before !== undefined && before.cause === attempt.cause && attempt.cause.startsWith(INVALID_PARTIAL);
    if (fatal === undefined && !again && attempt.attempt <= this.retries) return null;
    return new MapError(fatal ?? failureMessage(task, list));
  }

  /** The tasks that failed at least once, by id, with their attempts. */
  retried(tasks: readonly Task[]): RetriedTask[] {
    const byId = new Map(tasks.map((t) => [t.id, t]));
    return [...this.failures].sort((a, b) => a[0] - b[0]).map(([id, failures]) => ({ task: byId.get(id)!, failures }));
  }
}

const INVALID_PARTIAL = "the partial is invalid";

function failureMessage(task: Task, failures: readonly FailedAttempt[]): string {
  const attempts = failures.map((f) => `attempt ${f.attempt}: ${f.cause}${f.stderr ? ` (stderr: ${f.stderr})` : ""}`).join("; ");
  return `${describeTask(task)} failed ${failures.length} time${failures.length === 1 ? "" : "s"}, giving up: ${attempts}`;
}

/** JavaScriptCore's switch for compiling on background threads. */
export const CONCURRENT_JIT_ENV = "BUN_JSC_useConcurrentJIT";

/**
 * A worker with less work than this (in generated lines, or bytes of file
 * over AVERAGE_LINE_BYTES) finishes sooner compiling in the background even
 * when the workers fill every core: its lines are done before the compiler
 * would have been worth waiting for. Measured on 2 cores, 2 workers,
 * alternating runs, background over own-thread time: 50,000 lines a worker
 * 0.68 to 0.80; 125,000 0.92 to 1.03; 250,000 0.94 to 1.20; files of 27 MB
 * a worker 0.84 to 1.16, 54 MB 0.75 to 1.10.
 */
export const OWN_THREAD_COMPILE_MIN_LINES = 150_000;
const AVERAGE_LINE_BYTES = 180;

/** A task's work in lines, estimated for a file range; unknown (gzip, stdin) counts as large. */
export function estimatedLines(task: Task): number {
  switch (task.kind) {
    case "generate":
      return task.end - task.start;
    case "file":
      return (task.end - task.start) / AVERAGE_LINE_BYTES;
    default:
      return Number.POSITIVE_INFINITY;
  }
}

/**
 * The children's environment. When they fill every core and each has enough
 * work, each compiles its hot code on its own thread
 * (BUN_JSC_useConcurrentJIT=0): a background compiler thread then has no
 * idle core, takes its time from another worker, and meanwhile its own
 * worker runs unoptimised code. Measured on 2 cores with 2 workers,
 * alternating runs: default run 1.68 -> 1.55 s (8 pairs), the 899 MB file
 * 1.31 -> 1.13 s (6 pairs); with 1 worker, where the second core is free, it
 * is 8% slower, so it is left alone there. A value the user set is kept.
 */
export function workerEnv(
  env: Record<string, string | undefined>, workers: number, cores: number, linesPerWorker: number,
): Record<string, string | undefined> {
  if (workers < cores || linesPerWorker < OWN_THREAD_COMPILE_MIN_LINES || env[CONCURRENT_JIT_ENV] !== undefined) return env;
  return { ...env, [CONCURRENT_JIT_ENV]: "0" };
}

/**
 * Runs every task on at most `workers` children at a time, feeding each child
 * a new task whenever it returns a partial; returns validated partials in
 * task order. A failed task runs again on a fresh child of its own.
 */
export async function runMapTasks(tasks: readonly Task[], options: MapOptions): Promise<MapResult> {
  return new MapRun(tasks, options).run();
}

/** One map phase: the task queue, the slots that run children, what came back. */
class MapRun {
  private readonly source: TaskSource | undefined;
  private readonly workers: number;
  private readonly env: Record<string, string | undefined>;
  private readonly timeoutMs: number;
  private readonly all: Task[];
  private readonly queue: Task[];
  private readonly retryQueue: Task[] = [];
  private readonly done = new Map<number, TaskPartial>();
  private readonly skipped: Array<{ task: Task; why: string }> = [];
  private readonly book: RetryBook;
  private readonly children: ChildRun[] = [];
  private readonly progress = new Map<number, number>();
  private readonly running = new Set<Promise<void>>();
  private total: number;
  private progressDone = 0;
  private fatal: MapError | null = null;
  private stop = () => {};
  private readonly stopped = new Promise<undefined>((resolve) => (this.stop = () => resolve(undefined)));

  constructor(tasks: readonly Task[], private readonly options: MapOptions) {
    this.source = options.source;
    this.timeoutMs = options.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
    this.workers = Math.max(1, this.source ? options.workers : Math.min(options.workers, tasks.length));
    const linesPerWorker = this.source ? Number.POSITIVE_INFINITY : tasks.reduce((a, t) => a + estimatedLines(t), 0) / this.workers;
    this.env = workerEnv(options.env ?? process.env, this.workers, availableParallelism(), linesPerWorker);
    this.all = [...tasks];
    // Largest first, so the last tasks to start are short ones.
    this.queue = [...tasks].sort((a, b) => taskSize(b) - taskSize(a) || a.id - b.id);
    this.book = new RetryBook(options.retries);
    this.total = tasks.reduce((a, t) => a + taskSize(t), 0);
  }

  async run(): Promise<MapResult> {
    const slots = this.source ? this.workers : Math.min(this.options.workers, this.queue.length);
    for (let k = 0; k < slots; k++) this.start();
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.fatal) throw this.fatal;
    // Never a report that silently leaves work out, whatever went wrong above.
    const missing = this.all.filter((t) => !this.done.has(t.id) && !this.skipped.some((s) => s.task.id === t.id));
    if (missing.length > 0) throw new MapError(`internal error: ${missing.length} task${missing.length === 1 ? "" : "s"} never ran (${missing.map(describeTask).slice(0, 3).join("; ")})`);
    return {
      tasks: this.all,
      partials: [...this.done.values()].sort((a, b) => a.taskId - b.taskId),
      children: this.children,
      retried: this.book.retried(this.all),
      skipped: this.skipped,
    };
  }

  private start(): void {
    const p: Promise<void> = this.slot().finally(() => this.running.delete(p));
    this.running.add(p);
  }

  private readonly onProgress = (task: number, units: number): void => {
    this.progressDone += units - (this.progress.get(task) ?? 0);
    this.progress.set(task, units);
    this.options.onProgress?.({ done: this.progressDone, total: this.total });
  };

  /** The planned tasks, then what the source brings as it comes. */
  private readonly nextTask = async (): Promise<Task | undefined> => {
    const planned = this.queue.shift();
    if (planned || !this.source || this.fatal) return planned;
    // A failed run stops waiting for input that may never come.
    const task = await Promise.race([this.source.next(), this.stopped]);
    if (this.fatal) return undefined;
    if (task) {
      this.all.push(task);
      this.total += taskSize(task);
    }
    return task;
  };

  /** Runs children one after the other until no task is left (or the run failed). */
  private async slot(): Promise<void> {
    while (!this.fatal) {
      const retry = this.retryQueue.shift();
      const first = retry ?? (await this.nextTask());
      if (!first || this.fatal) return;
      const started = performance.now();
      // A source's task is released as soon as its partial is accepted: the child may wait for more.
      const outcome = await runChild(first, retry ? async () => undefined : this.nextTask, {
        env: this.env, timeoutMs: this.timeoutMs, onProgress: this.onProgress, onAccepted: (t) => this.source?.accepted?.(t), spillDir: this.options.spillDir,
      });
      if (this.fatal) return; // the run has failed: children killed since then are not failures
      this.children.push(outcome.run);
      for (const task of outcome.ran) {
        if (!this.settle(task, outcome, performance.now() - started)) return;
      }
    }
  }

  /** Keeps a task's partial, or books its failure and queues its retry; false when the run has failed. */
  private settle(task: Task, outcome: ChildOutcome, ms: number): boolean {
    const partial = outcome.partials.get(task.id);
    if (partial) {
      this.done.set(task.id, partial);
      this.onProgress(task.id, taskSize(task));
      try {
        this.options.onPartial?.(task, partial);
      } catch (err) {
        this.fatal ??= err instanceof MapError ? err : new MapError(err instanceof Error ? err.message : String(err), err instanceof LogmrError ? err.exitCode : undefined);
        this.stop();
        killChildren();
        return false;
      }
      return true;
    }
    const attempt = task.attempt ?? 1;
    this.onProgress(task.id, 0);
    if (outcome.corrupt && this.options.skipCorrupt) {
      this.skipped.push({ task, why: outcome.fatal ?? "corrupt" });
      return true;
    }
    const end = this.book.failed(task, { attempt, cause: outcome.cause.get(task.id) ?? "unknown", ms, pid: outcome.run.pid, stderr: outcome.stderr }, outcome.fatal);
    if (end) {
      this.fatal ??= end;
      this.stop();
      killChildren();
      return false;
    }
    // A fresh child for the retry, alone, so a bad task cannot take others down again.
    this.retryQueue.push({ ...task, attempt: attempt + 1 });
    if (this.running.size < this.options.workers) this.start();
    return true;
  }
}


