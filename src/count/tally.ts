// The counts of one task, fed one parsed line at a time by a parser: key
// tables, status codes, per-minute totals, malformed samples. It knows no
// log format: a parser hands it ids of keys it interned in the tables and
// the fields it read (time, status, bytes).

import { HostFilter } from "./host-filter.ts";
import { PathGrouper } from "./path-groups.ts";
import { compileWhere, parseWhere, statusVerdicts, type WhereKeys, type WherePredicate } from "./where.ts";
import { type ByField, GroupCounter } from "./by.ts";
import { type CountsPartial, type HostRow, type LatencyPartial, MAX_SAMPLES, type MalformedSample, PARTIAL_VERSION } from "../core/partial.ts";
import type { Counters, TimeWindow } from "../core/task.ts";
import { KeyTable } from "./fast/keys.ts";
import { bucketOf, KeyedSketches } from "../core/sketch-counting.ts";
import type { SketchData } from "../core/sketch.ts";
import { BACKSLASH, QUOTE } from "../core/text.ts";

/** Client counter columns. */
export const CLIENT_REQUESTS = 0;
export const CLIENT_4XX = 1;
export const CLIENT_5XX = 2;
export const CLIENT_404 = 3;
export const CLIENT_BYTES = 4;
const CLIENT_COLUMNS = 5;

/** Bytes of a malformed line kept as its sample, and how many of them before the column that broke the rules. */
const SAMPLE_BYTES = 240;
const SAMPLE_BEFORE = 100;

/** Why a line is malformed: one of a small set of reasons, where (an offset in the buffer), and what was there. */
export interface Malformed {
  reason: string;
  at: number;
  detail?: string;
}

/** Lines longer than the largest buffer: counted from their first bytes. */
export const LINE_TOO_LONG: Malformed = { reason: "line too long", at: 0 };

/** Slots of Tally.wide. */
const COUNTED_SECOND = 0; // the second of the last line counted (its minute is CURRENT_MINUTE)
const FIRST_TIME = 1;
const LAST_TIME = 2;
const CURRENT_MINUTE = 3;
const BYTES_SERVED = 4;

/** Response times a tally queues before counting them (queuedMs). */
export const LATENCY_QUEUE = 1024;
/** The class of each status (they have three digits): status / 100, rounded down. */
const CLASS_OF_STATUS = Uint8Array.from({ length: 1000 }, (_, status) => Math.floor(status / 100));

