// The reduce phase of a run that spilled: one reducer child per partition,
// at most `workers` at a time, each result checked against the runs it was
// given and a failed reducer run again, as map tasks are.

import { liveChildren } from "../map/children.ts";
import { DEFAULT_RETRIES, DEFAULT_TASK_TIMEOUT_MS } from "../map/children.ts";
import { EXIT_INPUT_CHANGED, FATAL_PREFIX, PROGRESS_PREFIX } from "../core/protocol.ts";
import { LogmrError } from "../core/errors.ts";
import { MIN_READ_CHUNK, READ_CHUNK, SPILLED_TABLE_NAMES, SPILLED_TABLES, type SpillRun } from "./runs.ts";
import { type PartitionResult, REDUCE_VERSION, type ReduceJob } from "./reduce-partition.ts";

export const REDUCER_PATH = new URL("./reducer.ts", import.meta.url).pathname;

export class ReduceError extends LogmrError {}

export interface ReducedRun {
  results: PartitionResult[];
  /** Partitions that failed at least once: why, per attempt. */
  retried: Array<{ partition: number; causes: string[] }>;
}

/** Why a reducer's result cannot be taken, or null when it can. */
export function resultProblem(x: unknown, job: ReduceJob): string | null {
  const r = x as PartitionResult | null;
  if (typeof r !== "object" || r === null || r.version !== REDUCE_VERSION || r.partition !== job.partition) return "not a result for this partition";
  if (typeof r.tables !== "object" || r.tables === null || !Array.isArray(r.clientPairs)) return "a result without tables or client pairs";
  for (const table of SPILLED_TABLE_NAMES) {
    const runs = job.runs.filter((run) => run.table === table);
    const t = r.tables[table];
    if (runs.length === 0) {
      if (t !== undefined) return `a table (${table}) it was given no runs of`;
      continue;
    }
    if (!t || !Array.isArray(t.sums) || !Array.isArray(t.top)) return `no ${table} table`;
    const rows = runs.reduce((a, run) => a + run.rows, 0);
    const sums = new Array<number>(SPILLED_TABLES[table]).fill(0);
    for (const run of runs) run.sums.forEach((s, c) => (sums[c]! += s));
    if (sums.some((s, c) => s !== t.sums[c])) return `its ${table} do not sum to what the runs hold`;
    const distinctMin = Math.max(...runs.map((run) => run.rows));
    if (!Number.isSafeInteger(t.distinct) || t.distinct < distinctMin || t.distinct > rows) return `its ${table} count ${t.distinct} distinct keys, not between ${distinctMin} and ${rows}`;
    const wanted = table === "groupClients" ? 0 : table === "groups" && job.wholeGroups ? t.distinct : Math.min(job.top, t.distinct);
    if (t.top.length !== wanted) return `its top ${table} are ${t.top.length} rows`;
    if (table === "groups" && job.runs.some((run) => run.table === "groupClients") && (!Array.isArray(t.clients) || t.clients.length !== t.top.length)) return "its groups do not count their clients";
    if (table === "clients") {
      const pairs = r.clientPairs.reduce((a, p) => a + (Array.isArray(p) ? (p[2] as number) : Number.NaN), 0);
      if (pairs !== t.distinct) return "its client pairs do not count its clients";
    }
  }
  return null;
}

/** Reads a child's stderr as it comes: the time of its last progress line, the fatal line if any. */
async function watchStderr(stream: ReadableStream<Uint8Array>, onProgress: () => void): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let pending = "";
  for await (const chunk of stream) {
    const lines = (pending + decoder.decode(chunk, { stream: true })).split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith(PROGRESS_PREFIX)) onProgress();
      else text += `${line}\n`;
    }
  }
  return text + pending;
}

