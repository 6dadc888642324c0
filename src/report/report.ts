// Reduce output: turn the merged counts into metrics (buildReport, pure) and
// render them for people (renderReport) or machines (renderJson).

import type { KeyedSummary, RankedTable } from "../shuffle/combine.ts";
import type { ShuffleInfo } from "../shuffle/shuffle.ts";
import { binaryToBytes } from "../core/partial.ts";
import { LogmrError } from "../core/errors.ts";
import { isoTime, monthIndexOf, monthStart, WEEK_OFFSET_SECONDS } from "../core/calendar.ts";
import type { CountsPartial, GroupRow, GroupsPartial, HostRow, KeyCount, LatencyPartial, LineCounts, MalformedSample } from "../core/partial.ts";
import { KEY_ORDER_FIELDS, TIME_FIELDS } from "../count/by-fields.ts";
import { findSuspicious, type SuspiciousClient } from "./suspicious.ts";
import type { InputFormat } from "../core/codecs.ts";
import { quantile, type SketchData } from "../core/sketch.ts";

/** 2: timeline.bucketMinutes may be null (months), pathGrouping, groups and top added. */
export const REPORT_SCHEMA_VERSION = 2;

export type InputSummary =
  | { kind: "generated"; seed: number; lines: number; startEpoch: number; linesPerSecond: number }
  | { kind: "files"; files: Array<{ path: string; format: InputFormat; bytes: number | null }> };


export interface Ranked {
  key: string;
  count: number;
  share: number;
}
export interface ClientSummary {
  client: string;
  requests: number;
  share: number;
  errors4xx: number;
  errors5xx: number;
  notFound404: number;
  bytes: number;
}
/** A malformed sample for people: the input by name, the text decoded, and where the column falls in it (a character index). */
export type MalformedLine = Omit<MalformedSample, "input" | "textStart"> & { input: string; markAt?: number };

export interface ReportData {
  input: InputSummary;
  window: { since: string | null; until: string | null };
  /** --vhost: the virtual hosts counted, or null for all. */
  vhosts: string[] | null;
  /** --where: the expression lines had to match, or null. */
  where: string | null;
  /** How paths were folded into routes (--group-path): the user's templates, tried first, then the default folds or not. */
  pathGrouping: { patterns: string[]; defaultFolds: boolean };
  lines: LineCounts;
  /** The length of the top lists asked for (--top): a list shorter than it holds every key. */
  top: number;
  requests: number;
  bytes: number;
  uniqueClients: number;
  status: Array<{ code: number; count: number; share: number }>;
  classes: Array<{ class: string; count: number; share: number }>;
  errorRates: { server500: number; server5xx: number; client4xx: number };
  topClients: ClientSummary[];
  suspicious: SuspiciousClient[];
  methods: Ranked[];
  topPaths: Ranked[];
  topNotFoundPaths: Ranked[];
  topReferrers: Ranked[];
  topAgents: Ranked[];
  /** Requests over time, with their 4xx and 5xx; bucketMinutes is null for calendar months. */
  timeline: { unit: string; bucketMinutes: number | null; buckets: TimelineBucketRow[] };
  firstTime: string | null;
  lastTime: string | null;
  malformedSamples: MalformedLine[];
  /** Inputs left out (--skip-unreadable), each with why. */
  skippedInputs: string[];
  /** Virtual hosts (formats that write them), most requests first: requests, share, 4xx+5xx share, p95 response time (null without times). */
  topHosts: Array<{ host: string; requests: number; share: number; errorRate: number; p95: number | null }> | null;
  /** Response times (formats that write them), in seconds: all requests that had one, and by status class. */
  latency: {
    all: LatencySummary;
    byClass: Array<LatencySummary & { class: string }>;
    /** The top paths (by requests) that had times, in topPaths' order. */
    byPath: Array<LatencySummary & { path: string }>;
    /** Slowest first by p95, of the paths with at least `slowPathMinRequests` times. */
    slowestPaths: Array<LatencySummary & { path: string }>;
    slowPathMinRequests: number;
  } | null;
  /** --by: every metric split by one field; times, codes and classes all and in key order, other fields the top by requests. */
  groups: {
    field: string;
    /** Distinct values of the field among the counted requests. */
    count: number;
    rows: GroupSummary[];
  } | null;
  /** Malformed lines by reason, most frequent first; share of the malformed lines. */
  malformedReasons: Array<{ reason: string; count: number; share: number }>;
}

export interface TimelineBucketRow {
  start: string;
  count: number;
  errors4xx: number;
  errors5xx: number;
}
type MinuteRow = readonly [number, number, number, number];