export class Tally {
  linesRead = 0;
  malformed = 0;
  /** Valid lines with and without the referer and agent fields (Combined and Common). */
  combined = 0;
  common = 0;
  /** Valid lines outside the time window. */
  outOfWindow = 0;
  /** Valid lines in the window of hosts --vhost leaves out. */
  filtered = 0;
  /** --vhost, or null; with it, whether each host id is counted (0: not known yet, 1: yes, 2: no). */
  private hostFilter: HostFilter | null = null;
  private hostVerdicts = new Uint8Array(0);
  requests = 0;
  // Numbers that are NaN, infinite or beyond int32 live in a Float64Array: a
  // field that starts as one type and turns into another makes every new
  // tally (one per task) leave the optimised code and recompile it.
  private readonly wide = new Float64Array([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0]);
  private currentMinuteCount = 0;
  private currentMinute4xx = 0;
  private currentMinute5xx = 0;
  readonly status = new Float64Array(1000);
  readonly clients = new KeyTable(CLIENT_COLUMNS);
  /**
   * One key for "METHOD PATH" (the request up to the end of the path, with a
   * 404 column) and one for the tail 'referer" "agent': fewer lookups a line.
   * Methods, paths, referrers and agents are split out of them in toCounts().
   */
  readonly requestKeys = new KeyTable(2);
  readonly tails = new KeyTable(1);
  /** Epoch minute to [requests, 4xx, 5xx]. */
  readonly minutes = new Map<number, [number, number, number]>();
  readonly malformedSamples: MalformedSample[] = [];
  /** Malformed lines by reason. */
  readonly malformedReasons = new Map<string, number>();
  /** Virtual hosts, when the format has them: [requests, 4xx, 5xx] a host, and each host's response times. */
  readonly hosts = new KeyTable(3);
  private readonly latencyByHost = new KeyedSketches();
  /**
   * Response times, when the format has them: one sketch a (path, status
   * class) pair, a line going into one; those of a class, of a path and of
   * all are merged from them at the end. By path, not by request key: the
   * methods of a path share one, so the buckets a line may touch stay few
   * enough to stay in the caches.
   */
  private readonly latencyByPair = new KeyedSketches();
  /**
   * Response times of whole milliseconds (0 <= ms < MS_LIMIT) held for
   * flushLatency: request key, status, milliseconds; the pairs they go to.
   * The fast counter's loop writes them: a tight loop over a block's lines
   * costs less than the calls a line would make (see docs/performance.md).
   */
  queued = 0;
  readonly queuedRequests = new Int32Array(LATENCY_QUEUE);
  readonly queuedStatus = new Uint16Array(LATENCY_QUEUE);
  readonly queuedMs = new Int32Array(LATENCY_QUEUE);
  private readonly queuedPairs = new Int32Array(LATENCY_QUEUE);
  /** Each pair's latencyPaths id (-1: no path, or minimal counters) and status class. */
  private pairPath = new Int32Array(64);
  private pairClass = new Uint8Array(64);
  private readonly pairIds = new Map<number, number>();
  /** The pair of (request key, class & 7), + 1 (0: not looked up yet): no map lookup a line. */
  private pairOfRequest = new Int32Array(64 * 8);
  readonly latencyPaths = new KeyTable(0);
  /** The latencyPaths id of each request key's path (-1: none, -2: not looked up yet). */
  private pathOfRequest = new Int32Array(64).fill(-2);
  readonly since: number;
  readonly until: number;
  /** False: methods, paths, referrers and agents are not reported (the key tables still serve the parser). */
  readonly full: boolean;

  constructor(window: TimeWindow = {}, counters: Counters = "full") {
    this.full = counters === "full";
    this.since = window.since ?? Number.NEGATIVE_INFINITY;
    this.until = window.until ?? Number.POSITIVE_INFINITY;
  }

  /** --where's predicate, or null; a counter asks it before counting a line, and counts a refused line in `filtered`. */
  where: WherePredicate | null = null;

  /** Counts only the lines an expression holds for (--where); the counter must then ask `where` before counting a line. */
  onlyWhere(text: string): void {
    const tree = parseWhere(text);
    this.where = compileWhere(tree, this.keyTexts());
    this.whereByStatus = statusVerdicts(tree, this.where);
  }

  /** With a --where of the status alone, its verdict a code (1: counted): a counter may read it instead of calling `where`. */
  whereByStatus: Uint8Array | null = null;

  private keyTexts(): WhereKeys {
    return {
      client: (id) => this.clients.keyOf(id),
      request: (id) => this.requestKeys.keyOf(id),
      tail: (id) => this.tails.keyOf(id),
      host: (id) => this.hosts.keyOf(id),
    };
  }

  /** --by's groups, or null; a counter hands it each line it counts, after the filters. */
  by: GroupCounter | null = null;

  groupBy(field: ByField): void {
    this.by = new GroupCounter(field, this.keyTexts(), () => this.pathGrouper);
  }

  /** How paths fold into routes when the counts are made (--group-path; the default folds without it). */
  pathGrouper = new PathGrouper();

  groupPaths(specs: readonly string[]): void {
    this.pathGrouper = new PathGrouper(specs);
  }

  /** Counts only lines of these virtual hosts (--vhost); the counter must then ask `countsHost` before counting a line. */
  onlyHosts(names: readonly string[]): void {
    this.hostFilter = new HostFilter(names);
  }

  get filtersHosts(): boolean {
    return this.hostFilter !== null;
  }

