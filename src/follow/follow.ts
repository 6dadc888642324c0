// --follow: after the first pass the files are watched as `tail -F` does
// (the open file's size, and which file the name is, once a poll), each new
// stretch of complete lines is mapped as it comes, and the report is made
// again every interval from the counts so far. A line is counted once its
// newline is there, never before.

import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import type { CountsPartial, TaskPartial } from "../core/partial.ts";
import { mergeAll, validatePartial } from "../core/partial.ts";
import { InputError } from "../core/errors.ts";
import { type FileRangeTask, type Task, TASK_VERSION } from "../core/task.ts";
import { readIdentity } from "../map/identity.ts";
import { lastLineEnd, type LogInput, MIN_SPLIT_BYTES } from "../plan/resolve-inputs.ts";
import { splitGuided } from "../core/task.ts";
import type { ReportData, RunInfo, TimelineBucket } from "../report/report.ts";
import type { LiveRun, Mapper } from "../engine.ts";
import { reducePartials } from "../engine.ts";

export interface FollowOptions {
  mapper: Mapper;
  workers: number;
  retries?: number;
  taskTimeoutMs?: number;
  top: number;
  since?: number;
  until?: number;
  bucket?: TimelineBucket;
  /** How often the report is made again, and how often the files are looked at. */
  intervalMs: number;
  pollMs: number;
  /** A report of the counts so far (each interval when they changed, and once at the end with `last`). */
  onReport: (data: ReportData, run: RunInfo, last: boolean) => void | Promise<void>;
  onNote: (line: string) => void | Promise<void>;
  /** Resolves when the follow is to end (SIGINT): one more look at the files, then the last report. */
  stopped: Promise<void>;
}

/** One file being followed: what of it is counted so far. */
interface Followed {
  path: string;
  input: LogInput;
  /** Its index among the report's inputs. */
  index: number;
  /** Just past the last complete line counted. */
  end: number;
  /** Its counts, malformed lines numbered from its start. */
  counts: CountsPartial;
  /** No more reads: a compressed file, or one rotated away or truncated (its counts stay). */
  done: boolean;
}

const count = (n: number) => n.toLocaleString("en-US");

/** Tests set it to 0, so that every stretch goes to the workers. */
export const IN_PROCESS_BYTES_ENV = "LOGMR_FOLLOW_IN_PROCESS_BYTES";

/**
 * New bytes up to this much are counted here, by the code a worker runs: a
 * log growing by 10,000 lines a second brings about 2 MB a poll, and a
 * child for each would cost more than the counting (its start-up and JIT
 * again, every second). More (a burst, a backlog) goes to the workers.
 */
const IN_PROCESS_BYTES = process.env[IN_PROCESS_BYTES_ENV] ? Number(process.env[IN_PROCESS_BYTES_ENV]) : 8 << 20;

/** Counts tasks in this process, each partial validated as a worker's would be. */
async function mapHere(tasks: readonly Task[]): Promise<{ partials: TaskPartial[] }> {
  const { runTask } = await import("../map/worker.ts");
  const partials: TaskPartial[] = [];
  for (const task of tasks) partials.push(validatePartial(await runTask(task, undefined, String(process.pid)), task));
  return { partials };
}

export class Follower {
  private readonly followed: Followed[] = [];
  private nextId: number;
  private changed = false;
  private tasksRun = 0;
  private readonly startedAt = performance.now();
  /** The fields every task of the run carries (window, filters, split). */
  private readonly settings: Partial<Task>;

  constructor(
    private readonly live: LiveRun,
    private readonly firstRun: RunInfo,
    private readonly options: FollowOptions,
  ) {
    const { plan, partials } = live;
    this.nextId = live.tasks.reduce((a, t) => Math.max(a, t.id), -1) + 1;
    this.settings = plan.settings;
    plan.files.forEach((input, index) => {
      const mine = partials.filter((p) => p.task.input === index);
      const end = mine.reduce((a, p) => Math.max(a, p.covered?.[1] ?? 0), 0);
      this.followed.push({ path: input.path, input, index, end, counts: mergeAll(mine), done: input.format !== "plain" || input.fd === undefined });
    });
  }