export interface GroupSummary {
  key: string;
  requests: number;
  share: number;
  bytes: number;
  /** Distinct clients (null when split by client). */
  uniqueClients: number | null;
  classes: { "1xx": number; "2xx": number; "3xx": number; "4xx": number; "5xx": number; other: number };
  errorRate4xx: number;
  errorRate5xx: number;
  /** Response times, when the format has them. */
  latency: LatencySummary | null;
}

export interface LatencySummary {
  count: number;
  mean: number;
  max: number;
  /** Within RELATIVE_ERROR (1%) of the exact quantile. */
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}

export { SLOW_PATH_MIN_REQUESTS } from "../core/sketch.ts";
import { SLOW_PATH_MIN_REQUESTS } from "../core/sketch.ts";

function latencyReport(latency: LatencyPartial, paths: readonly KeyCount[], top: number): NonNullable<ReportData["latency"]> {
  const byPath = new Map(latency.byPath ?? []);
  const perPath = ([path, s]: readonly [string, SketchData]) => ({ path: keyText(path), ...latencySummary(s) });
  const slowest = [...byPath]
    .filter(([, s]) => s.count >= SLOW_PATH_MIN_REQUESTS)
    .map((row) => ({ row, p95: quantile(row[1], 0.95)! }))
    .sort((a, b) => b.p95 - a.p95 || (a.row[0] < b.row[0] ? -1 : a.row[0] > b.row[0] ? 1 : 0))
    .slice(0, top)
    .map(({ row }) => perPath(row));
  return {
    all: latencySummary(latency.all),
    byClass: latency.byClass.map(([c, s]) => ({ class: c, ...latencySummary(s) })),
    byPath: [...paths]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, top)
      .flatMap(([path]) => {
        const s = byPath.get(path);
        return s ? [perPath([path, s])] : [];
      }),
    slowestPaths: slowest,
    slowPathMinRequests: SLOW_PATH_MIN_REQUESTS,
  };
}

/** `reduced`: the groups a spilled run's reducers picked (already the report's rows), and how many there are. */
function groupsReport(groups: GroupsPartial, requests: number, top: number, reduced?: { count: number; rows: GroupRow[] }): NonNullable<ReportData["groups"]> {
  const rows = reduced
    ? reduced.rows
    : KEY_ORDER_FIELDS.has(groups.field)
      ? groups.rows
      : [...groups.rows].sort((a, b) => b.requests - a.requests || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).slice(0, top);
  return {
    field: groups.field,
    count: reduced ? reduced.count : groups.rows.length,
    rows: rows.map((r) => {
      const [c1, c2, c3, c4, c5, other] = r.classes;
      return {
        key: keyText(r.key), requests: r.requests, share: share(r.requests, requests), bytes: r.bytes,
        uniqueClients: r.distinctClients !== undefined ? r.distinctClients : r.clients ? r.clients.length : null,
        classes: { "1xx": c1, "2xx": c2, "3xx": c3, "4xx": c4, "5xx": c5, other },
        errorRate4xx: share(c4, r.requests), errorRate5xx: share(c5, r.requests),
        latency: r.latency ? latencySummary(r.latency) : null,
      };
    }),
  };
}

function latencySummary(s: SketchData): LatencySummary {
  return {
    count: s.count, mean: s.count > 0 ? s.sumMicros / 1e6 / s.count : 0, max: s.max,
    p50: quantile(s, 0.5) ?? 0, p90: quantile(s, 0.9) ?? 0, p95: quantile(s, 0.95) ?? 0, p99: quantile(s, 0.99) ?? 0,
  };
}

export interface WorkerTiming {
  pid: number;
  tasks: number;
  spawnMs: number;
  mapMs: number;
  maxRssMb: number;
  /** With --hosts: where it ran. */
  host?: string;
}
export interface RunInfo {
  engineVersion: string;
  bunVersion: string;
  cpuModel: string;
  cores: number;
  platform: string;
  /** The machine the parent ran on, and when the run began (UTC, to the second). */
  hostname: string;
  startedAt: string;
  workers: number;
  /** The worker count came from the size of the work (no --workers given). */
  autoWorkers: boolean;
  tasks: number;
  wallMs: number;
  spawnMs: { min: number; median: number; max: number };
  mapMs: { min: number; median: number; max: number };
  reduceMs: number;
  linesPerSecond: number;
  /** Sum of worker busy time over wall time: how many cores were kept busy. */
  utilisation: number;
  parentMaxRssMb: number;
  /** Tasks that failed at least once and were run again. */
  retries: Array<{ task: string; failedAttempts: number; causes: string[]; costMs: number }>;
  workerTimings: WorkerTiming[];
  /** --state: the bytes this run mapped and those whose counts came from the state file. */
  state?: { file: string; bytesMapped: number; bytesFromState: number; partialsFromState: number; bypassed: boolean };
  /** --memory: the budget, and when the keyed tables went to disk, how (see shuffle/shuffle.ts). */
  memory?: { budgetMb: number; spilled: boolean } & Partial<ShuffleInfo>;
}