  /** With --vhost, whether lines of host id `host` (in `hosts`) are counted; a line it refuses is counted as filtered out here. */
  countsHost(host: number): boolean {
    if (host >= this.hostVerdicts.length) {
      const bigger = new Uint8Array(Math.max(64, host * 2 + 1));
      bigger.set(this.hostVerdicts);
      this.hostVerdicts = bigger;
    }
    let verdict = this.hostVerdicts[host]!;
    if (verdict === 0) this.hostVerdicts[host] = verdict = this.hostFilter!.allows(this.hosts.keyOf(host)) ? 1 : 2;
    if (verdict === 2) this.filtered++;
    return verdict === 1;
  }

  /** Counts a valid line inside the window; `tail` is -1 for a line without one (Common). */
  countRequest(time: number, status: number, bytes: number, client: number, request: number, tail: number): void {
    // Small pieces, so that the JIT inlines them into a parser's loop: one
    // body of all of them was called instead (docs/performance.md).
    this.requests++;
    this.countTime(time, bytes);
    this.status[status]!++;
    this.countClient(client, status, bytes);
    if (this.full) this.countKeys(request, status, tail);
  }

  private countTime(time: number, bytes: number): void {
    const wide = this.wide;
    wide[BYTES_SERVED]! += bytes;
    // Most lines share their second with the line before: nothing else to check.
    if (time === wide[COUNTED_SECOND]) this.currentMinuteCount++;
    else this.countNewSecond(time);
  }

  private countClient(client: number, status: number, bytes: number): void {
    const c = client * CLIENT_COLUMNS;
    const cv = this.clients.values;
    cv[c + CLIENT_REQUESTS]!++;
    cv[c + CLIENT_BYTES]! += bytes;
    if (status < 400) return;
    if (status < 500) {
      cv[c + CLIENT_4XX]!++;
      this.currentMinute4xx++;
      if (status === 404) cv[c + CLIENT_404]!++;
    } else if (status < 600) {
      cv[c + CLIENT_5XX]!++;
      this.currentMinute5xx++;
    }
  }

  private countKeys(request: number, status: number, tail: number): void {
    const r = request * 2;
    const rv = this.requestKeys.values;
    rv[r]!++;
    if (status === 404) rv[r + 1]!++;
    if (tail >= 0) this.tails.values[tail]!++;
  }

  /** A counted request's virtual host; its response time (-1: none) with the bucket countLatency gave it. */
  countHost(host: number, status: number, seconds: number, bucket: number): void {
    const r = host * 3;
    const v = this.hosts.values;
    v[r]!++;
    if (status >= 400 && status < 500) v[r + 1]!++;
    else if (status >= 500 && status < 600) v[r + 2]!++;
    if (seconds >= 0) this.latencyByHost.addIn(host, seconds, Math.round(seconds * 1e6), bucket);
  }

  /** A counted request's response time, in seconds (>= 0); returns its sketch bucket. */
  countLatency(seconds: number, status: number, request: number): number {
    return this.countLatencyIn(seconds, Math.round(seconds * 1e6), seconds > 0 ? bucketOf(seconds) : 0, status, request);
  }

  /** Counts the queued response times, in the order they came. */
  flushLatency(): void {
    const n = this.queued;
    if (n === 0) return;
    this.queued = 0;
    const requests = this.queuedRequests;
    const statuses = this.queuedStatus;
    const pairs = this.queuedPairs;
    // pairFor written out, with the class from a table (not a division a
    // line), and calling nothing: the pairs it does not know yet are made
    // after, in their order, so that new pairs get the same ids.
    const pairOfRequest = this.pairOfRequest;
    const pairClass = this.pairClass;
    let unknown = -1;
    for (let i = 0; i < n; i++) {
      const c = CLASS_OF_STATUS[statuses[i]!]!;
      const slot = requests[i]! * 8 + (c & 7);
      const pair = slot < pairOfRequest.length ? pairOfRequest[slot]! - 1 : -1;
      if (pair < 0 || pairClass[pair] !== c) {
        pairs[i] = -1;
        if (unknown < 0) unknown = i;
      } else pairs[i] = pair;
    }
    for (let i = unknown; i >= 0 && i < n; i++) if (pairs[i]! < 0) pairs[i] = this.pairFor(requests[i]!, statuses[i]!);
    this.latencyByPair.addMsMany(pairs, this.queuedMs, n);
  }

