import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { leastChange, movers, type Mover } from "../src/report/diff.ts";
import { cli, cliJson, fixture } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "logmr-diff-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pick = (m: Mover) => [m.key, m.kind, m.a, m.b, m.below ?? null];

describe("movers between two top lists", () => {
  test("complete lists (shorter than --top): new and gone are certain, shares of each own total", () => {
    // A: 100 requests, B: 200. x: 10% -> 10% (no change, left out); y: 20% -> 30% (up); z: 30% -> 0 (gone); w: new at 5%.
    const a = [{ key: "z", count: 30 }, { key: "y", count: 20 }, { key: "x", count: 10 }];
    const b = [{ key: "y", count: 60 }, { key: "x", count: 20 }, { key: "w", count: 10 }];
    const m = movers(a, 100, 10, b, 200, 10);
    expect(m.map(pick)).toEqual([["z", "gone", 30, 0, null], ["y", "up", 20, 60, null], ["w", "new", 0, 10, null]]);
    expect(m[0]!.shareChange).toBeCloseTo(-0.3, 12);
    expect(m[1]!.shareChange).toBeCloseTo(0.1, 12);
    expect(m[1]!.ratio).toBe(3);
    expect(m[2]!.shareChange).toBeCloseTo(0.05, 12);
    expect(m[2]!.ratio).toBeNull();
  });

  test("full lists: a key missing from one may be below its cut, counted at most its smallest row", () => {
    // Both lists hold exactly --top 2 rows.
    const a = [{ key: "p", count: 50 }, { key: "q", count: 40 }];
    const b = [{ key: "q", count: 80 }, { key: "r", count: 70 }];
    const m = movers(a, 100, 2, b, 200, 2);
    // q: 40% in both, not a mover. p: 50% in A, at most 35% in B: down by at least 15 pp.
    // r: 35% in B, at most 40% in A: up by at least 0. The surer change first.
    expect(m.map(pick)).toEqual([["p", "left top", 50, null, 70], ["r", "entered top", null, 70, 40]]);
    expect(m[0]!.belowShare).toBeCloseTo(0.35, 12);
    expect(leastChange(m[0]!)).toBeCloseTo(-0.15, 12);
    expect(m[1]!.belowShare).toBeCloseTo(0.4, 12);
    expect(leastChange(m[1]!)).toBe(0);
  });

  test("equal shares are not movers; ties go by key", () => {
    const m = movers([{ key: "b", count: 1 }, { key: "a", count: 1 }, { key: "c", count: 2 }], 4, 10, [{ key: "a", count: 2 }, { key: "b", count: 2 }, { key: "c", count: 4 }], 8, 10);
    expect(m).toEqual([]);
    const n = movers([{ key: "b", count: 1 }, { key: "a", count: 1 }], 2, 10, [], 0, 10);
    expect(n.map((x) => x.key)).toEqual(["a", "b"]);
  });
});

const line = (client: string, path: string, status: number, minute: number) =>
  `${client} - - [03/Dec/2026:10:${String(minute).padStart(2, "0")}:00 +0000] "GET ${path} HTTP/1.1" ${status} 100 "-" "UA"\n`;