const utf8 = new TextDecoder();

/** A key as text: bytes decoded as UTF-8 (invalid bytes become U+FFFD). */
export function keyText(binary: string): string {
  return utf8.decode(binaryToBytes(binary));
}

/** Safe for a terminal: control characters shown as \xHH. */
export function printable(text: string): string {
  // biome-ignore lint: control characters are exactly what is matched here
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);
}

/** Count descending, then key ascending (byte order): the stated tie-break of every top list. */
export function rankRows(rows: readonly KeyCount[], top: number, total: number): Ranked[] {
  return [...rows]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, top)
    .map(([key, count]) => ({ key: keyText(key), count, share: total > 0 ? count / total : 0 }));
}

const share = (n: number, total: number) => (total > 0 ? n / total : 0);

/** Bucket widths in minutes, with their names: the timeline takes the finest that gives at most MAX_BUCKETS. */
const BUCKETS: ReadonlyArray<readonly [number, string]> = [
  [1, "minute"], [5, "5 minutes"], [15, "15 minutes"], [60, "hour"], [360, "6 hours"], [1440, "day"], [10080, "week"],
  [43200, "30 days"], [525600, "365 days"], [5256000, "3650 days"], [52560000, "36500 days"], [525600000, "365000 days"],
];
export const MAX_BUCKETS = 60;
/** The buckets --bucket may ask for (UTC; weeks start on Monday, months are calendar months). */
export const TIMELINE_BUCKETS = ["minute", "hour", "day", "week", "month"] as const;
export type TimelineBucket = (typeof TIMELINE_BUCKETS)[number];
const BUCKET_MINUTES: Record<Exclude<TimelineBucket, "month">, number> = { minute: 1, hour: 60, day: 1440, week: 10080 };
/** Most buckets a --bucket timeline may have (gaps included): beyond, the timeline would not be read. */
export const MAX_ASKED_BUCKETS = 100_000;

export class TimelineError extends LogmrError {}

/**
 * Requests over time, gaps filled with 0. Without `bucket`, however far apart
 * the first and last requests, at most about 60 bars; with it, that bucket.
 */
export function timeline(minutes: ReadonlyArray<MinuteRow>, bucket?: TimelineBucket): ReportData["timeline"] {
  if (minutes.length === 0) return { unit: bucket ?? "minute", bucketMinutes: bucket === "month" ? null : bucket ? BUCKET_MINUTES[bucket] : 1, buckets: [] };
  const first = minutes[0]![0];
  const last = minutes[minutes.length - 1]![0];
  if (bucket === "month") {
    const monthOf = (minute: number) => monthIndexOf(minute * 60);
    return { unit: "month", bucketMinutes: null, buckets: fillBuckets(minutes, "month", monthOf, (k) => isoTime(monthStart(k))) };
  }
  let width: number;
  let unit: string;
  if (bucket) [width, unit] = [BUCKET_MINUTES[bucket], bucket];
  else {
    const fits = ([w]: readonly [number, string]) => Math.floor(last / w) - Math.floor(first / w) + 1 <= MAX_BUCKETS;
    [width, unit] = BUCKETS.find(fits) ?? BUCKETS[BUCKETS.length - 1]!;
  }
  const offset = width === 10080 ? WEEK_OFFSET_SECONDS / 60 : 0;
  const indexOf = (minute: number) => Math.floor((minute - offset) / width);
  return { unit, bucketMinutes: width, buckets: fillBuckets(minutes, bucket, indexOf, (k) => isoTime((k * width + offset) * 60)) };
}

/** The minutes summed into buckets by index, gaps filled with 0 (the minutes are in order). */
function fillBuckets(minutes: ReadonlyArray<MinuteRow>, asked: TimelineBucket | undefined, indexOf: (minute: number) => number, startOf: (k: number) => string): TimelineBucketRow[] {
  const start = indexOf(minutes[0]![0]);
  const n = indexOf(minutes[minutes.length - 1]![0]) - start + 1;
  if (asked && n > MAX_ASKED_BUCKETS) throw tooManyBuckets(asked, n);
  const buckets = Array.from({ length: n }, (_, k) => ({ start: startOf(start + k), count: 0, errors4xx: 0, errors5xx: 0 }));
  for (const [minute, c, c4, c5] of minutes) {
    const b = buckets[indexOf(minute) - start]!;
    b.count += c;
    b.errors4xx += c4;
    b.errors5xx += c5;
  }
  return buckets;
}

function tooManyBuckets(bucket: TimelineBucket, n: number): TimelineError {
  return new TimelineError(`--bucket ${bucket} makes ${n.toLocaleString("en-US")} buckets over this log's span, more than ${MAX_ASKED_BUCKETS.toLocaleString("en-US")}: take a longer bucket, or narrow the span with --since/--until`);
}

