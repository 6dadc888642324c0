// One reducer's work: k-way merge every run of one partition, table by
// table, summing the counts of each key, and keep what the report needs of
// it: each table's exact top-N (count descending, then key bytes, as every
// top list), its distinct keys and sums, and for the clients the (errors,
// requests) pairs and the clients that may be suspicious, for the parent.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MIN_REQUESTS } from "../report/suspicious.ts";
import { mergeSketches, quantile, SLOW_PATH_MIN_REQUESTS, type SketchData } from "../core/sketch.ts";
import { checkSketch } from "../core/partial.ts";
import { groupOfPair, type KeyRow, RunReader, SPILLED_TABLE_NAMES, SPILLED_TABLES, type SpilledTable, type SpillRun, TIMED_TABLES, writeRun } from "./runs.ts";

export const REDUCE_VERSION = 1;

export interface ReduceJob {
  version: number;
  partition: number;
  dir: string;
  top: number;
  /** The partition's runs, of every table. */
  runs: SpillRun[];
  attempt?: number;
  /** --by a field reported whole, in key order (times, statuses): every group, not a top list. */
  wholeGroups?: boolean;
  /** Bytes each run's reader reads at a time (default READ_CHUNK). */
  readBytes?: number;
}

export interface TableResult {
  distinct: number;
  sums: number[];
  /** Paths: a row may carry the path's response times after its count. */
  top: KeyRow[];
  /** Paths with times: the slowest by p95 of those with at least SLOW_PATH_MIN_REQUESTS, as [path, times]. */
  slowest?: Array<[string, SketchData]>;
  /** Groups: the distinct clients of each row of `top`. */
  clients?: number[];
}

export interface PartitionResult {
  version: number;
  partition: number;
  tables: Partial<Record<SpilledTable, TableResult>>;
  /** The clients' [requests, 4xx + 5xx, clients with them]. */
  clientPairs: Array<[number, number, number]>;
  /** Clients with at least MIN_REQUESTS requests and an error ([client, requests, errors], in key order): only they can be suspicious. */
  candidates: { file: string; rows: number } | null;
  timings: { pid: number; ms: number; maxRssKb: number };
}

/** A run that does not hold what its partial said: the counts cannot be trusted, on any attempt. */
export class RunContentError extends Error {}

/** Rows better first: count descending, then key bytes. */
const better = (a: KeyRow, b: KeyRow): number => (b[1]! as number) - (a[1]! as number) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** The best `n` rows seen, with the report's tie-break; rows arrive in key order. */
class TopRows {
  readonly rows: KeyRow[] = [];
  constructor(private readonly n: number) {}
  offer(row: KeyRow): void {
    const { rows, n } = this;
    if (n === 0) return;
    // In key order, an equal count loses to every row already kept.
    if (rows.length === n && (row[1] as number) <= (rows[n - 1]![1] as number)) return;
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (better(rows[mid]!, row) <= 0) lo = mid + 1;
      else hi = mid;
    }
    rows.splice(lo, 0, row.slice() as KeyRow);
    if (rows.length > n) rows.pop();
  }
}

/** The slowest paths by p95 (then key bytes) of those with enough times; paths arrive in key order. */
class SlowestPaths {
  readonly rows: Array<{ path: string; times: SketchData; p95: number }> = [];
  constructor(private readonly n: number) {}
  offer(path: string, times: SketchData): void {
    if (times.count < SLOW_PATH_MIN_REQUESTS || this.n === 0) return;
    const p95 = quantile(times, 0.95)!;
    const { rows, n } = this;
    if (rows.length === n && p95 <= rows[n - 1]!.p95) return;
    let at = rows.length;
    while (at > 0 && rows[at - 1]!.p95 < p95) at--;
    rows.splice(at, 0, { path, times, p95 });
    if (rows.length > n) rows.pop();
  }
}

