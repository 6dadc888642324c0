import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binary, oracleLine, oracleRoute, type OracleLine } from "./oracle.ts";
import { cli, cliJson, fixture } from "./helpers.ts";
import { counterFor } from "../src/count/counter.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import { PartialError, validatePartial } from "../src/core/partial.ts";
import type { FileRangeTask } from "../src/core/task.ts";

const dir = mkdtempSync(join(tmpdir(), "logmr-by-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Expected {
  requests: number;
  bytes: number;
  classes: Record<string, number>;
  clients: Set<string>;
}

/** The group of a line, written from the field's meaning, not from the engine's code. */
function keyOf(field: string, l: OracleLine): string {
  const iso = (s: number) => new Date(s * 1000).toISOString().replace(".000Z", "Z");
  const d = new Date(l.time * 1000);
  switch (field) {
    case "status": return l.status;
    case "class": return `${l.status[0]}xx`;
    case "method": return l.method;
    case "path": return l.path === undefined ? "" : oracleRoute(l.path);
    case "client": return l.client;
    case "referer": return l.referer ?? "";
    case "agent": return l.agent ?? "";
    case "hour": return `${iso(l.time).slice(0, 13)}:00:00Z`;
    case "day": return iso(l.time).slice(0, 10);
    case "week": {
      // Back to Monday: getUTCDay() is 0 on Sunday.
      const monday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7)));
      return monday.toISOString().slice(0, 10);
    }
    case "month": return iso(l.time).slice(0, 7);
    default: throw new Error(field);
  }
}

function oracleGroups(text: string, field: string): Map<string, Expected> {
  const groups = new Map<string, Expected>();
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    const l = oracleLine(raw);
    if (!l) continue;
    const key = keyOf(field, l);
    const g = groups.get(key) ?? { requests: 0, bytes: 0, classes: {}, clients: new Set<string>() };
    g.requests++;
    g.bytes += l.bytes;
    const cls = "12345".includes(l.status[0]!) ? `${l.status[0]}xx` : "other";
    g.classes[cls] = (g.classes[cls] ?? 0) + 1;
    g.clients.add(l.client);
    groups.set(key, g);
  }
  return groups;
}

type Row = { key: string; requests: number; bytes: number; uniqueClients: number | null; classes: Record<string, number> };

function expectLikeOracle(rows: Row[], expected: Map<string, Expected>, field: string): void {
  const got = new Map(rows.map((r) => [r.key, r]));
  expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, e] of expected) {
    const r = got.get(key)!;
    expect([key, r.requests, r.bytes]).toEqual([key, e.requests, e.bytes]);
    expect(r.uniqueClients).toBe(field === "client" ? null : e.clients.size);
    for (const cls of ["1xx", "2xx", "3xx", "4xx", "5xx", "other"]) expect([key, cls, r.classes[cls]]).toEqual([key, cls, e.classes[cls] ?? 0]);
  }
}

// A generated day and a half (several hours, days and a week boundary: 2026-11-30 is a Monday), plus a real nginx log.
const generated = join(dir, "gen.log");
const FIELDS = ["status", "class", "method", "path", "client", "referer", "agent", "hour", "day", "week", "month"];

describe("--by FIELD equals an oracle that groups the plainly parsed lines", () => {
  let text = "";
  test("make the log", async () => {
    const r = await cli(["generate", "--lines", "20000", "-o", generated]);
    expect(r.code).toBe(0);
    // 20,000 lines one a second from 2026-11-27: shift half of them by four days, across the week's end.
    const lines = readFileSync(generated, "latin1").split("\n").filter(Boolean);
    const shifted = lines.map((l, k) => (k % 2 ? l.replace("27/Nov/2026", "30/Nov/2026") : l));
    text = `${shifted.join("\n")}\n${readFileSync(fixture("nginx-access.log"), "latin1")}`;
    await Bun.write(generated, Buffer.from(text, "latin1"));
  });

  for (const field of FIELDS) {
    test.each([1, 3])(`${field}, %i workers, in many tasks`, async (workers) => {
      const doc = await cliJson(["-", "--by", field, "--workers", String(workers), "--top", "100000"], { stdin: Buffer.from(text, "latin1"), env: { LOGMR_SEGMENT_BYTES: "65536" } });
      expect(doc.run.tasks).toBeGreaterThan(5);
      expect(doc.data.groups.field).toBe(field);
      expectLikeOracle(doc.data.groups.rows, oracleGroups(binary(Buffer.from(text, "latin1")), field), field);
      expect(doc.data.groups.count).toBe(oracleGroups(binary(Buffer.from(text, "latin1")), field).size);
    });
  }

  test("the top list is the top by requests, ties by key; times, codes and classes come whole, in order", async () => {
    const top = await cliJson([generated, "--by", "client", "--top", "3"]);
    const all = oracleGroups(binary(Buffer.from(text, "latin1")), "client");
    const want = [...all].sort((a, b) => b[1].requests - a[1].requests || (a[0] < b[0] ? -1 : 1)).slice(0, 3).map(([k]) => k);
    expect(top.data.groups.rows.map((r: Row) => r.key)).toEqual(want);
    const days = await cliJson([generated, "--by", "day", "--top", "1"]);
    expect(days.data.groups.rows.map((r: Row) => r.key)).toEqual([...oracleGroups(binary(Buffer.from(text, "latin1")), "day").keys()].sort());
  });
});