export { isoTime };

export function buildReport(
  counts: CountsPartial,
  options: {
    input: InputSummary; inputNames: readonly string[]; top: number; since?: number; until?: number;
    hosts?: readonly string[]; where?: string; skipped?: readonly string[]; bucket?: TimelineBucket; pathGroups?: readonly string[];
    /** A run that spilled: the keyed tables' top lists, distinct counts and suspicious clients, from the reducers. */
    keyed?: KeyedSummary;
  },
): ReportData {
  const keyed = options.keyed;
  const { requests, top } = { requests: counts.requests, top: options.top };
  const status = counts.status
    .map(([code, count]) => ({ code: Number(code), count, share: share(count, requests) }))
    .sort((a, b) => a.code - b.code);
  const classCounts = new Map<string, number>();
  for (const s of status) {
    const cls = `${Math.floor(s.code / 100)}xx`;
    classCounts.set(cls, (classCounts.get(cls) ?? 0) + s.count);
  }
  const count = (pred: (code: number) => boolean) => status.filter((s) => pred(s.code)).reduce((a, s) => a + s.count, 0);
  const clientRows = keyed?.clients?.top ?? counts.clients;
  const clients: ClientSummary[] = clientRows.map(([client, requests, errors4xx, errors5xx, notFound404, bytes]) => ({
    client: keyText(client),
    requests,
    share: share(requests, counts.requests),
    errors4xx,
    errors5xx,
    notFound404,
    bytes,
  }));
  // Same tie-break as every top list: count descending, then the key's bytes.
  const topClients = clientRows
    .map((c, k) => [c, clients[k]!] as const)
    .sort(([a], [b]) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, top)
    .map(([, summary]) => summary);
  const suspicious = keyed?.clients?.suspicious ?? findSuspicious(clients.map((c) => ({ client: c.client, requests: c.requests, errors: c.errors4xx + c.errors5xx })));
  const rowsOf = (table: RankedTable) => keyed?.tables[table]?.top ?? counts[table];
  const combinedRequests = keyed?.tables.referrers?.total ?? counts.referrers.reduce((a, r) => a + r[1], 0);
  return {
    input: options.input,
    window: {
      since: options.since === undefined ? null : isoTime(options.since),
      until: options.until === undefined ? null : isoTime(options.until),
    },
    vhosts: options.hosts ? [...options.hosts] : null,
    where: options.where ?? null,
    pathGrouping: { patterns: (options.pathGroups ?? []).filter((g) => g !== "none"), defaultFolds: !(options.pathGroups ?? []).includes("none") },
    lines: counts.lines,
    top,
    requests,
    bytes: counts.bytes,
    uniqueClients: keyed?.clients?.distinct ?? clients.length,
    status,
    classes: [...classCounts].sort().map(([cls, n]) => ({ class: cls, count: n, share: share(n, requests) })),
    errorRates: {
      server500: share(count((c) => c === 500), requests),
      server5xx: share(count((c) => c >= 500 && c < 600), requests),
      client4xx: share(count((c) => c >= 400 && c < 500), requests),
    },
    topClients,
    suspicious,
    methods: rankRows(counts.methods, top, requests), // not all: garbage requests can make millions of "methods"
    topPaths: rankRows(rowsOf("paths"), top, requests),
    topNotFoundPaths: rankRows(rowsOf("notFoundPaths"), top, count((c) => c === 404)),
    topReferrers: rankRows(rowsOf("referrers"), top, combinedRequests),
    topAgents: rankRows(rowsOf("agents"), top, combinedRequests),
    timeline: timeline(counts.minutes, options.bucket),
    firstTime: counts.firstTime === null ? null : isoTime(counts.firstTime),
    lastTime: counts.lastTime === null ? null : isoTime(counts.lastTime),
    malformedSamples: counts.malformedSamples.map((s) => malformedLine(s, options.inputNames)),
    skippedInputs: [...(options.skipped ?? [])],
    topHosts: counts.hosts ? topHosts(keyed?.hosts ?? counts.hosts, counts.requests, options.top) : null,
    latency: counts.latency ? latencyReport(keyed?.pathTimes ? { ...counts.latency, byPath: keyed.pathTimes } : counts.latency, rowsOf("paths"), top) : null,
    groups: counts.groups ? groupsReport(counts.groups, requests, top, keyed?.groups) : null,
    malformedReasons: [...counts.malformedReasons]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([reason, n]) => ({ reason, count: n, share: counts.lines.malformed > 0 ? n / counts.lines.malformed : 0 })),
  };
}

function malformedLine(s: MalformedSample, inputNames: readonly string[]): MalformedLine {
  return {
    input: inputNames[s.input ?? 0] ?? "?",
    line: s.line,
    offset: s.offset,
    text: keyText(s.text),
    truncated: s.truncated,
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.column !== undefined ? { column: s.column, markAt: keyText(s.text.slice(0, Math.max(0, s.column - 1 - (s.textStart ?? 0)))).length } : {}),
  };
}