  /** Follows until `stopped`, then looks once more and makes the last report. */
  async run(): Promise<void> {
    let stop = false;
    void this.options.stopped.then(() => (stop = true));
    let lastReport = performance.now();
    while (!stop) {
      const wait = Math.max(0, Math.min(this.options.pollMs, this.options.intervalMs - (performance.now() - lastReport)));
      await Promise.race([new Promise((r) => setTimeout(r, wait)), this.options.stopped]);
      if (stop) break;
      await this.poll();
      if (performance.now() - lastReport >= this.options.intervalMs) {
        lastReport = performance.now();
        if (this.changed) await this.report(false);
      }
    }
    await this.poll();
    this.live.state?.compactFollowed(this.followed.map((f) => f.input));
    await this.report(true);
  }

  private async report(last: boolean): Promise<void> {
    this.changed = false;
    const { data, run } = this.snapshot();
    await this.options.onReport(data, run, last);
  }

  /** The report of the counts so far. */
  snapshot(): { data: ReportData; run: RunInfo } {
    const tasks: Task[] = [];
    const partials: TaskPartial[] = [];
    for (const f of this.followed) {
      const task = { ...this.settings, version: TASK_VERSION, id: f.index, input: f.index, kind: "file", path: f.path, start: 0, end: f.end } as FileRangeTask;
      tasks.push(task);
      partials.push({ ...f.counts, malformedSamples: f.counts.malformedSamples.map((s) => ({ ...s })), taskId: f.index, task, timings: { readyAt: 0, startedAt: 0, endedAt: 0, pid: 0, maxRssKb: 0 } });
    }
    const input = { kind: "files" as const, files: this.followed.map((f) => ({ path: f.path, format: f.input.format, bytes: f.input.format === "plain" ? f.end : f.input.bytes })) };
    const data = reducePartials({ tasks, input, inputNames: this.followed.map((f) => f.path) }, partials, this.options);
    const wallMs = this.firstRun.wallMs + (performance.now() - this.startedAt);
    return { data, run: { ...this.firstRun, wallMs, tasks: this.firstRun.tasks + this.tasksRun, linesPerSecond: wallMs > 0 ? (data.lines.read / wallMs) * 1000 : 0 } };
  }

  /** One look at every file: new complete lines mapped, rotations and truncations followed. */
  async poll(): Promise<void> {
    const tasks: Task[] = [];
    const plannedEnd = new Map<number, number>();
    const reopen: Followed[] = [];
    for (const f of [...this.followed]) {
      if (f.done) continue;
      const fd = f.input.fd!;
      const size = fstatSync(fd).size;
      if (size < f.end) {
        // Truncated in place (copytruncate): what was counted stays; the file is read again from its start.
        await this.options.onNote(`${f.path} was truncated (${count(f.end)} -> ${count(size)} bytes): its ${count(f.counts.lines.read)} lines counted so far stay in the report, and it is read again from its start`);
        f.done = true;
        const again = this.add(f.path, { ...f.input, identity: readIdentity(fd) });
        // The descriptor is the new generation's now; the old one's bytes are gone.
        f.input.fd = undefined;
        this.live.state?.addFollowed(again.input, again.index);
        this.planStretch(again, tasks, plannedEnd);
        continue;
      }
      this.planStretch(f, tasks, plannedEnd);
      // The name now another file (rotated): the old one is read to its end above, then the new one from its start.
      let now: { dev: number; ino: number } | null = null;
      try {
        now = statSync(f.path);
      } catch {
        // gone for now (renamed, not yet made again): the open file is still read
      }
      if (now && (now.dev !== f.input.identity!.dev || now.ino !== f.input.identity!.ino)) reopen.push(f);
    }
    if (tasks.length > 0) await this.map(tasks, plannedEnd);
    for (const f of reopen) {
      f.done = true;
      let fd: number;
      try {
        fd = openSync(f.path, "r");
      } catch {
        continue; // gone again: looked at next time
      }
      // Its partials merged while its bytes can still be read (the state's fingerprints), then let go.
      this.live.state?.compactFollowed(this.live.plan.files, 0, f.index);
      closeSync(f.input.fd!);
      f.input.fd = undefined;
      const identity = readIdentity(fd);
      await this.options.onNote(`${f.path} was rotated: its ${count(f.counts.lines.read)} lines stay in the report, and the new ${f.path} is followed from its start`);
      const next = this.add(f.path, { ...f.input, fd, identity, bytes: identity.size });
      this.live.state?.addFollowed(next.input, next.index);
      const more: Task[] = [];
      this.planStretch(next, more, plannedEnd);
      if (more.length > 0) await this.map(more, plannedEnd);
    }
    // Many small partials of a long follow are merged now and then.
    if (this.live.state && this.tasksRun > 0 && this.tasksRun % 256 === 0) this.live.state.compactFollowed(this.followed.map((f) => f.input), 64);
  }