  /** countLatency with the whole microseconds and the bucket already known (a reader that has the milliseconds); returns the bucket. */
  countLatencyIn(seconds: number, micros: number, bucket: number, status: number, request: number): number {
    // In line order with the queued ones, so that pairs get the same ids either way.
    if (this.queued !== 0) this.flushLatency();
    this.latencyByPair.addIn(this.pairFor(request, status), seconds, micros, bucket);
    return bucket;
  }

  /** The (path, status class) pair of a request key's line with this status. */
  private pairFor(request: number, status: number): number {
    const c = (status / 100) | 0;
    const slot = request * 8 + (c & 7);
    const pair = slot < this.pairOfRequest.length ? this.pairOfRequest[slot]! - 1 : -1;
    return pair >= 0 && this.pairClass[pair] === c ? pair : this.pairOf(request, c, slot);
  }

  /** The (path, class) pair of a request key's line, made when new, remembered by slot (classes 8 and 9 share theirs with 0 and 1). */
  private pairOf(request: number, c: number, slot: number): number {
    let path = -1;
    if (this.full) {
      path = request < this.pathOfRequest.length ? this.pathOfRequest[request]! : -2;
      if (path === -2) path = this.pathIdOf(request);
    }
    const key = (path + 1) * 16 + c;
    let pair = this.pairIds.get(key);
    if (pair === undefined) {
      pair = this.pairIds.size;
      this.pairIds.set(key, pair);
      if (pair >= this.pairPath.length) {
        const paths = new Int32Array(pair * 2);
        paths.set(this.pairPath);
        this.pairPath = paths;
        const classes = new Uint8Array(pair * 2);
        classes.set(this.pairClass);
        this.pairClass = classes;
      }
      this.pairPath[pair] = path;
      this.pairClass[pair] = c;
      this.latencyByPair.reserveRow(pair);
    }
    if (slot >= this.pairOfRequest.length) {
      const bigger = new Int32Array(Math.max(slot + 8, this.pairOfRequest.length * 2));
      bigger.set(this.pairOfRequest);
      this.pairOfRequest = bigger;
    }
    this.pairOfRequest[slot] = pair + 1;
    return pair;
  }

  /** The path of a request key as a latencyPaths id (-1 for a request without one), remembered for the next line. */
  private pathIdOf(request: number): number {
    if (request >= this.pathOfRequest.length) {
      const bigger = new Int32Array(Math.max(request + 1, this.pathOfRequest.length * 2)).fill(-2);
      bigger.set(this.pathOfRequest);
      this.pathOfRequest = bigger;
    }
    const keys = this.requestKeys;
    const start = keys.starts[request]!;
    const end = start + keys.lengths[request]!;
    let space = start;
    while (space < end && keys.arena[space] !== 32) space++;
    const path = space < end ? this.latencyPaths.intern(keys.arena, keys.arenaView, space + 1, end) : -1;
    this.pathOfRequest[request] = path;
    return path;
  }

  /** Time bookkeeping for a counted line whose second differs from the last one counted. */
  private countNewSecond(time: number): void {
    const wide = this.wide;
    wide[COUNTED_SECOND] = time;
    if (time < wide[FIRST_TIME]!) wide[FIRST_TIME] = time;
    if (time > wide[LAST_TIME]!) wide[LAST_TIME] = time;
    const minute = Math.floor(time / 60);
    if (minute === wide[CURRENT_MINUTE]) {
      this.currentMinuteCount++;
    } else {
      this.flushMinute();
      wide[CURRENT_MINUTE] = minute;
      this.currentMinuteCount = 1;
    }
  }