function topHosts(hosts: readonly HostRow[], requests: number, top: number): NonNullable<ReportData["topHosts"]> {
  return [...hosts]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, top)
    .map(([host, n, c4, c5, sketch]) => ({
      host: keyText(host), requests: n, share: requests > 0 ? n / requests : 0,
      errorRate: n > 0 ? (c4 + c5) / n : 0, p95: sketch ? quantile(sketch, 0.95) : null,
    }));
}

// ------------------------------------------------------------------ rendering

export interface Style {
  color: boolean;
  /** Terminal width for bars. */
  width: number;
}

const ansi = (code: number) => (on: boolean, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = ansi(1);
const dim = ansi(2);
const red = ansi(31);
const green = ansi(32);
const yellow = ansi(33);
const cyan = ansi(36);

export const int = (n: number) => Math.round(n).toLocaleString("en-US");
export const percent = (x: number, digits = 2) => `${(x * 100).toFixed(digits)}%`;
export const ms = (x: number) => (x >= 10000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x < 10 ? 2 : 1)} ms`);

export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Aligns rows into columns; `right` marks right-aligned (numeric) columns. */
export function table(rows: string[][], right: boolean[], indent = "  "): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, c) => (widths[c] = Math.max(widths[c] ?? 0, visible(cell))));
  return rows
    .map((row) =>
      indent +
      row
        .map((cell, c) => {
          const pad = " ".repeat(widths[c]! - visible(cell));
          return right[c] ? pad + cell : c === row.length - 1 ? cell : cell + pad;
        })
        .join("  "),
    )
    .join("\n");
}

export function bar(value: number, max: number, width: number): string {
  if (max <= 0 || width <= 0) return "";
  const eighths = Math.round((value / max) * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = eighths % 8;
  return "█".repeat(full) + (partial > 0 ? "▏▎▍▌▋▊▉"[7 - partial] ?? "" : "");
}

function clip(text: string, max: number): string {
  const t = printable(text);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function section(style: Style, title: string): string {
  return `\n${bold(style.color, title)}`;
}

function rankedTable(rows: Ranked[], keyWidth: number): string {
  if (rows.length === 0) return "  (none)";
  return table(
    rows.map((r) => [int(r.count), percent(r.share, 1), clip(r.key, keyWidth)]),
    [true, true, false],
  );
}

export function renderReport(data: ReportData, run: RunInfo | null, style: Style): string {
  const barWidth = Math.max(10, Math.min(50, style.width - 40));
  const out = [
    ...headerSection(data, run, style),
    ...totalsSection(data, style),
    ...statusSection(data, style, barWidth),
    ...clientsSection(data, style),
    ...latencySection(data, style),
    ...hostsSection(data, style),
    ...groupsSection(data, style),
    ...rankedSections(data, style),
    ...timelineSection(data, style, barWidth),
    ...malformedSection(data, style),
    ...(run ? [...retriesSection(run, style), ...timingSection(run, style)] : []),
  ];
  return `${out.join("\n")}\n`;
}

function headerSection(data: ReportData, run: RunInfo | null, style: Style): string[] {
  const conf: string[][] = [];
  if (data.input.kind === "generated") {
    conf.push(["input", `generated traffic, ${int(data.input.lines)} lines, seed ${data.input.seed}`]);
  } else {
    const files = data.input.files;
    conf.push(["input", files.length === 0 ? "partials (reduce without --plan)" : files.length === 1 ? files[0]!.path : `${files.length} inputs`]);
    if (files.length > 1) for (const f of files.slice(0, 8)) conf.push(["", `${f.path}${f.format !== "plain" && f.format !== "stdin" ? ` (${f.format})` : ""}`]);
    if (files.length > 8) conf.push(["", `... and ${files.length - 8} more`]);
  }
  for (const s of data.skippedInputs) conf.push(["skipped", s]);
  if (data.vhosts) conf.push(["hosts", data.vhosts.join(", ")]);
  if (data.where) conf.push(["where", data.where]);
  const grouping = data.pathGrouping;
  if (grouping.patterns.length > 0 || (grouping.defaultFolds && data.topPaths.some((p) => /\/:(id|uuid|hash)(\/|$)/.test(p.key)))) {
    const how = [...grouping.patterns, ...(grouping.defaultFolds ? ["ids, UUIDs and hashes folded"] : [])].join(", ");
    conf.push(["paths", `by route: ${how} (--group-path none: as logged)`]);
  }
  if (data.window.since || data.window.until) {
    conf.push(["time window", `${data.window.since ?? "start"} <= t < ${data.window.until ?? "end"}`]);
  }
  if (run) {
    const fewer = run.autoWorkers && run.workers < run.cores ? "; more would not pay for this little work (--workers N to choose)" : "";
    conf.push(["workers", `${run.workers} (${run.tasks} task${run.tasks === 1 ? "" : "s"}) on ${run.cores} cores${fewer}`]);
    if (run.state) {
      const st = run.state;
      conf.push(["state", st.bypassed ? `${st.file}: not used (other settings), every byte read` : `${st.file}: ${int(st.bytesMapped)} bytes read now, ${int(st.bytesFromState)} counted by earlier runs`]);
    }
    conf.push(["runtime", `Bun ${run.bunVersion}, engine ${run.engineVersion}, ${run.platform}`]);
    conf.push(["cpu", run.cpuModel]);
  }
  return [bold(style.color, "Access log report"), table(conf, [false, false])];
}

function totalsSection(data: ReportData, style: Style): string[] {
  const c = style.color;
  const l = data.lines;
  const totals: string[][] = [
    ["lines read", int(l.read)],
    ["valid", `${int(l.valid)}  (${int(l.combined)} combined, ${int(l.common)} common)`],
    ["malformed", l.malformed > 0 ? yellow(c, int(l.malformed)) : "0"],
  ];
  if (l.outOfWindow > 0) totals.push(["outside window", int(l.outOfWindow)]);
  if (data.vhosts || data.where) totals.push(["filtered out", `${int(l.filtered)}  (not counted: ${[data.vhosts ? "--vhost" : "", data.where ? "--where" : ""].filter(Boolean).join(", ")})`]);
  totals.push(
    ["requests", bold(c, int(data.requests))],
    ["unique clients", int(data.uniqueClients)],
    ["bytes served", `${int(data.bytes)}  (${humanBytes(data.bytes)})`],
    ["first request", data.firstTime ?? "-"],
    ["last request", data.lastTime ?? "-"],
    ["server errors", `${percent(data.errorRates.server500)} answered 500, ${percent(data.errorRates.server5xx)} 5xx`],
    ["client errors", `${percent(data.errorRates.client4xx)} 4xx`],
  );
  return [section(style, "Totals"), table(totals, [false, false])];
}

function statusSection(data: ReportData, style: Style, barWidth: number): string[] {
  const c = style.color;
  const maxStatus = Math.max(...data.status.map((s) => s.count), 0);
  const colorFor = (code: number) => (code >= 500 ? red : code >= 400 ? yellow : code >= 300 ? cyan : green);
  return [
    section(style, "Status codes"),
    table(
      data.status.map((s) => [colorFor(s.code)(c, String(s.code)), int(s.count), percent(s.share), colorFor(s.code)(c, bar(s.count, maxStatus, barWidth))]),
      [false, true, true, false],
    ),
    table(data.classes.map((k) => [k.class, int(k.count), percent(k.share)]), [false, true, true]),
  ];
}

function clientsSection(data: ReportData, style: Style): string[] {
  const c = style.color;
  const out = [
    section(style, `Top ${data.topClients.length} clients`),
    table(
      [
        ["client", "requests", "share", "4xx", "5xx", "404", "bytes"].map((h) => dim(c, h)),
        ...data.topClients.map((t) => [clip(t.client, 40), int(t.requests), percent(t.share), int(t.errors4xx), int(t.errors5xx), int(t.notFound404), humanBytes(t.bytes)]),
      ],
      [false, true, true, true, true, true, true],
    ),
    section(style, "Suspicious clients"),
    dim(c, "  rule: error ratio (4xx+5xx) a robust-z outlier (>= 3.5) and at least the median client's volume"),
  ];
  if (data.suspicious.length === 0) out.push("  none");
  const shown = data.suspicious.slice(0, Math.max(data.topClients.length, 10));
  for (const s of shown) {
    out.push(`  ${red(c, clip(s.client, 40))}  ${int(s.requests)} requests`);
    for (const r of s.reasons) out.push(`      ${r}`);
  }
  if (data.suspicious.length > shown.length) out.push(`  ... and ${int(data.suspicious.length - shown.length)} more (all of them in --json)`);
  return out;
}

function latencySection(data: ReportData, style: Style): string[] {
  if (!data.latency) return [];
  const c = style.color;
  const row = (name: string, l: LatencySummary) => [name, int(l.count), seconds(l.mean), seconds(l.p50), seconds(l.p90), seconds(l.p95), seconds(l.p99), seconds(l.max)];
  return [
    section(style, "Response time (p50 .. p99 within 1%)"),
    table(
      [
        ["", "requests", "mean", "p50", "p90", "p95", "p99", "max"].map((h) => dim(c, h)),
        row("all", data.latency.all),
        ...data.latency.byClass.map((l) => row(l.class, l)),
      ],
      [false, true, true, true, true, true, true, true],
    ),
    ...pathLatencyTable(style, "Response time of the top paths", data.latency.byPath),
    ...pathLatencyTable(style, `Slowest paths by p95 (of those with at least ${data.latency.slowPathMinRequests} timed requests)`, data.latency.slowestPaths),
  ];
}

function pathLatencyTable(style: Style, title: string, rows: ReadonlyArray<LatencySummary & { path: string }>): string[] {
  if (rows.length === 0) return [];
  const c = style.color;
  return [
    section(style, title),
    table(
      [
        ["path", "requests", "mean", "p50", "p95", "p99", "max"].map((h) => dim(c, h)),
        ...rows.map((l) => [clip(l.path, 60), int(l.count), seconds(l.mean), seconds(l.p50), seconds(l.p95), seconds(l.p99), seconds(l.max)]),
      ],
      [false, true, true, true, true, true, true],
    ),
  ];
}

function groupsSection(data: ReportData, style: Style): string[] {
  const g = data.groups;
  if (!g) return [];
  const timed = g.rows.some((r) => r.latency !== null);
  const clients = g.field !== "client";
  const title = TIME_FIELDS.has(g.field) ? `By ${g.field} (UTC)` : KEY_ORDER_FIELDS.has(g.field) ? `By ${g.field}` : `By ${g.field}: top ${g.rows.length} of ${int(g.count)}`;
  const label = (key: string) => (key === "" ? "(none)" : g.field === "hour" ? key.slice(0, 16).replace("T", " ") : key);
  const head = ["", "requests", "share", "4xx", "5xx", ...(clients ? ["clients"] : []), "bytes", ...(timed ? ["p50", "p95", "p99"] : [])];
  const time = (r: GroupSummary, q: "p50" | "p95" | "p99") => (r.latency ? seconds(r.latency[q]) : "-");
  return [
    section(style, title),
    g.rows.length === 0
      ? "  (none)"
      : table(
          [
            head.map((h) => dim(style.color, h)),
            ...g.rows.map((r) => [
              clip(label(r.key), 50), int(r.requests), percent(r.share), percent(r.errorRate4xx), percent(r.errorRate5xx),
              ...(clients ? [int(r.uniqueClients ?? 0)] : []), humanBytes(r.bytes), ...(timed ? [time(r, "p50"), time(r, "p95"), time(r, "p99")] : []),
            ]),
          ],
          [false, ...head.slice(1).map(() => true)],
        ),
  ];
}

function hostsSection(data: ReportData, style: Style): string[] {
  if (!data.topHosts) return [];
  return [
    section(style, `Top ${data.topHosts.length} hosts`),
    table(
      [
        ["host", "requests", "share", "errors", "p95"].map((h) => dim(style.color, h)),
        ...data.topHosts.map((h) => [clip(h.host, 50), int(h.requests), percent(h.share), percent(h.errorRate), h.p95 === null ? "-" : seconds(h.p95)]),
      ],
      [false, true, true, true, true],
    ),
  ];
}

function seconds(s: number): string {
  return s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(s >= 0.01 ? 0 : 1)} ms`;
}

