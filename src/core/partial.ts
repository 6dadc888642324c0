// The partial: what one map task reports. The parent treats it as untrusted
// input: validatePartial checks its shape and that its counts add up before
// mergePartials (associative and commutative) folds it into the total.
//
// Keys (clients, paths, ...) are binary strings: one char per byte of the log,
// so any bytes, valid UTF-8 or not, survive JSON exactly.

import { parseTask, TaskError, taskKey, type Task } from "./task.ts";
import { LogmrError } from "./errors.ts";
import { MAX_BUCKET, mergeSketches, MIN_BUCKET, type SketchData } from "./sketch.ts";
import type { SpillPartial } from "../shuffle/spill-partial.ts";
import { SPILLED_TABLES, type SpilledTable, TIMED_TABLES } from "../shuffle/tables.ts";

// 2: partials carry the task they answer and, for byte ranges, the bytes their lines cover.
export const PARTIAL_VERSION = 3;

/** The bytes of a binary string (one char per byte), as keys and samples are written. */
export function binaryToBytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let k = 0; k < key.length; k++) out[k] = key.charCodeAt(k);
  return out;
}

export interface MalformedSample {
  /** 1-based line number, within the task until the parent makes it global. */
  line: number;
  /** Absolute byte offset of the line in its input. */
  offset: number;
  /** Bytes of the line around where it broke (its start when that is early), as a binary string. */
  text: string;
  truncated: boolean;
  reason?: string;
  /** 1-based byte column of the line where it broke the rules; where `text` starts in the line (0-based). */
  column?: number;
  textStart?: number;
  /** Index of the input (file) in the run; set by the parent. */
  input?: number;
}

export interface LineCounts {
  read: number;
  valid: number;
  malformed: number;
  combined: number;
  common: number;
  /** Valid lines outside --since/--until. */
  outOfWindow: number;
  /** Valid lines in the window that a filter left out (--vhost). */
  filtered: number;
}

/** [client, requests, 4xx, 5xx, 404, bytes] */
export type ClientRow = [string, number, number, number, number, number];
export type KeyCount = [string, number];

export interface CountsPartial {
  version: number;
  /** Present as "minimal" when methods, paths, referrers and agents were not counted. */
  counters?: "minimal";
  lines: LineCounts;
  /** Valid lines inside the time window: the requests every other count is over. */
  requests: number;
  bytes: number;
  status: KeyCount[];
  clients: ClientRow[];
  methods: KeyCount[];
  paths: KeyCount[];
  notFoundPaths: KeyCount[];
  referrers: KeyCount[];
  agents: KeyCount[];
  /** [epoch minute, requests, 4xx, 5xx] */
  minutes: Array<[number, number, number, number]>;
  firstTime: number | null;
  lastTime: number | null;
  malformedSamples: MalformedSample[];
  /** [reason, malformed lines]: every malformed line has one. */
  malformedReasons: KeyCount[];
  /** Response times of the requests that had one (formats that write them): all, and by status class. */
  latency?: LatencyPartial;
  /** Virtual hosts (formats that write them). */
  hosts?: HostRow[];
  /** --by: every metric split by one field. */
  groups?: GroupsPartial;
  /** Keyed rows written to sorted runs (--memory): a table's rows are those inline plus those of its runs. */
  spill?: SpillPartial;
}

/** [host, requests, 4xx, 5xx, its response times or null] */
/** One group of a partial. `classes`: lines answered 1xx..5xx, then any other code; `clients`: indices into the partial's clients (null for --by client). */
export interface GroupRow {
  key: string;
  requests: number;
  bytes: number;
  classes: [number, number, number, number, number, number];
  clients: number[] | null;
  /** A group reduced from spilled runs: its distinct clients, counted there (`clients` is then null). */
  distinctClients?: number | null;
  latency: SketchData | null;
}
export interface GroupsPartial {
  field: string;
  rows: GroupRow[];
}

export type HostRow = [string, number, number, number, SketchData | null];

export interface LatencyPartial {
  all: SketchData;
  byClass: Array<[string, SketchData]>;
  /** By path, the methods of a path together (not with --counters minimal). */
  byPath?: Array<[string, SketchData]>;
}

function mergePathLatency(lists: ReadonlyArray<ReadonlyArray<[string, SketchData]>>): Array<[string, SketchData]> {
  const byPath = new Map<string, SketchData[]>();
  for (const rows of lists) {
    for (const [path, sketch] of rows) {
      const seen = byPath.get(path);
      if (seen) seen.push(sketch);
      else byPath.set(path, [sketch]);
    }
  }
  return [...byPath]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([path, list]) => [path, list.length === 1 ? list[0]! : mergeSketches(list)]);
}