/** Checks a run's rows as they are read: in strict key order, of the table's shape, counts that fit. */
class CheckedRun {
  readonly reader: RunReader;
  private readonly sums: number[];
  private timed = 0;
  private last: string | undefined;
  constructor(readonly run: SpillRun, dir: string, readBytes?: number) {
    this.reader = new RunReader(join(dir, run.file), readBytes);
    this.sums = new Array<number>(SPILLED_TABLES[run.table]).fill(0);
  }
  next(): boolean {
    let more: boolean;
    try {
      more = this.reader.next();
    } catch (err) {
      throw new RunContentError(`spill file ${this.run.file} is damaged: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!more) {
      const { rows, sums } = this.run;
      if (this.reader.rowsRead !== rows || sums.some((s, c) => s !== this.sums[c]) || (this.run.timed ?? 0) !== this.timed) throw new RunContentError(`spill file ${this.run.file} does not hold what its partial says (${this.reader.rowsRead} rows, ${rows} said)`);
      return false;
    }
    const row = this.reader.row!;
    const columns = this.sums.length;
    const timed = TIMED_TABLES.has(this.run.table) && Array.isArray(row) && row.length === columns + 2;
    if (!Array.isArray(row) || (row.length !== columns + 1 && !timed) || typeof row[0] !== "string") throw new RunContentError(`spill file ${this.run.file} has a row of the wrong shape`);
    if (this.last !== undefined && row[0] <= this.last) throw new RunContentError(`spill file ${this.run.file} is not in strict key order`);
    this.last = row[0];
    for (let c = 1; c <= columns; c++) {
      const n = row[c];
      if (!Number.isSafeInteger(n) || (n as number) < 0) throw new RunContentError(`spill file ${this.run.file} has a count that is not a non-negative integer`);
      this.sums[c - 1]! += n as number;
    }
    if (timed) {
      let times: number;
      try {
        times = checkSketch(row[columns + 1], "a path's response times");
      } catch (err) {
        throw new RunContentError(`spill file ${this.run.file}: ${(err as Error).message}`);
      }
      if (times > (row[1] as number)) throw new RunContentError(`spill file ${this.run.file} has a ${this.run.table === "paths" ? "path" : "group"} with more response times than requests`);
      this.timed += times;
    }
    if (this.run.table === "hosts") {
      const [, n, c4, c5] = row as [string, number, number, number];
      if (c4 + c5 > n) throw new RunContentError(`spill file ${this.run.file} has a host with more errors than requests`);
    }
    if (this.run.table === "clients") {
      const [, n, c4, c5, c404] = row as [string, number, number, number, number, number];
      if (c404 > c4 || c4 + c5 > n) throw new RunContentError(`spill file ${this.run.file} has a client with more errors than requests`);
    }
    return true;
  }
  close(): void {
    this.reader.close();
  }
}

/** K-way merge of sorted runs: calls `emit` once per distinct key, with its counts summed, in key order. */
function mergeRuns(runs: readonly CheckedRun[], columns: number, emit: (row: KeyRow) => void): void {
  const heap: CheckedRun[] = [];
  const less = (a: CheckedRun, b: CheckedRun) => a.reader.row![0] < b.reader.row![0];
  const up = (k: number) => {
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!less(heap[k]!, heap[p]!)) break;
      [heap[k], heap[p]] = [heap[p]!, heap[k]!];
      k = p;
    }
  };
  const down = (k: number) => {
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let m = k;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === k) return;
      [heap[k], heap[m]] = [heap[m]!, heap[k]!];
      k = m;
    }
  };
  for (const run of runs) {
    if (run.next()) {
      heap.push(run);
      up(heap.length - 1);
    }
  }
  while (heap.length > 0) {
    const first = heap[0]!;
    const row = first.reader.row!.slice() as KeyRow;
    const advance = (run: CheckedRun) => {
      if (run.next()) down(0);
      else {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          down(0);
        }
      }
    };
    advance(first);
    let times: SketchData[] | undefined;
    while (heap.length > 0 && heap[0]!.reader.row![0] === row[0]) {
      const same = heap[0]!.reader.row!;
      for (let c = 1; c <= columns; c++) (row[c] as number) += same[c] as number;
      const more = same[columns + 1] as unknown as SketchData | undefined;
      if (more) (times ??= row.length > columns + 1 ? [row[columns + 1] as unknown as SketchData] : []).push(more);
      advance(heap[0]!);
    }
    if (times) (row as unknown[])[columns + 1] = times.length === 1 ? times[0] : mergeSketches(times);
    emit(row);
  }
}

/**
 * This process's peak resident memory: VmHWM on Linux (getrusage's maxrss
 * keeps the parent's across exec, so a reducer spawned by a large parent
 * would report the parent's).
 */
function peakResidentKb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

/** Reduces one partition (see the module comment); `progress` hears of the rows merged now and then. */
export function reducePartition(job: ReduceJob, progress?: (rows: number) => void): PartitionResult {
  let merged = 0;
  const t0 = performance.now();
  const tables: PartitionResult["tables"] = {};
  const pairs = new Map<number, Map<number, number>>();
  let candidates: PartitionResult["candidates"] = null;
  for (const table of SPILLED_TABLE_NAMES) {
    const mine = job.runs.filter((r) => r.table === table && r.partition === job.partition);
    if (mine.length === 0) continue;
    const runs = mine.map((r) => new CheckedRun(r, job.dir, job.readBytes));
    const top = new TopRows(table === "groups" && job.wholeGroups ? Number.POSITIVE_INFINITY : job.top);
    // The groups this partition reports, and their distinct clients (counted from the pairs, which come after the groups).
    const reported = table === "groupClients" ? new Map((tables.groups?.top ?? []).map((row) => [row[0], 0])) : null;
    const slow = new SlowestPaths(job.top);
    const sums = new Array<number>(SPILLED_TABLES[table]).fill(0);
    let distinct = 0;
    const picked: KeyRow[] = [];
    try {
      mergeRuns(runs, sums.length, (row) => {
        distinct++;
        if ((++merged & 0xffff) === 0) progress?.(merged);
        for (let c = 0; c < sums.length; c++) sums[c]! += row[c + 1] as number;
        if (reported) {
          const group = groupOfPair(row[0]);
          const n = reported.get(group);
          if (n !== undefined) reported.set(group, n + 1);
          return;
        }
        top.offer(row);
        if (table === "paths" && row.length > sums.length + 1) slow.offer(row[0], row[sums.length + 1] as unknown as SketchData);
        if (table !== "clients") return;
        const [, requests, c4, c5] = row as [string, number, number, number];
        const errors = c4 + c5;
        let byErrors = pairs.get(requests);
        if (!byErrors) pairs.set(requests, (byErrors = new Map()));
        byErrors.set(errors, (byErrors.get(errors) ?? 0) + 1);
        if (requests >= MIN_REQUESTS && errors > 0) picked.push([row[0], requests, errors]);
      });
    } finally {
      for (const r of runs) r.close();
    }
    if (table === "clients" && picked.length > 0) {
      const file = `candidates-${job.partition}-a${job.attempt ?? 1}.run`;
      writeRun(join(job.dir, file), picked);
      candidates = { file, rows: picked.length };
    }
    if (reported) {
      const groups = tables.groups;
      if (groups) groups.clients = groups.top.map((row) => reported.get(row[0])!);
      tables[table] = { distinct, sums, top: [] };
      continue;
    }
    tables[table] = { distinct, sums, top: top.rows, ...(slow.rows.length > 0 ? { slowest: slow.rows.map((r) => [r.path, r.times] as [string, SketchData]) } : {}) };
  }
  const clientPairs: Array<[number, number, number]> = [];
  for (const [requests, byErrors] of pairs) for (const [errors, n] of byErrors) clientPairs.push([requests, errors, n]);
  clientPairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return {
    version: REDUCE_VERSION,
    partition: job.partition,
    tables,
    clientPairs,
    candidates,
    timings: { pid: process.pid, ms: performance.now() - t0, maxRssKb: peakResidentKb() },
  };
}