function rankedSections(data: ReportData, style: Style): string[] {
  const lists: Array<[string, Ranked[], number]> = [
    ["methods", data.methods, 40],
    ["paths", data.topPaths, 70],
    ["paths answered 404", data.topNotFoundPaths, 70],
    ["referrers", data.topReferrers, 70],
    ["user agents", data.topAgents, 90],
  ];
  return lists.flatMap(([name, rows, width]) => [section(style, `Top ${rows.length} ${name}`), rankedTable(rows, width)]);
}

function timelineSection(data: ReportData, style: Style, barWidth: number): string[] {
  const buckets = data.timeline.buckets;
  const maxBucket = buckets.reduce((m, b) => Math.max(m, b.count), 0);
  const minutes = data.timeline.bucketMinutes;
  const label = (iso: string) => (minutes === null ? iso.slice(0, 7) : minutes >= 1440 ? iso.slice(0, 10) : iso.slice(0, 16).replace("T", " "));
  const rows: string[][] = [];
  // A long --bucket timeline shows its empty stretches as one row each (--json keeps every bucket).
  const fold = buckets.length > MAX_BUCKETS;
  for (let k = 0; k < buckets.length; k++) {
    let end = k;
    while (fold && end < buckets.length && buckets[end]!.count === 0) end++;
    if (end - k >= 3) {
      rows.push([label(buckets[k]!.start), "0", `(${int(end - k)} empty ${data.timeline.unit}s, to ${label(buckets[end - 1]!.start)})`]);
      k = end - 1;
      continue;
    }
    const b = buckets[k]!;
    rows.push([label(b.start), int(b.count), cyan(style.color, bar(b.count, maxBucket, barWidth))]);
  }
  return [section(style, `Requests per ${data.timeline.unit} (UTC)`), buckets.length === 0 ? "  (none)" : table(rows, [false, true, false])];
}

