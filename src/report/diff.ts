// diff: two reports side by side (saved with --json, or two windows of the
// same logs): the change in totals, error rates and response times, and the
// movers of every top list. Pure: the CLI reads the files or runs the windows.

import { LogmrError } from "../core/errors.ts";
import { humanBytes, int, percent, printable, REPORT_SCHEMA_VERSION, type ReportData, table } from "./report.ts";

export const DIFF_SCHEMA_VERSION = 1;

export class DiffError extends LogmrError {}

/** A report document as --json writes it, checked enough to compare: the schema this engine writes, and the fields diff reads. */
export function readReport(text: string, name: string): ReportData {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DiffError(`${name} is not JSON (a report saved with --json)`);
  }
  const d = doc as { schema?: unknown; data?: Record<string, unknown> } | null;
  if (typeof d !== "object" || d === null || !("schema" in d) || typeof d.data !== "object" || d.data === null) {
    throw new DiffError(`${name} is not a report saved with --json (no schema and data)`);
  }
  if (d.schema !== REPORT_SCHEMA_VERSION) {
    throw new DiffError(`${name} is report schema ${JSON.stringify(d.schema)}, this engine reads ${REPORT_SCHEMA_VERSION}: make both reports with the same engine version`);
  }
  const data = d.data;
  for (const key of ["requests", "bytes", "uniqueClients", "top"]) {
    if (typeof data[key] !== "number") throw new DiffError(`${name}: data.${key} is not a number`);
  }
  for (const key of ["topClients", "topPaths", "topNotFoundPaths", "topReferrers", "topAgents", "methods", "classes", "status"]) {
    if (!Array.isArray(data[key])) throw new DiffError(`${name}: data.${key} is not a list`);
  }
  return data as unknown as ReportData;
}

/** One figure in both reports. `change`: B - A (percentage points for rates); `ratio`: B / A (null when A is 0 or a figure is missing). */
export interface FigureChange {
  name: string;
  kind: "count" | "bytes" | "rate" | "seconds";
  a: number | null;
  b: number | null;
  change: number | null;
  ratio: number | null;
}

export type MoverKind = "new" | "gone" | "up" | "down" | "entered top" | "left top";

/**
 * A key of a top list that moved. Shares are of each report's own total, so
 * two periods of different lengths compare. A count is null where the key is
 * below the other report's top list (`below`: the largest it can be).
 */
export interface Mover {
  key: string;
  kind: MoverKind;
  a: number | null;
  b: number | null;
  aShare: number | null;
  bShare: number | null;
  /** B's share - A's share, when both are known. */
  shareChange: number | null;
  /** B's count / A's count, when both are known and A's is not 0. */
  ratio: number | null;
  /** For a key below one report's top: at most this many there (that list's smallest count), and that as a share. */
  below?: number;
  belowShare?: number;
}

export interface DiffData {
  a: Side;
  b: Side;
  totals: FigureChange[];
  latency: FigureChange[];
  classes: FigureChange[];
  /** Movers of each top list both reports have, largest share change first. */
  lists: Array<{ list: string; movers: Mover[] }>;
}

interface Side {
  label: string;
  firstTime: string | null;
  lastTime: string | null;
  where: string | null;
  vhosts: string[] | null;
  window: ReportData["window"];
}

function figure(name: string, kind: FigureChange["kind"], a: number | null, b: number | null): FigureChange {
  return {
    name, kind, a, b,
    change: a === null || b === null ? null : b - a,
    ratio: a === null || b === null || a === 0 ? null : b / a,
  };
}

interface Row {
  key: string;
  count: number;
}

/** The lists diff compares: name, rows (key and count), and the total their shares are of. */
function listsOf(r: ReportData): Array<[string, Row[], number]> {
  const notFound = r.status.filter((s) => s.code === 404).reduce((a, s) => a + s.count, 0);
  const combined = r.topReferrers.reduce((a, x) => a + x.count, 0);
  const lists: Array<[string, Row[], number]> = [
    ["clients", r.topClients.map((c) => ({ key: c.client, count: c.requests })), r.requests],
    ["paths", r.topPaths, r.requests],
    ["paths answered 404", r.topNotFoundPaths, notFound],
    ["methods", r.methods, r.requests],
    ["referrers", r.topReferrers, r.topReferrers.length > 0 && r.topReferrers[0]!.share > 0 ? r.topReferrers[0]!.count / r.topReferrers[0]!.share : combined],
    ["user agents", r.topAgents, r.topAgents.length > 0 && r.topAgents[0]!.share > 0 ? r.topAgents[0]!.count / r.topAgents[0]!.share : combined],
  ];
  if (r.topHosts) lists.push(["hosts", r.topHosts.map((h) => ({ key: h.host, count: h.requests })), r.requests]);
  if (r.groups) lists.push([`by ${r.groups.field}`, r.groups.rows.map((g) => ({ key: g.key, count: g.requests })), r.requests]);
  return lists;
}