describe("--by with formats that name hosts and times", () => {
  test("vhost on Apache's vhost_combined log equals its truth (requests and errors a host)", async () => {
    const truth = JSON.parse(readFileSync(fixture("apache-vhost-timed.log.truth.json"), "utf8")).hosts as Record<string, { requests: number; errors: number }>;
    const doc = await cliJson([fixture("apache-vhost-timed.log"), "--by", "vhost"]);
    const rows = doc.data.groups.rows as Array<Row & { classes: Record<string, number> }>;
    expect(Object.fromEntries(rows.map((r) => [r.key, { requests: r.requests, errors: r.classes["4xx"]! + r.classes["5xx"]! }]))).toEqual(truth);
  });

  test("class on nginx's timed log: each class's percentiles within 1% of the exact ones", async () => {
    const truth = JSON.parse(readFileSync(fixture("nginx-timed.log.truth.json"), "utf8")).latency.by_class as Record<string, Record<string, number>>;
    const doc = await cliJson([fixture("nginx-timed.log"), "--format", "nginx-timed", "--by", "class"]);
    const rows = doc.data.groups.rows as Array<{ key: string; latency: Record<string, number> }>;
    expect(rows.map((r) => r.key)).toEqual(Object.keys(truth).sort());
    for (const r of rows) {
      const t = truth[r.key]!;
      expect(r.latency.count).toBe(t.count!);
      for (const q of ["p50", "p90", "p95", "p99", "max"]) expect(Math.abs(r.latency[q]! - t[q]!)).toBeLessThanOrEqual(t[q]! * 0.01 + 1e-9);
    }
  });

  test("the terminal shows the split as a table", async () => {
    const r = await cli([fixture("nginx-timed.log"), "--format", "nginx-timed", "--by", "class", "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\nBy class\n +requests +share +4xx +5xx +clients +bytes +p50 +p95 +p99\n +2xx +360 /);
  });

  const refused: Array<[string[], string]> = [
    [["--lines", "1000", "--by", "vhost"], "--by vhost applies to log files whose format names the host"],
    [[fixture("nginx-access.log"), "--by", "vhost"], "--by vhost: "],
    [["--lines", "1000", "--by", "colour"], '--by "colour": not a field to split by'],
  ];
  test.each(refused)("%p exits 2: %s", async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(message);
  });
});

describe("a partial's groups are checked against the rest of it", () => {
  const path = fixture("nginx-access.log");
  const size = readFileSync(path).length;
  const task: FileRangeTask = { version: 1, id: 0, input: 0, kind: "file", path, start: 0, end: size, by: "path" };
  const counter = counterFor(task);
  const lines = new LineAssembler(counter);
  lines.push(readFileSync(path));
  lines.end();
  const good = { ...counter.toCounts(), taskId: 0, task, covered: [0, size], timings: { readyAt: 1, startedAt: 2, endedAt: 3, pid: 4, maxRssKb: 5 } };
  const mutants: Array<[string, (p: any) => void]> = [
    ["a group's requests changed", (p) => p.groups.rows[0].requests++],
    ["a group left out", (p) => p.groups.rows.pop()],
    ["a group's bytes changed", (p) => (p.groups.rows[0].bytes += 1)],
    ["a 2xx count moved to another class", (p) => {
      const row = p.groups.rows.find((r: { classes: number[] }) => r.classes[1]! > 0);
      row.classes[1]--;
      row.classes[5]++;
    }],
    ["a client index past the clients", (p) => p.groups.rows[0].clients.push(p.clients.length)],
    ["a client named twice", (p) => p.groups.rows[0].clients.push(p.groups.rows[0].clients.at(-1))],
    ["rows out of key order", (p) => p.groups.rows.reverse()],
    ["the wrong field", (p) => (p.groups.field = "method")],
    ["no groups", (p) => delete p.groups],
  ];
  test("the partial as counted passes", () => {
    expect(good.groups!.rows.length).toBeGreaterThan(3);
    expect(validatePartial(structuredClone(good), task).taskId).toBe(0);
  });
  test.each(mutants)("%s: refused", (_, mutate) => {
    const p = structuredClone(good);
    mutate(p);
    expect(() => validatePartial(p, task)).toThrow(PartialError);
  });
  test("groups from a task without --by: refused", () => {
    const { by: _by, ...plain } = task;
    expect(() => validatePartial({ ...structuredClone(good), task: plain }, plain)).toThrow(PartialError);
  });
});