function malformedSection(data: ReportData, style: Style): string[] {
  if (data.lines.malformed === 0) return [];
  const out = [section(style, `Malformed lines: ${int(data.lines.malformed)} (${percent(data.lines.malformed / Math.max(1, data.lines.read))} of the lines read)`)];
  out.push(table(data.malformedReasons.slice(0, 10).map((r) => [int(r.count), percent(r.share), r.reason]), [true, true, false]));
  for (const m of data.malformedSamples) out.push(...malformedSample(m, style));
  return out;
}

/** A sample line with the column that broke the rules marked under it. */
function malformedSample(m: MalformedLine, style: Style): string[] {
  const where = m.line > 0 ? `${m.input}:${m.line}` : `${m.input} byte ${m.offset}`;
  const head = `  ${dim(style.color, where)}${m.column !== undefined ? ` column ${m.column}` : ""}${m.reason ? `: ${m.reason}` : ""}`;
  const width = Math.max(40, style.width - 6);
  // A window of the sample around the mark, so the end of a long line shows when that is where it broke.
  const mark = m.markAt ?? 0;
  const from = Math.max(0, Math.min(mark - (width >> 1), m.text.length - width));
  const cutBefore = from > 0 || (m.column !== undefined && m.column > mark + 1);
  const shown = clip(m.text.slice(from), width);
  const lines = [head, `      ${cutBefore ? "…" : ""}${shown}${m.truncated && from + width >= m.text.length ? "…" : ""}`];
  if (m.markAt !== undefined) {
    const pad = (cutBefore ? 1 : 0) + printable(m.text.slice(from, mark)).length;
    if (pad < width) lines.push(`      ${" ".repeat(pad)}${yellow(style.color, "^")}`);
  }
  return lines;
}