/**
 * The movers between two top lists. A list shorter than its report's --top
 * holds every key, so a key missing from it is absent (new, gone); from a
 * full list it may only be below the cut (entered top, left top).
 */
export function movers(a: readonly Row[], aTotal: number, aTop: number, b: readonly Row[], bTotal: number, bTop: number): Mover[] {
  const aCount = new Map(a.map((r) => [r.key, r.count]));
  const bCount = new Map(b.map((r) => [r.key, r.count]));
  const aComplete = a.length < aTop;
  const bComplete = b.length < bTop;
  const aMin = a.reduce((m, r) => Math.min(m, r.count), Number.POSITIVE_INFINITY);
  const bMin = b.reduce((m, r) => Math.min(m, r.count), Number.POSITIVE_INFINITY);
  const share = (n: number | null, total: number) => (n === null ? null : total > 0 ? n / total : 0);
  const out: Mover[] = [];
  for (const key of new Set([...aCount.keys(), ...bCount.keys()])) {
    let x: number | null = aCount.get(key) ?? null;
    let y: number | null = bCount.get(key) ?? null;
    let kind: MoverKind;
    let below: number | undefined;
    if (x === null) {
      if (aComplete) [x, kind] = [0, "new"];
      else [kind, below] = ["entered top", aMin];
    } else if (y === null) {
      if (bComplete) [y, kind] = [0, "gone"];
      else [kind, below] = ["left top", bMin];
    } else {
      const change = share(y, bTotal)! - share(x, aTotal)!;
      if (change === 0) continue;
      kind = change > 0 ? "up" : "down";
    }
    const aShare = share(x, aTotal);
    const bShare = share(y, bTotal);
    out.push({
      key, kind, a: x, b: y, aShare, bShare,
      shareChange: aShare === null || bShare === null ? null : bShare - aShare,
      ratio: x === null || y === null || x === 0 ? null : y / x,
      ...(below !== undefined ? { below, belowShare: share(below, x === null ? aTotal : bTotal)! } : {}),
    });
  }
  // Largest share change first (for a key below a top, the least it changed), then by key.
  // Rounded, so that changes equal but for floating-point noise tie.
  const weight = (m: Mover) => Math.round(Math.abs(m.shareChange ?? leastChange(m)) * 1e12);
  return out.sort((m, n) => weight(n) - weight(m) || (m.key < n.key ? -1 : m.key > n.key ? 1 : 0));
}

/** The smallest share change a key below one top list can have made. */
export function leastChange(m: Mover): number {
  if (m.kind === "entered top") return Math.max(0, m.bShare! - m.belowShare!);
  if (m.kind === "left top") return Math.min(0, m.belowShare! - m.aShare!);
  return m.shareChange ?? 0;
}

/** Requests a minute over the span of a report's requests (null without two seconds of it). */
function perMinute(r: ReportData): number | null {
  if (r.firstTime === null || r.lastTime === null) return null;
  const seconds = (Date.parse(r.lastTime) - Date.parse(r.firstTime)) / 1000 + 1;
  return seconds >= 2 ? (r.requests * 60) / seconds : null;
}