async function runOne(job: ReduceJob, env: Record<string, string | undefined>, timeoutMs: number): Promise<{ result?: PartitionResult; cause?: string; fatal?: string }> {
  const child = Bun.spawn([process.execPath, REDUCER_PATH], { stdin: new Blob([JSON.stringify(job)]), stdout: "pipe", stderr: "pipe", env });
  liveChildren.add(child);
  let lastSign = performance.now();
  let timedOut = false;
  const watchdog = timeoutMs > 0
    ? setInterval(() => {
      if (performance.now() - lastSign <= timeoutMs) return;
      timedOut = true;
      child.kill("SIGKILL");
    }, Math.min(1000, timeoutMs))
    : undefined;
  try {
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), watchStderr(child.stderr, () => (lastSign = performance.now())), child.exited]);
    if (timedOut) return { cause: `no progress for ${(timeoutMs / 1000).toFixed(1)} s: killed` };
    const fatal = err.split("\n").find((l) => l.startsWith(FATAL_PREFIX));
    if (code === EXIT_INPUT_CHANGED && fatal) return { fatal: fatal.slice(FATAL_PREFIX.length) };
    if (code !== 0 || child.signalCode) return { cause: child.signalCode ? `the reducer was killed by ${child.signalCode}` : `the reducer exited with code ${code}` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(out);
    } catch {
      return { cause: out.trim() === "" ? "the reducer printed nothing" : "the reducer's output is not valid JSON (garbage or cut short)" };
    }
    const problem = resultProblem(parsed, job);
    if (problem) return { cause: `the result is invalid: ${problem}` };
    return { result: parsed as PartitionResult };
  } finally {
    clearInterval(watchdog);
    liveChildren.delete(child);
  }
}

/** Reduces every partition that has runs; throws ReduceError when one fails for good. */
export async function runReducers(
  runs: readonly SpillRun[],
  options: {
    dir: string; partitions: number; top: number; workers: number; retries?: number; env?: Record<string, string | undefined>; timeoutMs?: number; wholeGroups?: boolean;
    /** A reducer's share of the budget: its read buffers fit in a quarter of it. */
    memoryShare?: number;
  },
): Promise<ReducedRun> {
  const queue: ReduceJob[] = [];
  for (let partition = 0; partition < options.partitions; partition++) {
    const mine = runs.filter((r) => r.partition === partition);
    if (mine.length === 0) continue;
    const readBytes = options.memoryShare === undefined ? READ_CHUNK : Math.max(MIN_READ_CHUNK, Math.min(READ_CHUNK, Math.floor(options.memoryShare / 4 / mine.length)));
    queue.push({ version: REDUCE_VERSION, partition, dir: options.dir, top: options.top, runs: mine, readBytes, ...(options.wholeGroups ? { wholeGroups: true } : {}) });
  }
  const results: PartitionResult[] = [];
  const retried = new Map<number, string[]>();
  const retries = options.retries ?? DEFAULT_RETRIES;
  let failure: ReduceError | null = null;
  const slot = async (): Promise<void> => {
    for (let job = queue.shift(); job && !failure; job = queue.shift()) {
      for (let attempt = 1; ; attempt++) {
        const got = await runOne({ ...job, attempt }, options.env ?? process.env, options.timeoutMs ?? DEFAULT_TASK_TIMEOUT_MS);
        if (failure) return;
        if (got.result) {
          results.push(got.result);
          break;
        }
        if (got.fatal) {
          failure = new ReduceError(got.fatal);
          return;
        }
        const causes = retried.get(job.partition) ?? [];
        causes.push(`attempt ${attempt}: ${got.cause}`);
        retried.set(job.partition, causes);
        if (attempt > retries) {
          failure = new ReduceError(`the reducer of partition ${job.partition} failed ${attempt} times, giving up: ${causes.join("; ")}`);
          return;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.workers, queue.length)) }, slot));
  if (failure) throw failure;
  return {
    results: results.sort((a, b) => a.partition - b.partition),
    retried: [...retried].sort((a, b) => a[0] - b[0]).map(([partition, causes]) => ({ partition, causes })),
  };
}