function retriesSection(run: RunInfo, style: Style): string[] {
  if (run.retries.length === 0) return [];
  const out = [section(style, "Retries")];
  for (const r of run.retries) {
    out.push(`  ${yellow(style.color, r.task)}: ${r.failedAttempts} failed attempt${r.failedAttempts === 1 ? "" : "s"}, ${ms(r.costMs)} lost`);
    for (const cause of r.causes) out.push(`      ${cause}`);
  }
  return out;
}

function memoryLine(m: NonNullable<RunInfo["memory"]>): string {
  const budget = `budget ${humanBytes(m.budgetMb * 2 ** 20)}`;
  if (!m.spilled) return `${budget}, nothing spilled (every keyed table in memory)`;
  return `${budget}, spilled ${humanBytes(m.bytes ?? 0)} (${int(m.spilledTasks ?? 0)} task${m.spilledTasks === 1 ? "" : "s"}, ${int(m.runs ?? 0)} sorted runs), reduced in ${int(m.partitions ?? 0)} partitions`;
}

function timingSection(run: RunInfo, style: Style): string[] {
  return [
    section(style, "Timing"),
    table(
      [
        ["wall time", ms(run.wallMs)],
        ["spawn", `${ms(run.spawnMs.median)} median (${ms(run.spawnMs.min)} .. ${ms(run.spawnMs.max)})`],
        ["map per worker", `${ms(run.mapMs.median)} median (${ms(run.mapMs.min)} .. ${ms(run.mapMs.max)})`],
        ["reduce", ms(run.reduceMs)],
        ["throughput", `${int(run.linesPerSecond)} lines/s`],
        ["utilisation", `${run.utilisation.toFixed(2)} of ${run.workers} workers busy (${percent(run.utilisation / run.workers, 0)})`],
        ...(run.memory ? [["memory", memoryLine(run.memory)]] : []),
      ],
      [false, false],
    ),
    table(
      [
        ["worker pid", "tasks", "spawn", "map", "peak memory"].map((h) => dim(style.color, h)),
        ...run.workerTimings.map((w) => [`${w.pid}${w.host ? ` on ${w.host}` : ""}`, String(w.tasks), ms(w.spawnMs), ms(w.mapMs), `${w.maxRssMb.toFixed(1)} MB`]),
        ...(run.memory?.reducers ?? []).map((r) => [`${r.pid} reducer`, `part ${r.partition}`, "", ms(r.ms), `${r.maxRssMb.toFixed(1)} MB`]),
        ["parent", "", "", "", `${run.parentMaxRssMb.toFixed(1)} MB`],
      ],
      [false, true, true, true, true],
    ),
  ];
}

export function renderJson(data: ReportData, run: RunInfo | null): string {
  return `${JSON.stringify({ schema: REPORT_SCHEMA_VERSION, engine: run?.engineVersion ?? null, data, run }, null, 2)}\n`;
}