  private add(path: string, input: LogInput): Followed {
    const f: Followed = { path, input, index: this.followed.length, end: 0, counts: mergeAll([]), done: false };
    this.followed.push(f);
    this.live.plan.files.push(input);
    return f;
  }

  /** Tasks for the complete lines written to f since it was last read. */
  private planStretch(f: Followed, tasks: Task[], plannedEnd: Map<number, number>): void {
    const fd = f.input.fd!;
    const identity = readIdentity(fd);
    const complete = lastLineEnd(fd, f.end, identity.size);
    if (complete <= f.end) return;
    f.input.identity = identity;
    plannedEnd.set(f.index, complete);
    const minPart = Math.max(MIN_SPLIT_BYTES, Math.ceil((complete - f.end) / (this.options.workers * 32)));
    for (const [start, end] of splitGuided(complete - f.end, this.options.workers, minPart)) {
      tasks.push({
        ...this.settings, version: TASK_VERSION, id: this.nextId++, input: f.index, kind: "file", path: f.path,
        start: f.end + start, end: f.end + end, identity, fd, ...(f.input.logFormat !== undefined ? { format: f.input.logFormat } : {}),
      } as FileRangeTask);
    }
  }

  private async map(tasks: Task[], plannedEnd: Map<number, number>): Promise<void> {
    const bytes = tasks.reduce((a, t) => a + (t.kind === "file" ? t.end - t.start : 0), 0);
    const result = bytes <= IN_PROCESS_BYTES ? await mapHere(tasks) : await this.options.mapper(tasks, { workers: this.options.workers, retries: this.options.retries, taskTimeoutMs: this.options.taskTimeoutMs });
    this.tasksRun += tasks.length;
    const byInput = new Map<number, TaskPartial[]>();
    for (const p of result.partials) byInput.set(p.task.input, [...(byInput.get(p.task.input) ?? []), p]);
    for (const [index, mine] of byInput) {
      const f = this.followed[index]!;
      mine.sort((a, b) => a.covered![0] - b.covered![0]);
      let at = f.end;
      for (const p of mine) {
        if (p.covered![0] !== at) throw new InputError(`${f.path}: the partials of its new lines ${p.covered![0] > at ? "leave out" : "count twice"} bytes ${Math.min(at, p.covered![0])}..${Math.max(at, p.covered![0])}: the report would be wrong`);
        at = p.covered![1];
      }
      if (at !== plannedEnd.get(index)) throw new InputError(`${f.path}: its new lines were counted to byte ${at} of ${plannedEnd.get(index)}: the report would be wrong`);
      for (const p of mine) {
        // Stored as the worker made it; then numbered from the file's start for the running counts.
        this.live.state?.storePartial(tasks.find((t) => t.id === p.taskId)!, p);
        for (const s of p.malformedSamples) s.line += f.counts.lines.read;
        f.counts = mergeAll([f.counts, p]);
      }
      f.end = at;
      this.changed = true;
    }
  }

  close(): void {
    for (const f of this.followed) {
      if (f.input.fd === undefined) continue;
      try {
        closeSync(f.input.fd);
      } catch {
        // closed with its rotation
      }
      f.input.fd = undefined;
    }
    this.live.state?.close();
  }
}
