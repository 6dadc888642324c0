/**
 * The report as one CSV table for spreadsheets: a row per entry of every list
 * of the --json data, its `section` the list's path there (`topClients`,
 * `latency.byPath`, ...), its columns the entries' fields (nested ones as
 * `a.b`, lists joined with "; "). `totals` is one row of the scalar figures.
 */
import type { ReportData } from "./report.ts";

type Cell = string | number | boolean | null;
export type CsvRow = Record<string, Cell>;

/** The sections, in the order of the terminal report, each with its rows. */
export function csvSections(data: ReportData): Array<{ section: string; rows: CsvRow[] }> {
  const totals: CsvRow = {
    requests: data.requests,
    bytes: data.bytes,
    uniqueClients: data.uniqueClients,
    firstTime: data.firstTime,
    lastTime: data.lastTime,
    ...flatten({ lines: data.lines, errorRates: data.errorRates }),
  };
  const lists: Array<[string, readonly object[] | undefined]> = [
    ["status", data.status],
    ["classes", data.classes],
    ["timeline.buckets", data.timeline.buckets],
    ["topClients", data.topClients],
    ["suspicious", data.suspicious],
    ["methods", data.methods],
    ["topPaths", data.topPaths],
    ["topNotFoundPaths", data.topNotFoundPaths],
    ["topReferrers", data.topReferrers],
    ["topAgents", data.topAgents],
    ["topHosts", data.topHosts ?? undefined],
    ["latency.all", data.latency ? [data.latency.all] : undefined],
    ["latency.byClass", data.latency?.byClass],
    ["latency.byPath", data.latency?.byPath],
    ["latency.slowestPaths", data.latency?.slowestPaths],
    ["groups.rows", data.groups?.rows],
    ["malformedReasons", data.malformedReasons],
    ["malformedSamples", data.malformedSamples],
  ];
  return [
    { section: "totals", rows: [totals] },
    ...lists.filter((l): l is [string, readonly object[]] => l[1] !== undefined).map(([section, rows]) => ({ section, rows: rows.map((r) => flatten(r)) })),
  ];
}

/** Nested objects as dotted keys, lists as one "; "-joined cell. */
function flatten(value: object, prefix = "", into: CsvRow = {}): CsvRow {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix + k;
    if (Array.isArray(v)) into[key] = v.join("; ");
    else if (v !== null && typeof v === "object") flatten(v, `${key}.`, into);
    else into[key] = v as Cell;
  }
  return into;
}

/** The CSV text (RFC 4180, CRLF line ends): a header of every column any section has, then the rows. */
export function renderCsv(data: ReportData): string {
  const sections = csvSections(data);
  const columns = ["section"];
  const seen = new Set(columns);
  for (const { rows } of sections) {
    for (const row of rows) {
      for (const k of Object.keys(row)) {
        if (!seen.has(k)) (seen.add(k), columns.push(k));
      }
    }
  }
  const lines = [columns.map(csvCell).join(",")];
  for (const { section, rows } of sections) {
    for (const row of rows) lines.push(columns.map((c) => (c === "section" ? csvCell(section) : csvCell(row[c] ?? null))).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

// A spreadsheet runs a cell that starts with one of these as a formula; a log's
// path or agent is written by whoever sent the request.
const FORMULA_START = /^[=+@]|^-./s;

// Control bytes of a log line as \xHH, as the terminal and the page show them (a NUL breaks most CSV readers).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const hex = (c: string) => `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;

/** One cell: a number as JSON writes it, null empty, text quoted when it must be, kept from being a formula, control bytes as \xHH. */
export function csvCell(value: Cell): string {
  if (value === null) return "";
  if (typeof value !== "string") return String(value);
  const text = (FORMULA_START.test(value) ? `'${value}` : value).replace(CONTROL, hex);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