export interface WorkerTimings {
  /** Epoch ms when the worker process started running its code. */
  readyAt: number;
  /** Epoch ms when this task started and ended inside the worker. */
  startedAt: number;
  endedAt: number;
  pid: number;
  /** Peak resident memory of the worker process so far, in KiB. */
  maxRssKb: number;
  /** Where and on which attempt the task ran (reported by the worker itself). */
  host?: string;
  attempt?: number;
}

export interface TaskPartial extends CountsPartial {
  taskId: number;
  /** The task it answers, as the worker received it (without `attempt`). */
  task: Task;
  /** File and segment tasks: where the first line counted starts and the last one ends (absolute offsets). */
  covered?: [number, number];
  timings: WorkerTimings;
}

/** Malformed lines kept as samples, per partial and in the report. */
export const MAX_SAMPLES = 5;
/** Longest key a worker can produce (its largest line buffer). */
const MAX_KEY_CHARS = 1 << 20;
/** Longest sample text and reason a worker writes, with room to spare. */
const MAX_SAMPLE_CHARS = 1024;
/** Epoch seconds of years 0000 and 9999: times the log format can write. */
const MIN_TIME = -62_167_219_200;
const MAX_TIME = 253_402_300_799;

export function emptyCounts(): CountsPartial {
  return {
    version: PARTIAL_VERSION,
    lines: { read: 0, valid: 0, malformed: 0, combined: 0, common: 0, outOfWindow: 0, filtered: 0 },
    requests: 0,
    bytes: 0,
    status: [],
    clients: [],
    methods: [],
    paths: [],
    notFoundPaths: [],
    referrers: [],
    agents: [],
    minutes: [],
    firstTime: null,
    lastTime: null,
    malformedSamples: [],
    malformedReasons: [],
  };
}

function byKey<T extends [string | number, ...number[]]>(a: T, b: T): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function mergeRows<T extends [string | number, ...number[]]>(lists: ReadonlyArray<readonly T[]>): T[] {
  const merged = new Map<string | number, T>();
  for (const rows of lists) {
    for (const row of rows) {
      const seen = merged.get(row[0]);
      if (!seen) {
        merged.set(row[0], [...row] as T);
        continue;
      }
      for (let c = 1; c < row.length; c++) (seen[c] as number) += row[c] as number;
    }
  }
  return [...merged.values()].sort(byKey);
}