describe("diff of two saved reports, hand-counted", () => {
  // Before: 10 requests over minutes 0..9; after: 20 over 10..29, the deploy broke /api.
  const before = [
    ...Array.from({ length: 6 }, (_, k) => line("10.0.0.1", "/", 200, k)),
    ...Array.from({ length: 3 }, (_, k) => line("10.0.0.2", "/api/x", 200, 6 + k)),
    line("10.0.0.3", "/old", 404, 9),
  ].join("");
  const after = [
    ...Array.from({ length: 8 }, (_, k) => line("10.0.0.1", "/", 200, 10 + k)),
    ...Array.from({ length: 10 }, (_, k) => line("10.0.0.2", "/api/x", 502, 18 + k)),
    line("10.0.0.4", "/new", 200, 28),
    line("10.0.0.4", "/new", 200, 29),
  ].join("");
  const a = join(dir, "before.log");
  const b = join(dir, "after.log");
  writeFileSync(a, before);
  writeFileSync(b, after);
  writeFileSync(join(dir, "both.log"), before + after);

  test("totals, rates and movers", async () => {
    const ra = await cli([a, "--json", "--quiet"]);
    const rb = await cli([b, "--json", "--quiet"]);
    writeFileSync(join(dir, "a.json"), ra.stdout);
    writeFileSync(join(dir, "b.json"), rb.stdout);
    const doc = await cliJson(["diff", join(dir, "a.json"), join(dir, "b.json")]);
    const d = doc.diff;
    const fig = (name: string) => d.totals.find((f: { name: string }) => f.name === name);
    expect(fig("requests")).toMatchObject({ a: 10, b: 20, change: 10, ratio: 2 });
    // 10 requests over 9 minutes and 1 second of log, 20 over 19 minutes 1 second.
    expect(fig("requests a minute").a).toBeCloseTo((10 * 60) / 541, 9);
    expect(fig("requests a minute").b).toBeCloseTo((20 * 60) / 1141, 9);
    expect(fig("unique clients")).toMatchObject({ a: 3, b: 3 });
    expect(fig("5xx rate").a).toBe(0);
    expect(fig("5xx rate").b).toBeCloseTo(0.5, 12);
    expect(fig("4xx rate").a).toBeCloseTo(0.1, 12);
    expect(fig("4xx rate").change).toBeCloseTo(-0.1, 12);
    const paths = d.lists.find((l: { list: string }) => l.list === "paths").movers.map(pick);
    // Shares: / 60% -> 40%, /api/x 30% -> 50%, /old 10% -> gone, /new new at 10%.
    expect(paths).toEqual([["/", "down", 6, 8, null], ["/api/x", "up", 3, 10, null], ["/new", "new", 0, 2, null], ["/old", "gone", 1, 0, null]]);
    const clients = d.lists.find((l: { list: string }) => l.list === "clients").movers.map(pick);
    expect(clients).toEqual([["10.0.0.1", "down", 6, 8, null], ["10.0.0.2", "up", 3, 10, null], ["10.0.0.3", "gone", 1, 0, null], ["10.0.0.4", "new", 0, 2, null]]);
    const classes = Object.fromEntries(d.classes.map((f: { name: string; a: number; b: number }) => [f.name, [f.a, f.b]]));
    expect(classes).toEqual({ "2xx share": [0.9, 0.5], "4xx share": [0.1, 0], "5xx share": [0, 0.5] });
  });

  test("the terminal form names both sides and shows each list", async () => {
    const r = await cli(["diff", join(dir, "a.json"), join(dir, "b.json")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`A  ${join(dir, "a.json")}`);
    expect(r.stdout).toMatch(/\n  5xx rate +0\.00% +50\.00% +\+50\.00 pp\n/);
    expect(r.stdout).toMatch(/\n  new +0 +2 +0\.00% +10\.00% +\+10\.00 pp +\/new\n/);
  });

  test("two windows of the same logs equal the diff of the two reports", async () => {
    const windowed = await cliJson(["diff", join(dir, "both.log"), "--baseline-until", "2026-12-03T10:10:00Z", "--since", "2026-12-03T10:10:00Z", "--quiet"]);
    const saved = await cliJson(["diff", join(dir, "a.json"), join(dir, "b.json")]);
    expect(windowed.diff.totals).toEqual(saved.diff.totals);
    expect(windowed.diff.lists).toEqual(saved.diff.lists);
    expect(windowed.diff.a.window).toEqual({ since: null, until: "2026-12-03T10:10:00Z" });
  });

  const refused: Array<[string, () => string[], number, string]> = [
    ["an older report schema", () => { writeFileSync(join(dir, "old.json"), '{"schema":1,"engine":"0","data":{}}'); return [join(dir, "old.json"), join(dir, "a.json")]; }, 1, "is report schema 1, this engine reads 2"],
    ["not JSON", () => { writeFileSync(join(dir, "x.json"), "not json"); return [join(dir, "x.json"), join(dir, "a.json")]; }, 1, "is not JSON"],
    ["JSON that is no report", () => { writeFileSync(join(dir, "y.json"), '{"rows":[]}'); return [join(dir, "a.json"), join(dir, "y.json")]; }, 1, "is not a report saved with --json"],
    ["a missing file", () => [join(dir, "a.json"), join(dir, "nope.json")], 1, "cannot read"],
    ["one report", () => [join(dir, "a.json")], 2, "diff needs two reports"],
    ["a run flag with saved reports", () => [join(dir, "a.json"), join(dir, "b.json"), "--where", "status = 200"], 2, "--where applies to diff over logs"],
    ["windows the wrong way round", () => [a, "--baseline-since", "2026-12-03T11:00:00Z", "--baseline-until", "2026-12-03T10:00:00Z"], 2, "--baseline-since must be before --baseline-until"],
  ];
  test.each(refused)("%s: one line, exit %i", async (_, args, code, message) => {
    const r = await cli(["diff", ...args()]);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(message);
  });
});

test("a report against itself: every figure the same, response times included, and no mover", async () => {
  const r = await cli([fixture("nginx-timed.log"), "--format", "nginx-timed", "--json", "--quiet"]);
  writeFileSync(join(dir, "t.json"), r.stdout);
  const d = (await cliJson(["diff", join(dir, "t.json"), join(dir, "t.json")])).diff;
  expect(d.latency.map((f: { name: string }) => f.name)).toEqual(["p50 response time", "p90 response time", "p95 response time", "p99 response time", "mean response time", "max response time", "2xx p95", "3xx p95", "4xx p95", "5xx p95"]);
  const p95 = d.latency.find((f: { name: string }) => f.name === "p95 response time");
  expect(Math.abs(p95.a - 0.222)).toBeLessThanOrEqual(0.222 * 0.01);
  for (const f of [...d.totals, ...d.latency, ...d.classes]) expect([f.name, f.change]).toEqual([f.name, 0]);
  expect(d.lists.length).toBeGreaterThan(5);
  for (const l of d.lists) expect([l.list, l.movers]).toEqual([l.list, []]);
});