  private flushMinute(): void {
    if (this.currentMinuteCount > 0) {
      const minute = this.wide[CURRENT_MINUTE]!;
      const row = this.minutes.get(minute);
      if (row) {
        row[0] += this.currentMinuteCount;
        row[1] += this.currentMinute4xx;
        row[2] += this.currentMinute5xx;
      } else {
        this.minutes.set(minute, [this.currentMinuteCount, this.currentMinute4xx, this.currentMinute5xx]);
      }
    }
    this.currentMinuteCount = 0;
    this.currentMinute4xx = 0;
    this.currentMinute5xx = 0;
  }

  /**
   * Counts the line buf[s, e) (already counted as read) as malformed, for
   * `why`; while there is room, keeps a sample of it cut around the byte
   * that broke the rules.
   */
  countMalformed(buf: Uint8Array, s: number, e: number, offset: number, why: Malformed): void {
    this.malformed++;
    this.malformedReasons.set(why.reason, (this.malformedReasons.get(why.reason) ?? 0) + 1);
    if (this.malformedSamples.length >= MAX_SAMPLES) return;
    const at = Math.min(Math.max(why.at, s), e);
    const from = Math.max(s, Math.min(at - SAMPLE_BEFORE, e - SAMPLE_BYTES));
    const to = Math.min(e, from + SAMPLE_BYTES);
    this.malformedSamples.push({
      line: this.linesRead,
      offset,
      text: binaryString(buf, from, to),
      truncated: from > s || to < e,
      reason: why.detail === undefined ? why.reason : `${why.reason}: ${why.detail}`,
      column: at - s + 1,
      textStart: from - s,
    });
  }

  /** [host, requests, 4xx, 5xx, response times or null] a host. */
  private hostRows(): HostRow[] {
    const sketches = this.latencyByHost.toData();
    const rows = (this.hosts.entries() as Array<[string, number, number, number]>).map(([host, n, c4, c5], id): HostRow => [host, n, c4, c5, sketches.get(id) ?? null]);
    // With --vhost, the hosts seen only on lines left out have no requests: not reported.
    return rows.filter((row) => row[1] > 0);
  }

  /** Response times: all, by status class, and (full counters) by path. */
  private latencyPartial(): LatencyPartial {
    const sketches = this.latencyByPair;
    const pairClass = this.pairClass;
    const pairPath = this.pairPath;
    const pairs = sketches.keyIds();
    const classes = [...new Set(pairs.map((pair) => pairClass[pair]!))].sort((a, b) => a - b);
    const classIndex = new Map(classes.map((c, i) => [c, i]));
    const [all] = sketches.sums(() => 0, 1);
    const byClass = sketches.sums((pair) => classIndex.get(pairClass[pair]!)!, classes.length);
    const partial: LatencyPartial = { all: all!, byClass: classes.map((c, i) => [`${c}xx`, byClass[i]!] as [string, SketchData]) };
    if (!this.full) return partial;
    // Routes in the order of their first path's id (first timed line first).
    const grouper = this.pathGrouper;
    const names = this.latencyPaths.entries();
    const pathIds = [...new Set(pairs.map((pair) => pairPath[pair]!).filter((path) => path >= 0))].sort((a, b) => a - b);
    const routes = new Map<string, number>();
    const routeOfPath = new Map<number, number>();
    for (const id of pathIds) {
      const route = grouper.groups ? grouper.route(names[id]![0]) : names[id]![0];
      let r = routes.get(route);
      if (r === undefined) routes.set(route, (r = routes.size));
      routeOfPath.set(id, r);
    }
    const byRoute = sketches.sums((pair) => (pairPath[pair]! >= 0 ? routeOfPath.get(pairPath[pair]!)! : -1), routes.size);
    partial.byPath = [...routes.keys()].map((route, r) => [route, byRoute[r]!] as [string, SketchData]);
    return partial;
  }

  /** Client id -> index in the partial's clients (those with a request, in id order). */
  private clientIndexes(): (id: number) => number {
    const index = new Int32Array(this.clients.size).fill(-1);
    const values = this.clients.values;
    let n = 0;
    for (let id = 0; id < this.clients.size; id++) if (values[id * CLIENT_COLUMNS + CLIENT_REQUESTS]! > 0) index[id] = n++;
    return (id) => index[id]!;
  }