function minNullable(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}
function maxNullable(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function sampleOrder(a: MalformedSample, b: MalformedSample): number {
  return (a.input ?? 0) - (b.input ?? 0) || a.offset - b.offset;
}

/**
 * Folds any number of partials, in any order, into one: one map per table,
 * rows sorted by key, so the result does not depend on the order (the merge
 * is associative and commutative).
 */
export function mergeAll(partials: readonly CountsPartial[]): CountsPartial {
  const out = emptyCounts();
  for (const p of partials) {
    for (const k of Object.keys(out.lines) as Array<keyof LineCounts>) out.lines[k] += p.lines[k];
    out.requests += p.requests;
    out.bytes += p.bytes;
    out.firstTime = minNullable(out.firstTime, p.firstTime);
    out.lastTime = maxNullable(out.lastTime, p.lastTime);
    if (p.counters === "minimal") out.counters = "minimal";
  }
  // Every count is at most one of these: when they are exact, all are.
  checkCount(out.lines.read, "the total of lines read");
  checkCount(out.bytes, "the total of bytes served");
  out.status = mergeRows(partials.map((p) => p.status));
  out.clients = mergeRows(partials.map((p) => p.clients));
  out.methods = mergeRows(partials.map((p) => p.methods));
  out.paths = mergeRows(partials.map((p) => p.paths));
  out.notFoundPaths = mergeRows(partials.map((p) => p.notFoundPaths));
  out.referrers = mergeRows(partials.map((p) => p.referrers));
  out.agents = mergeRows(partials.map((p) => p.agents));
  out.minutes = mergeRows(partials.map((p) => p.minutes));
  out.malformedSamples = partials.flatMap((p) => p.malformedSamples).sort(sampleOrder).slice(0, MAX_SAMPLES);
  out.malformedReasons = mergeRows(partials.map((p) => p.malformedReasons));
  const hosted = partials.filter((p) => p.hosts);
  if (hosted.length > 0) out.hosts = mergeHosts(hosted.map((p) => p.hosts!));
  const timed = partials.filter((p) => p.latency);
  if (timed.length > 0) {
    const classes = [...new Set(timed.flatMap((p) => p.latency!.byClass.map(([c]) => c)))].sort();
    out.latency = {
      all: mergeSketches(timed.map((p) => p.latency!.all)),
      byClass: classes.map((c) => [c, mergeSketches(timed.flatMap((p) => p.latency!.byClass.filter(([k]) => k === c).map(([, s]) => s)))]),
    };
    if (timed.some((p) => p.latency!.byPath)) out.latency.byPath = mergePathLatency(timed.map((p) => p.latency!.byPath ?? []));
  }
  const grouped = partials.filter((p) => p.groups);
  if (grouped.length > 0) out.groups = mergeGroups(grouped, out.clients);
  const spilled = partials.filter((p) => p.spill);
  if (spilled.length > 0) {
    const { dir, partitions } = spilled[0]!.spill!;
    if (spilled.some((p) => p.spill!.dir !== dir || p.spill!.partitions !== partitions)) fail("partials spilled to different directories or partitions");
    out.spill = { dir, partitions, runs: spilled.flatMap((p) => p.spill!.runs) };
  }
  return out;
}

/** Merges two partials' counts. */
export function mergePartials(a: CountsPartial, b: CountsPartial): CountsPartial {
  return mergeAll([a, b]);
}

// ---------------------------------------------------------------- validation

export class PartialError extends LogmrError {}

function fail(what: string): never {
  throw new PartialError(what);
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function checkCount(x: unknown, what: string): number {
  if (!isCount(x)) {
    if (typeof x === "number" && x > Number.MAX_SAFE_INTEGER) fail(`${what} is above 2^53 (${x}): too large to count exactly`);
    fail(`${what} is not a non-negative integer`);
  }
  return x;
}

/** Checks rows of [key, count...]; returns each column's sum. */
function checkTableRows(x: unknown, what: string, columns: number, keyIsNumber = false): number[] {
  if (!Array.isArray(x)) fail(`${what} is not an array`);
  const sums = new Array<number>(columns).fill(0);
  const seen = new Set<string | number>();
  for (const row of x) {
    if (!Array.isArray(row) || row.length !== columns + 1) fail(`${what} has a row of the wrong shape`);
    const key = row[0];
    if (keyIsNumber ? !Number.isSafeInteger(key) : typeof key !== "string" || key.length > MAX_KEY_CHARS) fail(`${what} has a bad key`);
    if (seen.has(key)) fail(`${what} repeats the key ${JSON.stringify(key).slice(0, 80)}`);
    seen.add(key);
    for (let c = 0; c < columns; c++) {
      // The message is built only on failure (it was built for every cell).
      const n = row[c + 1];
      if (!isCount(n)) checkCount(n, `a count in ${what}`);
      sums[c]! += n;
    }
  }
  for (const sum of sums) checkCount(sum, `the sum of ${what}`);
  return sums;
}

function checkEqual(a: number, b: number, what: string): void {
  if (a !== b) fail(`${what} (${a} vs ${b})`);
}

function checkTime(t: unknown, what: string): number {
  if (!Number.isSafeInteger(t) || (t as number) < MIN_TIME || (t as number) > MAX_TIME) fail(`${what} is ${JSON.stringify(t)}, not a time of years 0 to 9999`);
  return t as number;
}

function checkString(x: unknown, what: string, max: number): void {
  if (typeof x !== "string" || x.length > max) fail(`${what} is not a string of at most ${max} characters`);
}

/** The task a partial says it answers, checked like any task (and against the expected one, when known). */
function checkTask(x: unknown, expected: Task | undefined): Task {
  if (typeof x !== "object" || x === null || Array.isArray(x)) fail("partial does not name its task");
  let task: Task;
  try {
    task = parseTask(JSON.stringify(x));
  } catch (err) {
    fail(`partial's task: ${err instanceof TaskError ? err.message : String(err)}`);
  }
  if (expected && taskKey(task) !== taskKey(expected)) {
    fail(`partial answers another task than ${expected.id} (another input, range or option): ${taskKey(task).slice(0, 200)}`);
  }
  return task;
}

/** Status counts of the codes `pick` takes. */
function statusSum(rows: KeyCount[], pick: (code: number) => boolean): number {
  return rows.reduce((sum, [code, n]) => (pick(Number(code)) ? sum + n : sum), 0);
}

/**
 * Checks an untrusted partial: shape, version, that it answers the task it
 * should (`expected`, when known: local children, a plan) and that its counts
 * agree with each other. Returns it typed, or throws PartialError naming the
 * first problem.
 */
export function validatePartial(x: unknown, expected?: Task, options: { spillDir?: string } = {}): TaskPartial {
  if (typeof x !== "object" || x === null || Array.isArray(x)) fail("partial is not a JSON object");
  const p = x as Record<string, unknown>;
  if (p.version !== PARTIAL_VERSION) fail(`partial version ${JSON.stringify(p.version)} is not ${PARTIAL_VERSION}`);
  if (!isCount(p.taskId)) fail(`partial's taskId ${JSON.stringify(p.taskId)} is not a task id (a non-negative integer)`);
  if (expected && p.taskId !== expected.id) fail(`partial is for task ${JSON.stringify(p.taskId)}, expected ${expected.id}`);
  const task = checkTask(p.task, expected);
  if (task.id !== p.taskId) fail(`partial's taskId ${p.taskId} is not its task's id ${task.id}`);
  if (p.counters !== undefined && p.counters !== "minimal") fail(`counters is ${JSON.stringify(p.counters)}`);
  if ((p.counters === "minimal") !== (task.counters === "minimal")) fail("the partial's counters are not its task's");
  const lines = checkLineCounts(p, task);
  const spilled = p.spill === undefined ? undefined : checkSpill(p.spill, options.spillDir);
  checkCountTables(p, lines, spilled?.sums);
  checkTimes(p, task, lines.requests);
  checkSamples(p.malformedSamples, task, lines);
  checkReasons(p.malformedReasons, lines);
  if (p.latency !== undefined) checkLatency(p.latency, lines.requests, p.paths as KeyCount[], spilled?.timed ?? 0);
  else if (spilled?.timed) fail("spilled paths carry response times, and the partial has none");
  if (p.hosts !== undefined) checkHosts(p.hosts, lines.requests, spilled?.sums.get("hosts")?.[0] ?? 0);
  else if (spilled?.sums.has("hosts")) fail("spilled hosts from a format without hosts");
  if ((p.groups !== undefined) !== (task.by !== undefined)) fail(task.by === undefined ? "groups from a task without --by" : `no groups from a task split by ${task.by}`);
  if (p.groups !== undefined) checkGroups(p.groups, lines.requests, p.bytes as number, p.status as KeyCount[], (p.clients as unknown[]).length, task.by!, spilled?.sums.get("groups"));
  else if (spilled?.sums.has("groups") || spilled?.sums.has("groupClients")) fail("spilled groups from a task without --by");
  checkCovered(p.covered, task);
  checkTimings(p.timings);
  return p as unknown as TaskPartial;
}

interface CheckedLines {
  read: number;
  malformed: number;
  combined: number;
  requests: number;
}

function checkLineCounts(p: Record<string, unknown>, task: Task): CheckedLines {
  const lines = p.lines as Record<string, unknown> | undefined;
  if (typeof lines !== "object" || lines === null) fail("partial has no line counts");
  const read = checkCount(lines.read, "lines.read");
  const valid = checkCount(lines.valid, "lines.valid");
  const malformed = checkCount(lines.malformed, "lines.malformed");
  const combined = checkCount(lines.combined, "lines.combined");
  const common = checkCount(lines.common, "lines.common");
  const outOfWindow = checkCount(lines.outOfWindow, "lines.outOfWindow");
  const filtered = checkCount(lines.filtered, "lines.filtered");
  if (filtered > 0 && task.hosts === undefined && task.where === undefined) fail("lines filtered out by a task without a filter");
  checkEqual(read, valid + malformed, "lines read != valid + malformed");
  checkEqual(valid, combined + common, "valid lines != combined + common");
  if (task.kind === "generate") checkEqual(read, task.end - task.start, "lines read != the lines of its generated range");
  const requests = checkCount(p.requests, "requests");
  checkEqual(requests, valid - outOfWindow - filtered, "requests != valid lines in the time window and the filter");
  return { read, malformed, combined, requests };
}

/** Statuses, clients and the keyed tables: each sums to what it must, and no client has more errors than requests. */
function checkCountTables(p: Record<string, unknown>, { requests, combined }: CheckedLines, spilled?: Map<SpilledTable, number[]>): void {
  const checkRows = (x: unknown, what: string, columns: number, keyIsNumber = false): number[] => {
    const sums = checkTableRows(x, what, columns, keyIsNumber);
    const more = spilled?.get(what as SpilledTable);
    if (more) sums.forEach((_, c) => (sums[c] = checkCount(sums[c]! + more[c]!, `the sum of ${what}`)));
    return sums;
  };
  const bytes = checkCount(p.bytes, "bytes");
  const [statusTotal] = checkRows(p.status, "status", 1);
  const status = p.status as KeyCount[];
  for (const [code] of status) if (!/^\d{3}$/.test(code)) fail(`status code ${JSON.stringify(code).slice(0, 20)}`);
  checkEqual(statusTotal!, requests, "status counts do not sum to requests");
  const clientSums = checkRows(p.clients, "clients", 5);
  checkEqual(clientSums[0]!, requests, "client counts do not sum to requests");
  checkEqual(clientSums[1]!, statusSum(status, (c) => c >= 400 && c < 500), "clients' 4xx do not sum to the 4xx status counts");
  checkEqual(clientSums[2]!, statusSum(status, (c) => c >= 500 && c < 600), "clients' 5xx do not sum to the 5xx status counts");
  checkEqual(clientSums[3]!, statusSum(status, (c) => c === 404), "clients' 404s do not sum to the 404 status count");
  checkEqual(clientSums[4]!, bytes, "client bytes do not sum to bytes");
  // A spilled client's rows are checked so by its reducer.
  for (const [client, n, c4xx, c5xx, c404] of p.clients as ClientRow[]) {
    if (c404 > c4xx || c4xx + c5xx > n) fail(`client ${JSON.stringify(client).slice(0, 80)} has more 4xx, 5xx or 404 responses than requests`);
  }
  const [methodSum] = checkRows(p.methods, "methods", 1);
  if (p.counters !== "minimal") checkEqual(methodSum!, requests, "method counts do not sum to requests");
  const [pathSum] = checkRows(p.paths, "paths", 1);
  if (pathSum! > requests) fail("more paths than requests");
  const [notFoundSum] = checkRows(p.notFoundPaths, "notFoundPaths", 1);
  if (notFoundSum! > pathSum!) fail("more 404 paths than paths");
  // A request without a path (a bare method, "GARBAGE") has no 404 path: at most, not equal.
  if (notFoundSum! > clientSums[3]!) fail("more 404 paths than 404 responses");
  const [refSum] = checkRows(p.referrers, "referrers", 1);
  const [agentSum] = checkRows(p.agents, "agents", 1);
  checkEqual(refSum!, agentSum!, "referrer and agent counts differ");
  if (refSum! > requests || refSum! > combined) fail("more referrers than requests in the Combined format");
  const [minuteSum, minute4xx, minute5xx] = checkRows(p.minutes, "minutes", 3, true);
  checkEqual(minuteSum!, requests, "minute counts do not sum to requests");
  checkEqual(minute4xx!, clientSums[1]!, "the 4xx of the minutes and of the clients differ");
  checkEqual(minute5xx!, clientSums[2]!, "the 5xx of the minutes and of the clients differ");
  for (const [, n, c4, c5] of p.minutes as Array<[number, number, number, number]>) if (c4 + c5 > n) fail("a minute has more 4xx and 5xx responses than requests");
}

/** First and last times: real dates, in order, in the task's window, with every minute between them. */
function checkTimes(p: Record<string, unknown>, task: Task, requests: number): void {
  if (requests === 0) {
    if (p.firstTime !== null || p.lastTime !== null) fail("firstTime and lastTime are not null without requests");
    return;
  }
  const first = checkTime(p.firstTime, "firstTime");
  const last = checkTime(p.lastTime, "lastTime");
  if (first > last) fail(`firstTime ${first} is after lastTime ${last}`);
  const window = task.window;
  if ((window?.since !== undefined && first < window.since) || (window?.until !== undefined && last >= window.until)) fail("a request outside its task's time window");
  for (const [minute] of p.minutes as Array<[number, number, number, number]>) {
    if (minute < Math.floor(first / 60) || minute > Math.floor(last / 60)) fail(`minute ${minute} is outside firstTime..lastTime`);
  }
}

function checkSamples(x: unknown, task: Task, { read, malformed }: CheckedLines): void {
  if (!Array.isArray(x) || x.length > MAX_SAMPLES) fail("malformedSamples");
  for (const s of x as unknown[]) {
    if (typeof s !== "object" || s === null) fail("a malformed sample is not an object");
    const sample = s as Record<string, unknown>;
    checkString(sample.text, "a malformed sample's text", MAX_SAMPLE_CHARS);
    if (sample.reason !== undefined) checkString(sample.reason, "a malformed sample's reason", MAX_SAMPLE_CHARS);
    if (typeof sample.truncated !== "boolean") fail("a malformed sample's truncated is not a boolean");
    const line = checkCount(sample.line, "malformed sample line");
    if (line < 1 || line > read) fail(`malformed sample line ${line} is not one of the ${read} lines read`);
    checkCount(sample.offset, "malformed sample offset");
    if (sample.column !== undefined) checkCount(sample.column, "malformed sample column");
    if (sample.textStart !== undefined) checkCount(sample.textStart, "malformed sample textStart");
    if (sample.input !== undefined && sample.input !== task.input) fail("a malformed sample names another input");
  }
  if (x.length > malformed) fail("more malformed samples than malformed lines");
}

/** --by's groups: one row a key, in key order; together exactly the requests and bytes; clients the partial has. */
function checkGroups(x: unknown, requests: number, bytes: number, status: readonly KeyCount[], clients: number, field: string, spilled?: readonly number[]): void {
  const g = x as Record<string, unknown> | null;
  if (typeof g !== "object" || g === null || !Array.isArray(g.rows)) fail("groups is not an object with rows");
  if (g.field !== field) fail(`groups are by ${JSON.stringify(g.field)}, the task split by ${field}`);
  // Spilled rows: [requests, bytes, 1xx..5xx, other] summed over their runs.
  let total = spilled?.[0] ?? 0;
  let totalBytes = spilled?.[1] ?? 0;
  const classTotals = spilled ? spilled.slice(2, 8) : [0, 0, 0, 0, 0, 0];
  let previous: string | null = null;
  for (const r of g.rows as unknown[]) {
    const row = r as Record<string, unknown> | null;
    if (typeof row !== "object" || row === null || typeof row.key !== "string" || row.key.length > MAX_KEY_CHARS) fail("groups has a bad row");
    if (previous !== null && row.key <= previous) fail(`groups are out of key order or repeat ${JSON.stringify(row.key).slice(0, 80)}`);
    previous = row.key;
    const n = checkCount(row.requests, "a group's requests");
    if (n === 0) fail("a group without requests");
    totalBytes += checkCount(row.bytes, "a group's bytes");
    if (!Array.isArray(row.classes) || row.classes.length !== 6) fail("a group's classes are not 6 counts");
    checkEqual((row.classes as unknown[]).reduce((a: number, c) => a + checkCount(c, "a group's class count"), 0), n, "a group's classes != its requests");
    (row.classes as number[]).forEach((c, k) => (classTotals[k]! += c));
    if (field === "client") {
      if (row.clients !== null) fail("a group by client lists clients");
    } else {
      if (!Array.isArray(row.clients) || row.clients.length === 0 || row.clients.length > n) fail("a group's clients are not 1 to its requests");
      let last = -1;
      for (const i of row.clients as unknown[]) {
        if (!isCount(i) || i <= last || i >= clients) fail("a group names a client the partial does not have, or names one twice");
        last = i;
      }
    }
    if (row.latency !== null && checkSketch(row.latency, "a group's response times") > n) fail("a group has more response times than requests");
    total += n;
  }
  checkEqual(total, requests, "groups != requests");
  const statusTotals = [0, 0, 0, 0, 0, 0];
  for (const [code, n] of status) {
    const c = Number(code[0]);
    statusTotals[code.length === 3 && c >= 1 && c <= 5 ? c - 1 : 5]! += n;
  }
  for (let k = 0; k < 6; k++) checkEqual(classTotals[k]!, statusTotals[k]!, "the groups' status classes != the status counts");
  checkEqual(totalBytes, bytes, "the groups' bytes != bytes");
}

/** --by's groups of several partials: counts summed, clients united (as indices into the merged clients), times merged. */
function mergeGroups(partials: readonly CountsPartial[], clients: readonly ClientRow[]): GroupsPartial {
  const field = partials[0]!.groups!.field;
  if (partials.some((p) => p.groups!.field !== field)) fail("partials split by different fields");
  const index = field === "client" ? null : new Map(clients.map((c, i) => [c[0], i]));
  const merged = new Map<string, { row: GroupRow; clients: Set<number> | null; sketches: SketchData[] }>();
  for (const p of partials) {
    for (const row of p.groups!.rows) {
      let m = merged.get(row.key);
      if (!m) {
        m = { row: { ...row, requests: 0, bytes: 0, classes: [0, 0, 0, 0, 0, 0], clients: null, latency: null }, clients: index ? new Set() : null, sketches: [] };
        merged.set(row.key, m);
      }
      m.row.requests += row.requests;
      m.row.bytes += row.bytes;
      for (let c = 0; c < 6; c++) m.row.classes[c]! += row.classes[c]!;
      if (m.clients && row.clients) for (const i of row.clients) m.clients.add(index!.get(p.clients[i]![0])!);
      if (row.latency) m.sketches.push(row.latency);
    }
  }
  const rows = [...merged.values()].map(({ row, clients: set, sketches }) => ({
    ...row,
    clients: set ? [...set].sort((a, b) => a - b) : null,
    latency: sketches.length > 0 ? mergeSketches(sketches) : null,
  }));
  return { field, rows: rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
}

/** Hosts: a row each, at most one a request, errors at most requests. */
function checkHosts(x: unknown, requests: number, spilled: number): void {
  if (!Array.isArray(x)) fail("hosts is not an array");
  let total = spilled;
  const seen = new Set<string>();
  for (const row of x as unknown[]) {
    if (!Array.isArray(row) || row.length !== 5 || typeof row[0] !== "string" || row[0].length > MAX_KEY_CHARS) fail("hosts has a bad row");
    if (seen.has(row[0])) fail(`hosts repeats ${JSON.stringify(row[0]).slice(0, 80)}`);
    seen.add(row[0]);
    const [n, c4, c5] = [1, 2, 3].map((k) => checkCount(row[k], "a count in hosts")) as [number, number, number];
    if (c4 + c5 > n) fail(`host ${JSON.stringify(row[0]).slice(0, 80)} has more errors than requests`);
    if (row[4] !== null && checkSketch(row[4], "a host's response times") > n) fail("a host has more response times than requests");
    total += n;
  }
  checkCount(total, "the sum of hosts");
  if (total > requests) fail("more host requests than requests");
}

function mergeHosts(lists: ReadonlyArray<readonly HostRow[]>): HostRow[] {
  const merged = new Map<string, HostRow>();
  for (const rows of lists) {
    for (const [host, n, c4, c5, sketch] of rows) {
      const seen = merged.get(host);
      if (!seen) {
        merged.set(host, [host, n, c4, c5, sketch]);
        continue;
      }
      seen[1] += n;
      seen[2] += c4;
      seen[3] += c5;
      seen[4] = seen[4] && sketch ? mergeSketches([seen[4], sketch]) : (seen[4] ?? sketch);
    }
  }
  return [...merged.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Response times: at most one a request, each class's sketch part of the whole. */
function checkLatency(x: unknown, requests: number, paths: readonly KeyCount[], spilledTimes: number): void {
  const l = x as Record<string, unknown> | null;
  if (typeof l !== "object" || l === null || !Array.isArray(l.byClass)) fail("latency is not an object with byClass");
  const all = checkSketch(l.all, "latency.all");
  if (all > requests) fail(`more response times (${all}) than requests (${requests})`);
  if (spilledTimes > all) fail("the spilled paths carry more response times than the partial has");
  let sum = 0;
  for (const row of l.byClass as unknown[]) {
    if (!Array.isArray(row) || row.length !== 2 || typeof row[0] !== "string" || !/^\dxx$/.test(row[0])) fail("latency.byClass has a bad row");
    sum += checkSketch(row[1], `latency.byClass ${row[0]}`);
  }
  checkEqual(sum, all, "latency by class does not sum to all");
  if (l.byPath === undefined) return;
  if (!Array.isArray(l.byPath)) fail("latency.byPath is not an array");
  const requestsOf = new Map(paths);
  const seen = new Set<string>();
  let inPaths = 0;
  for (const row of l.byPath as unknown[]) {
    if (!Array.isArray(row) || row.length !== 2 || typeof row[0] !== "string" || row[0].length > MAX_KEY_CHARS) fail("latency.byPath has a bad row");
    if (seen.has(row[0])) fail(`latency.byPath repeats ${JSON.stringify(row[0]).slice(0, 80)}`);
    seen.add(row[0]);
    const n = checkSketch(row[1], "a sketch of latency.byPath");
    if (n > (requestsOf.get(row[0]) ?? 0)) fail(`more response times than requests for the path ${JSON.stringify(row[0]).slice(0, 80)}`);
    inPaths += n;
  }
  if (inPaths + spilledTimes > all) fail("more response times by path than in all");
}

/** A sketch's shape; returns its count (throws PartialError). */
export function checkSketch(x: unknown, what: string): number {
  const s = x as Record<string, unknown> | null;
  if (typeof s !== "object" || s === null) fail(`${what} is not a sketch`);
  const count = checkCount(s.count, `${what}.count`);
  const zeros = checkCount(s.zeros, `${what}.zeros`);
  checkCount(s.sumMicros, `${what}.sumMicros`);
  if (typeof s.max !== "number" || !Number.isFinite(s.max) || s.max < 0) fail(`${what}.max is not a duration`);
  checkEqual(checkBuckets(s.buckets, what) + zeros, count, `${what}'s buckets do not sum to its count`);
  return count;
}

/**
 * A sketch's buckets: [index, values] rows with indexes in range and
 * strictly increasing (as every sketch is written: in order, none twice,
 * which one comparison a row checks instead of a set); returns their sum.
 */
function checkBuckets(x: unknown, what: string): number {
  if (!Array.isArray(x)) fail(`${what}.buckets is not an array`);
  let sum = 0;
  let last = MIN_BUCKET - 1;
  for (const row of x) {
    if (!Array.isArray(row) || row.length !== 2) fail(`${what}.buckets has a row of the wrong shape`);
    const [k, n] = row as [unknown, unknown];
    if (!Number.isSafeInteger(k)) fail(`${what}.buckets has a bad key`);
    if ((k as number) > MAX_BUCKET || (k as number) < MIN_BUCKET) fail(`${what} has a bucket out of range (${k})`);
    if ((k as number) <= last) fail(`${what}'s buckets are not in increasing order (or repeat one)`);
    last = k as number;
    sum += isCount(n) ? n : checkCount(n, `a count in ${what}.buckets`);
  }
  return checkCount(sum, `the sum of ${what}.buckets`);
}

/** Every malformed line is counted under one reason. */
function checkReasons(x: unknown, { malformed }: CheckedLines): void {
  const [sum] = checkTableRows(x, "malformedReasons", 1);
  checkEqual(sum!, malformed, "malformed reasons do not sum to the malformed lines");
  for (const [reason] of x as KeyCount[]) checkString(reason, "a malformed reason", MAX_SAMPLE_CHARS);
}

function checkTimings(x: unknown): void {
  const t = x as Record<string, unknown> | undefined;
  if (typeof t !== "object" || t === null) fail("partial has no timings");
  for (const key of ["readyAt", "startedAt", "endedAt", "pid", "maxRssKb"]) {
    if (typeof t[key] !== "number" || !Number.isFinite(t[key])) fail(`timings.${key} is not a number`);
  }
  if (t.host !== undefined) checkString(t.host, "timings.host", 255);
  if (t.attempt !== undefined) checkCount(t.attempt, "timings.attempt");
}

/** A byte-range task's partial says which bytes its lines cover: inside what the task may read. */
function checkCovered(x: unknown, task: Task): void {
  if (task.kind !== "file" && task.kind !== "segment") {
    if (x !== undefined) fail("covered is only for byte ranges");
    return;
  }
  if (!Array.isArray(x) || x.length !== 2) fail("partial of a byte range has no covered range");
  const from = checkCount(x[0], "covered[0]");
  const to = checkCount(x[1], "covered[1]");
  const limit = task.kind === "segment" ? task.end : (task.identity?.size ?? Number.MAX_SAFE_INTEGER);
  if (from > to || from < task.start || to > limit || (from < to && from >= task.end)) fail(`covered ${from}..${to} does not fit its range ${task.start}..${task.end}`);
}

/**
 * Checks that the partials of byte-range tasks of one input cover its bytes
 * end to end, each line once: ordered by start, each partial begins where the
 * one before ended, the first at 0 and the last at `size`, when known.
 */
export function checkCoverage(partials: readonly TaskPartial[], name: string, size?: number): void {
  const ranges = partials.filter((p) => p.covered).sort((a, b) => ("start" in a.task && "start" in b.task ? a.task.start - b.task.start : 0));
  let at = 0;
  for (const p of ranges) {
    const [from, to] = p.covered!;
    if (from !== at) fail(`the partials of ${name} ${from > at ? "leave out" : "count twice"} bytes ${Math.min(at, from)}..${Math.max(at, from)}`);
    at = to;
  }
  if (size !== undefined && ranges.length > 0 && at !== size) fail(`the partials of ${name} cover ${at} of its ${size} bytes`);
}

/** Bare names, as the worker writes them: nothing outside the spill directory. */
const RUN_FILE = /^[\w.-]+\.run$/;

/**
 * A partial's runs: in this run's spill directory (a partial from another
 * machine or run names files that are not here), each a known table and
 * partition with its row count and column sums. Returns the sums by table.
 */
function checkSpill(x: unknown, spillDir: string | undefined): { sums: Map<SpilledTable, number[]>; timed: number } {
  const s = x as Record<string, unknown> | null;
  if (typeof s !== "object" || s === null || typeof s.dir !== "string" || !Array.isArray(s.runs)) fail("spill is not an object with dir and runs");
  if (spillDir === undefined || s.dir !== spillDir) {
    fail(`the partial's keyed tables were spilled to ${JSON.stringify(s.dir).slice(0, 200)}, which is not this run's spill directory: a spilled partial is only valid in the run and on the machine that wrote it (run without --memory pressure, or reduce where it ran)`);
  }
  const partitions = checkCount(s.partitions, "spill.partitions");
  if (partitions < 1) fail("spill.partitions is 0");
  const sums = new Map<SpilledTable, number[]>();
  let timed = 0;
  const seen = new Set<string>();
  for (const r of s.runs as unknown[]) {
    const run = r as Record<string, unknown> | null;
    if (typeof run !== "object" || run === null || typeof run.table !== "string" || !Object.hasOwn(SPILLED_TABLES, run.table)) fail("spill has a run of an unknown table");
    const table = run.table as SpilledTable;
    const partition = checkCount(run.partition, "a run's partition");
    if (partition >= partitions) fail(`a run's partition ${partition} is not below ${partitions}`);
    if (typeof run.file !== "string" || !RUN_FILE.test(run.file)) fail("a run's file is not a bare name ending in .run");
    if (seen.has(run.file)) fail(`spill names ${run.file} twice`);
    seen.add(run.file);
    if (checkCount(run.rows, "a run's rows") === 0) fail("a run without rows");
    checkCount(run.bytes, "a run's bytes");
    const columns = SPILLED_TABLES[table];
    if (!Array.isArray(run.sums) || run.sums.length !== columns) fail(`a run of ${table} does not have ${columns} sums`);
    if (run.timed !== undefined) {
      if (!TIMED_TABLES.has(table)) fail("only paths and groups carry response times");
      const n = checkCount(run.timed, "a run's response times");
      if (table === "paths") timed = checkCount(timed + n, "the response times of the spilled paths");
    }
    const acc = sums.get(table) ?? new Array<number>(columns).fill(0);
    (run.sums as unknown[]).forEach((n, c) => (acc[c] = checkCount(acc[c]! + checkCount(n, "a run's sum"), `the sum of ${table}`)));
    sums.set(table, acc);
  }
  return { sums, timed };
}