export function diffReports(a: ReportData, b: ReportData, labels: [string, string], top: number): DiffData {
  const side = (r: ReportData, label: string): Side => ({ label, firstTime: r.firstTime, lastTime: r.lastTime, where: r.where, vhosts: r.vhosts, window: r.window });
  const totals = [
    figure("requests", "count", a.requests, b.requests),
    figure("requests a minute", "count", perMinute(a), perMinute(b)),
    figure("bytes served", "bytes", a.bytes, b.bytes),
    figure("unique clients", "count", a.uniqueClients, b.uniqueClients),
    figure("malformed lines", "count", a.lines.malformed, b.lines.malformed),
    figure("5xx rate", "rate", a.errorRates.server5xx, b.errorRates.server5xx),
    figure("500 rate", "rate", a.errorRates.server500, b.errorRates.server500),
    figure("4xx rate", "rate", a.errorRates.client4xx, b.errorRates.client4xx),
  ];
  const latency: FigureChange[] = [];
  if (a.latency || b.latency) {
    for (const q of ["p50", "p90", "p95", "p99", "mean", "max"] as const) latency.push(figure(`${q} response time`, "seconds", a.latency?.all[q] ?? null, b.latency?.all[q] ?? null));
    const classes = [...new Set([...(a.latency?.byClass ?? []), ...(b.latency?.byClass ?? [])].map((c) => c.class))].sort();
    for (const c of classes) {
      const of = (r: ReportData) => r.latency?.byClass.find((x) => x.class === c)?.p95 ?? null;
      latency.push(figure(`${c} p95`, "seconds", of(a), of(b)));
    }
  }
  const classNames = [...new Set([...a.classes, ...b.classes].map((c) => c.class))].sort();
  const shareOf = (r: ReportData, c: string) => r.classes.find((x) => x.class === c)?.share ?? 0;
  const classes = classNames.map((c) => figure(`${c} share`, "rate", shareOf(a, c), shareOf(b, c)));
  const bLists = new Map(listsOf(b).map(([name, rows, total]) => [name, { rows, total }]));
  const lists: DiffData["lists"] = [];
  for (const [name, rows, total] of listsOf(a)) {
    const other = bLists.get(name);
    if (!other) continue;
    lists.push({ list: name, movers: movers(rows, total, a.top, other.rows, other.total, b.top).slice(0, top) });
  }
  return { a: side(a, labels[0]), b: side(b, labels[1]), totals, latency, classes, lists };
}

// ------------------------------------------------------------------ rendering

function value(kind: FigureChange["kind"], x: number | null): string {
  if (x === null) return "-";
  if (kind === "rate") return percent(x);
  if (kind === "bytes") return humanBytes(x);
  if (kind === "seconds") return x >= 1 ? `${x.toFixed(2)} s` : `${(x * 1000).toPrecision(3)} ms`;
  return int(x);
}

function changeText(f: FigureChange): string {
  if (f.change === null) return "-";
  if (f.kind === "rate") return `${f.change >= 0 ? "+" : ""}${(f.change * 100).toFixed(2)} pp`;
  if (f.ratio === null) return f.change === 0 ? "=" : "new";
  const pct = (f.ratio - 1) * 100;
  return `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`;
}

const pp = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)} pp`;

export function renderDiff(d: DiffData): string {
  const window = (s: Side) => (s.window.since || s.window.until ? `  window ${s.window.since ?? "start"} .. ${s.window.until ?? "end"}` : "");
  const span = (s: Side) => `${s.label}${window(s)}${s.firstTime ? `  (requests ${s.firstTime} .. ${s.lastTime})` : "  (no requests)"}${s.where ? `  where ${s.where}` : ""}${s.vhosts ? `  vhost ${s.vhosts.join(",")}` : ""}`;
  const figures = (rows: FigureChange[]) => table([["", "A", "B", "change"], ...rows.map((f) => [f.name, value(f.kind, f.a), value(f.kind, f.b), changeText(f)])], [false, true, true, true]);
  const out = ["Comparing two reports", `  A  ${printable(span(d.a))}`, `  B  ${printable(span(d.b))}`, "", "Totals", figures(d.totals), "", "Status classes (share of requests)", figures(d.classes)];
  if (d.latency.length > 0) out.push("", "Response times", figures(d.latency));
  for (const { list, movers } of d.lists) {
    out.push("", `Movers: ${list} (share of each report's own total)`);
    if (movers.length === 0) {
      out.push("  (no change)");
      continue;
    }
    const count = (n: number | null, below?: number) => (n === null ? `<= ${int(below ?? 0)}` : int(n));
    const shareText = (x: number | null, m: Mover) => (x === null ? `<= ${percent(m.belowShare ?? 0)}` : percent(x));
    const change = (m: Mover) => (m.shareChange !== null ? pp(m.shareChange) : m.kind === "entered top" ? `>= ${pp(leastChange(m))}` : `<= ${pp(leastChange(m))}`);
    out.push(
      table(
        [
          ["", "A", "B", "share A", "share B", "change", ""],
          ...movers.map((m) => [
            m.kind, count(m.a, m.kind === "entered top" ? m.below : undefined), count(m.b, m.kind === "left top" ? m.below : undefined),
            shareText(m.aShare, m), shareText(m.bShare, m), change(m),
            printable(m.key.length > 60 ? `${m.key.slice(0, 59)}…` : m.key),
          ]),
        ],
        [false, true, true, true, true, true, false],
      ),
    );
  }
  return `${out.join("\n")}\n`;
}

export function renderDiffJson(d: DiffData): string {
  return `${JSON.stringify({ schema: DIFF_SCHEMA_VERSION, diff: d }, null, 2)}\n`;
}