  /** The counts as a partial (without task id and timings). */
  toCounts(): CountsPartial {
    this.flushMinute();
    this.flushLatency();
    const status = statusRows(this.status);
    // Split the combined keys back into their fields.
    const methods = new Map<string, number>();
    const paths = new Map<string, number>();
    const notFoundPaths = new Map<string, number>();
    const requestRows = (this.full ? this.requestKeys.entries() : []) as Array<[string, number, number]>;
    const grouper = this.pathGrouper.groups ? this.pathGrouper : null;
    // A key with no count was interned for a line --vhost then left out: not reported.
    for (const [key, count, notFound] of requestRows) {
      if (count === 0) continue;
      const space = key.indexOf(" ");
      add(methods, space < 0 ? key : key.slice(0, space), count);
      if (space < 0) continue;
      const path = grouper ? grouper.route(key.slice(space + 1)) : key.slice(space + 1);
      add(paths, path, count);
      if (notFound > 0) add(notFoundPaths, path, notFound);
    }
    const referrers = new Map<string, number>();
    const agents = new Map<string, number>();
    for (const [key, count] of (this.full ? this.tails.entries() : []) as Array<[string, number]>) {
      if (count === 0) continue;
      const refEnd = closingQuoteOf(key);
      add(referrers, key.slice(0, refEnd), count);
      add(agents, key.slice(refEnd + 3), count);
    }
    const rows = (m: Map<string, number>) => [...m];
    return {
      version: PARTIAL_VERSION,
      ...(this.full ? {} : { counters: "minimal" as const }),
      lines: {
        read: this.linesRead,
        valid: this.combined + this.common,
        malformed: this.malformed,
        combined: this.combined,
        common: this.common,
        outOfWindow: this.outOfWindow,
        filtered: this.filtered,
      },
      requests: this.requests,
      bytes: this.wide[BYTES_SERVED]!,
      status,
      clients: (this.clients.entries() as CountsPartial["clients"]).filter((c) => c[1] > 0),
      methods: rows(methods),
      paths: rows(paths),
      notFoundPaths: rows(notFoundPaths),
      referrers: rows(referrers),
      agents: rows(agents),
      minutes: [...this.minutes].map(([m, [n, c4, c5]]) => [m, n, c4, c5] as [number, number, number, number]).sort((a, b) => a[0] - b[0]),
      firstTime: this.requests > 0 ? this.wide[FIRST_TIME]! : null,
      lastTime: this.requests > 0 ? this.wide[LAST_TIME]! : null,
      malformedSamples: this.malformedSamples,
      malformedReasons: [...this.malformedReasons],
      ...(this.pairIds.size > 0 ? { latency: this.latencyPartial() } : {}),
      ...(this.hosts.size > 0 ? { hosts: this.hostRows() } : {}),
      ...(this.by !== null ? { groups: this.by.toPartial(this.clientIndexes()) } : {}),
    };
  }
}

/**
 * The codes counted, as rows. A function of its own: its 1,000-step loop,
 * run once a task, got toCounts (a big function) compiled by the optimising
 * JIT, which cost each worker more than it saved.
 */
function statusRows(counts: Float64Array): Array<[string, number]> {
  const rows: Array<[string, number]> = [];
  for (let code = 0; code < 1000; code++) {
    if (counts[code]! > 0) rows.push([String(code).padStart(3, "0"), counts[code]!]);
  }
  return rows;
}

function add(m: Map<string, number>, key: string, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

/** Index of the first unescaped '"' of a binary string (the end of the referer in a tail key). */
function closingQuoteOf(key: string): number {
  for (let k = 0; k < key.length; k++) {
    const c = key.charCodeAt(k);
    if (c === QUOTE) return k;
    if (c === BACKSLASH) k++;
  }
  return key.length;
}

function binaryString(buf: Uint8Array, s: number, e: number): string {
  let out = "";
  for (let k = s; k < e; k++) out += String.fromCharCode(buf[k]!);
  return out;
}
