// The CSV export, read back with a CSV library (csv-parse): each section is
// the --json list it names, row for row and field for field.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { csvCell } from "../src/report/csv.ts";
import { cli, fixture } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "logmr-csv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("csvCell", () => {
  test.each([
    ["plain text", "GET", "GET"],
    ["a number as JSON writes it", 0.1 + 0.2, "0.30000000000000004"],
    ["an integer", 1816, "1816"],
    ["null", null, ""],
    ["a comma", "a,b", `"a,b"`],
    ["a quote", `say "hi"`, `"say ""hi"""`],
    ["control bytes", "a\x00b\x1b[31m\x7f", "a\\x00b\\x1B[31m\\x7F"],
    ["a leading space", " x", `" x"`],
    ["a formula", "=HYPERLINK(\"http://x\")", `"'=HYPERLINK(""http://x"")"`],
    ["a plus", "+1", "'+1"],
    ["an at", "@SUM(A1)", "'@SUM(A1)"],
    ["a minus before more", "-2+3", "'-2+3"],
    ["a lone minus (no referrer)", "-", "-"],
    ["a tab first (escaped, so no formula)", "\tx", "\\x09x"],
    ["a date", "2026-11-27T21:14:00Z", "2026-11-27T21:14:00Z"],
  ] as const)("%s", (_what, value, expected) => {
    expect(csvCell(value)).toBe(expected);
  });
});

/** The --json lists each section of the CSV holds. */
const SECTIONS: Record<string, (d: any) => object[] | null | undefined> = {
  status: (d) => d.status,
  classes: (d) => d.classes,
  "timeline.buckets": (d) => d.timeline.buckets,
  topClients: (d) => d.topClients,
  suspicious: (d) => d.suspicious,
  methods: (d) => d.methods,
  topPaths: (d) => d.topPaths,
  topNotFoundPaths: (d) => d.topNotFoundPaths,
  topReferrers: (d) => d.topReferrers,
  topAgents: (d) => d.topAgents,
  topHosts: (d) => d.topHosts,
  "latency.all": (d) => (d.latency ? [d.latency.all] : null),
  "latency.byClass": (d) => d.latency?.byClass,
  "latency.byPath": (d) => d.latency?.byPath,
  "latency.slowestPaths": (d) => d.latency?.slowestPaths,
  "groups.rows": (d) => d.groups?.rows,
  malformedReasons: (d) => d.malformedReasons,
  malformedSamples: (d) => d.malformedSamples,
};

/** A JSON value as the text a spreadsheet should see (the formula guard undone by the reader). */
function expectedCells(row: object, prefix = "", into: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(row)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) expectedCells(v, `${prefix}${k}.`, into);
    else into[prefix + k] = v === null ? "" : controlsEscaped(Array.isArray(v) ? v.join("; ") : String(v));
  }
  return into;
}
const controlsEscaped = (s: string) => [...s].map((c) => {
  const code = c.codePointAt(0)!;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\x${code.toString(16).toUpperCase().padStart(2, "0")}` : c;
}).join("");
const unguarded = (cell: string) => (/^'[=+@-]/.test(cell) ? cell.slice(1) : cell);

describe.each([
  ["the nginx fixture", [fixture("nginx-access.log"), "--top", "25"]],
  ["response times and hosts", [fixture("apache-vhost-timed.log")]],
  ["malformed lines", [fixture("mixed-garbage.log"), "--max-malformed", "100"]],
  ["a split by status", [fixture("nginx-timed.log"), "--format", "nginx-timed", "--by", "status"]],
  ["generated traffic", ["--lines", "20000", "--seed", "3"]],
] as const)("CSV of %s", (_what, args) => {
  test("parsed back, every section equals its --json list", async () => {
    const file = join(dir, `${args.join("_").replace(/\W/g, "")}.csv`);
    const r = await cli([...args, "--csv", file, "--json"]);
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout).data;
    const rows: Array<Record<string, string>> = parse(readFileSync(file, "utf8"), { columns: true });
    const bySection = Map.groupBy(rows, (row) => row.section!);
    const expectedSections = ["totals", ...Object.keys(SECTIONS).filter((s) => SECTIONS[s]!(data) != null)];
    expect([...bySection.keys()]).toEqual(expectedSections.filter((s) => s === "totals" || SECTIONS[s]!(data)!.length > 0));
    for (const [section, list] of Object.entries(SECTIONS)) {
      const expected = (list(data) ?? []).map((row) => expectedCells(row));
      // A row's empty cells are the other sections' columns, unless its JSON has the field.
      const got = (bySection.get(section) ?? []).map((row, i) => {
        const cells: Record<string, string> = {};
        for (const [k, v] of Object.entries(row)) if (k !== "section" && (v !== "" || k in (expected[i] ?? {}))) cells[k] = unguarded(v);
        return cells;
      });
      expect({ section, rows: got }).toEqual({ section, rows: expected });
    }
    const totals = bySection.get("totals")![0]!;
    expect(Number(totals.requests)).toBe(data.requests);
    expect(Number(totals["lines.malformed"])).toBe(data.lines.malformed);
    expect(Number(totals["errorRates.server5xx"])).toBe(data.errorRates.server5xx);
  });
});
