// The partial: what one map task reports. The parent treats it as untrusted
// input: validatePartial checks its shape and that its counts add up before
// mergePartials (associative and commutative) folds it into the total.
//
// Keys (clients, paths, ...) are binary strings: one char per byte of the log,
// so any bytes, valid UTF-8 or not, survive JSON exactly.

export const PARTIAL_VERSION = 1;

export interface MalformedSample {
  /** 1-based line number, within the task until the parent makes it global. */
  line: number;
  /** Absolute byte offset of the line in its input. */
  offset: number;
  /** The line's first bytes, as a binary string. */
  text: string;
  truncated: boolean;
  reason?: string;
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
  /** [epoch minute, requests] */
  minutes: Array<[number, number]>;
  firstTime: number | null;
  lastTime: number | null;
  malformedSamples: MalformedSample[];
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
  timings: WorkerTimings;
}

const MAX_SAMPLES = 5;

export function emptyCounts(): CountsPartial {
  return {
    version: PARTIAL_VERSION,
    lines: { read: 0, valid: 0, malformed: 0, combined: 0, common: 0, outOfWindow: 0 },
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
  out.status = mergeRows(partials.map((p) => p.status));
  out.clients = mergeRows(partials.map((p) => p.clients));
  out.methods = mergeRows(partials.map((p) => p.methods));
  out.paths = mergeRows(partials.map((p) => p.paths));
  out.notFoundPaths = mergeRows(partials.map((p) => p.notFoundPaths));
  out.referrers = mergeRows(partials.map((p) => p.referrers));
  out.agents = mergeRows(partials.map((p) => p.agents));
  out.minutes = mergeRows(partials.map((p) => p.minutes));
  out.malformedSamples = partials.flatMap((p) => p.malformedSamples).sort(sampleOrder).slice(0, MAX_SAMPLES);
  return out;
}

/** Merges two partials' counts. */
export function mergePartials(a: CountsPartial, b: CountsPartial): CountsPartial {
  return mergeAll([a, b]);
}

// ---------------------------------------------------------------- validation

export class PartialError extends Error {}

function fail(what: string): never {
  throw new PartialError(what);
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function checkCount(x: unknown, what: string): number {
  if (!isCount(x)) fail(`${what} is not a non-negative integer`);
  return x;
}

function checkRows(x: unknown, what: string, columns: number, keyIsNumber = false): number[] {
  if (!Array.isArray(x)) fail(`${what} is not an array`);
  const sums = new Array<number>(columns).fill(0);
  const seen = new Set<string | number>();
  for (const row of x) {
    if (!Array.isArray(row) || row.length !== columns + 1) fail(`${what} has a row of the wrong shape`);
    const key = row[0];
    if (keyIsNumber ? !Number.isSafeInteger(key) : typeof key !== "string") fail(`${what} has a bad key`);
    if (seen.has(key)) fail(`${what} repeats the key ${JSON.stringify(key)}`);
    seen.add(key);
    for (let c = 0; c < columns; c++) {
      // The message is built only on failure (it was built for every cell).
      const n = row[c + 1];
      if (!isCount(n)) fail(`a count in ${what} is not a non-negative integer`);
      sums[c]! += n;
    }
  }
  return sums;
}

function checkEqual(a: number, b: number, what: string): void {
  if (a !== b) fail(`${what} (${a} vs ${b})`);
}

/**
 * Checks an untrusted partial: shape, version, and that its counts add up.
 * Returns it typed, or throws PartialError naming the first problem.
 */
export function validatePartial(x: unknown, expectedTaskId: number): TaskPartial {
  if (typeof x !== "object" || x === null || Array.isArray(x)) fail("partial is not a JSON object");
  const p = x as Record<string, unknown>;
  if (p.version !== PARTIAL_VERSION) fail(`partial version ${JSON.stringify(p.version)} is not ${PARTIAL_VERSION}`);
  if (p.taskId !== expectedTaskId) fail(`partial is for task ${JSON.stringify(p.taskId)}, expected ${expectedTaskId}`);
  const lines = p.lines as Record<string, unknown> | undefined;
  if (typeof lines !== "object" || lines === null) fail("partial has no line counts");
  const read = checkCount(lines.read, "lines.read");
  const valid = checkCount(lines.valid, "lines.valid");
  const malformed = checkCount(lines.malformed, "lines.malformed");
  const combined = checkCount(lines.combined, "lines.combined");
  const common = checkCount(lines.common, "lines.common");
  const outOfWindow = checkCount(lines.outOfWindow, "lines.outOfWindow");
  checkEqual(read, valid + malformed, "lines read != valid + malformed");
  checkEqual(valid, combined + common, "valid lines != combined + common");
  const requests = checkCount(p.requests, "requests");
  checkEqual(requests, valid - outOfWindow, "requests != valid lines in the time window");
  const bytes = checkCount(p.bytes, "bytes");
  const [statusSum] = checkRows(p.status, "status", 1);
  for (const [code] of p.status as KeyCount[]) if (!/^\d{3}$/.test(code)) fail(`status code ${JSON.stringify(code)}`);
  checkEqual(statusSum!, requests, "status counts do not sum to requests");
  const clientSums = checkRows(p.clients, "clients", 5);
  checkEqual(clientSums[0]!, requests, "client counts do not sum to requests");
  checkEqual(clientSums[4]!, bytes, "client bytes do not sum to bytes");
  const [methodSum] = checkRows(p.methods, "methods", 1);
  if (p.counters !== "minimal") checkEqual(methodSum!, requests, "method counts do not sum to requests");
  const [pathSum] = checkRows(p.paths, "paths", 1);
  if (pathSum! > requests) fail("more paths than requests");
  const [notFoundSum] = checkRows(p.notFoundPaths, "notFoundPaths", 1);
  if (notFoundSum! > pathSum!) fail("more 404 paths than paths");
  const [refSum] = checkRows(p.referrers, "referrers", 1);
  const [agentSum] = checkRows(p.agents, "agents", 1);
  checkEqual(refSum!, agentSum!, "referrer and agent counts differ");
  if (refSum! > requests) fail("more referrers than requests");
  const [minuteSum] = checkRows(p.minutes, "minutes", 1, true);
  checkEqual(minuteSum!, requests, "minute counts do not sum to requests");
  for (const key of ["firstTime", "lastTime"] as const) {
    const t = p[key];
    if (requests > 0 ? !Number.isSafeInteger(t) : t !== null) fail(`${key} is ${JSON.stringify(t)}`);
  }
  if (!Array.isArray(p.malformedSamples) || p.malformedSamples.length > MAX_SAMPLES) fail("malformedSamples");
  for (const s of p.malformedSamples as MalformedSample[]) {
    if (typeof s !== "object" || s === null || typeof s.text !== "string") fail("a malformed sample has no text");
    checkCount(s.line, "malformed sample line");
    checkCount(s.offset, "malformed sample offset");
  }
  const t = p.timings as Record<string, unknown> | undefined;
  if (typeof t !== "object" || t === null) fail("partial has no timings");
  for (const key of ["readyAt", "startedAt", "endedAt", "pid", "maxRssKb"]) {
    if (typeof t[key] !== "number" || !Number.isFinite(t[key])) fail(`timings.${key} is not a number`);
  }
  return p as unknown as TaskPartial;
}
