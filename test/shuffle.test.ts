// --memory: a run whose keyed tables go to sorted runs on disk and are
// reduced by partition must report exactly what the in-memory run reports,
// for any worker and partition count, and leave no spill file behind however
// it ends.

import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { byKeyBytes, type KeyRow, partitionOf, RunReader, spillTables, writeRun } from "../src/shuffle/runs.ts";
import { reducePartition, REDUCE_VERSION, RunContentError } from "../src/shuffle/reduce-partition.ts";
import { combinePartitions } from "../src/shuffle/combine.ts";
import { parseSize, planMemory } from "../src/shuffle/budget.ts";
import { findSuspicious, MIN_RATIO_MAD, MIN_REQUESTS, MIN_VOLUME_MAD_SHARE, Z_THRESHOLD } from "../src/report/suspicious.ts";
import { median } from "../src/core/stats.ts";
import { PartialError, validatePartial } from "../src/core/partial.ts";
import { removeStaleSpills } from "../src/shuffle/spill-dir.ts";
import { DEFAULT_GENERATOR } from "../src/core/traffic.ts";
import { cli, rng, sleep } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "logmr-shuffle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(dir, `case-${++n}`);
  mkdirSync(d);
  return d;
};
const spillsIn = (d: string) => readdirSync(d).filter((f) => f.startsWith("logmr-spill-"));

describe("runs", () => {
  test("a row of any bytes reads back as written, in order", () => {
    const keys = ["a", "", "line\nbreak", 'quo"te', "back\\slash", "\x00\x01\x1f\x7f", "\xff\xfe\x80 utf8 bytes", "x".repeat(100_000)];
    const rows = keys.map((k, i) => [k, i, i * 2] as KeyRow).sort(byKeyBytes);
    const path = join(fresh(), "r.run");
    writeRun(path, rows);
    const reader = new RunReader(path);
    const back: KeyRow[] = [];
    while (reader.next()) back.push(reader.row!);
    reader.close();
    expect(back).toEqual(rows);
  });

  test.each([1, 2, 7, 64])("partitionOf spreads keys over all of %i partitions, the same each time", (partitions) => {
    const seen = new Set<number>();
    for (let k = 0; k < 2000; k++) {
      const p = partitionOf(`10.0.${k >> 8}.${k & 255}`, partitions);
      expect(p).toBe(partitionOf(`10.0.${k >> 8}.${k & 255}`, partitions));
      expect(p >= 0 && p < partitions).toBe(true);
      seen.add(p);
    }
    expect(seen.size).toBe(partitions);
  });
});

/** Rows of a keyed table spread over several partials, some keys in several. */
function randomPartials(seed: number, partials: number, keys: number, columns: number): KeyRow[][] {
  const r = rng(seed);
  return Array.from({ length: partials }, () => {
    const rows = new Map<string, KeyRow>();
    for (let k = 0; k < keys; k++) {
      const key = `/k/${Math.floor(r() * keys * 2)}`;
      const requests = 1 + Math.floor(r() * 5);
      const row = [key, requests, ...Array.from({ length: columns - 1 }, () => Math.floor(r() * (requests + 1)))] as KeyRow;
      rows.set(key, row);
    }
    return [...rows.values()];
  });
}

/** The oracle: one map over every row, then the top list sorted as the report sorts. */
function oracle(lists: KeyRow[][], top: number) {
  const all = new Map<string, KeyRow>();
  for (const rows of lists) for (const row of rows) {
    const seen = all.get(row[0]);
    if (!seen) all.set(row[0], [...row] as KeyRow);
    else for (let c = 1; c < row.length; c++) (seen[c] as number) += row[c] as number;
  }
  const sorted = [...all.values()].sort((a, b) => (b[1] as number) - (a[1] as number) || (a[0] < b[0] ? -1 : 1));
  return { distinct: all.size, top: sorted.slice(0, top), sum: sorted.reduce((a, r) => a + (r[1] as number), 0) };
}

describe("reducing by partition", () => {
  test.each([
    [1, 3, 10],
    [4, 5, 10],
    [7, 2, 1],
    [3, 6, 0],
    [5, 4, 5000],
  ])("%i partitions, %i partials, top %i: the combined top list and distinct count equal one pass over everything", (partitions, count, top) => {
    const d = fresh();
    const lists = randomPartials(partitions * 31 + count, count, 3000, 1);
    const runs = lists.flatMap((rows, i) => spillTables({ paths: rows }, d, `t${i}`, partitions));
    const results = Array.from({ length: partitions }, (_, partition) => reducePartition({ version: REDUCE_VERSION, partition, dir: d, top, runs: runs.filter((r) => r.partition === partition) }));
    const got = combinePartitions(results, d, top).tables.paths!;
    const want = oracle(lists, top);
    expect(got.distinct).toBe(want.distinct);
    expect(got.total).toBe(want.sum);
    expect(got.top).toEqual(want.top as Array<[string, number]>);
  });

  test("ties at the cut across partitions: the smaller key bytes win, as in the in-memory report", () => {
    const d = fresh();
    // 40 keys with 5 requests each, in whichever partitions they hash to; the top 7 must be the 7 smallest keys.
    const tied = Array.from({ length: 40 }, (_, k) => [`/tie/${String(k).padStart(2, "0")}`, 5] as KeyRow);
    const above = [["/z/high", 9] as KeyRow];
    const lists = [tied.slice(0, 20).concat(above), tied.slice(20)];
    const partitions = 4;
    expect(new Set(tied.slice(0, 8).map(([k]) => partitionOf(k, partitions))).size).toBeGreaterThan(1);
    const runs = lists.flatMap((rows, i) => spillTables({ agents: rows }, d, `t${i}`, partitions));
    const results = Array.from({ length: partitions }, (_, partition) => reducePartition({ version: REDUCE_VERSION, partition, dir: d, top: 7, runs: runs.filter((r) => r.partition === partition) }));
    expect(combinePartitions(results, d, 7).tables.agents!.top).toEqual([["/z/high", 9], ...tied.slice(0, 6).map(([k]) => [k, 5] as [string, number])]);
  });

  test("clients: distinct count, top clients and the suspicious ones equal findSuspicious over all clients", () => {
    const d = fresh();
    const r = rng(5);
    // Many quiet clients, a few busy ones, some of those failing most of their requests.
    const lists = Array.from({ length: 3 }, (_, part) => {
      const rows: KeyRow[] = [];
      for (let k = 0; k < 4000; k++) {
        if (r() < 0.5) continue;
        const busy = k % 97 === 0;
        const requests = busy ? 40 + Math.floor(r() * 40) : 1 + Math.floor(r() * 30);
        const bad = busy && k % 3 === 0 ? requests - 2 : Math.floor(r() * 2);
        const c5 = Math.min(bad, Math.floor(r() * (bad + 1)));
        rows.push([`192.0.${part}.${k}`.replace(`.${part}.`, `.${k % 7}.`), requests, bad - c5, c5, 0, requests * 100]);
      }
      return [...new Map(rows.map((row) => [row[0], row])).values()];
    });
    const want = oracle(lists, 10);
    const all = [...new Map(lists.flat().map((row) => [row[0], row])).keys()];
    expect(all.length).toBe(want.distinct);
    const merged = new Map<string, number[]>();
    for (const row of lists.flat()) {
      const seen = merged.get(row[0]) ?? [0, 0, 0];
      merged.set(row[0], [seen[0]! + (row[1] as number), seen[1]! + (row[2] as number) + (row[3] as number), 0]);
    }
    const expected = findSuspicious([...merged].map(([client, [requests, errors]]) => ({ client, requests: requests!, errors: errors! })));
    expect(expected.length).toBeGreaterThan(0);
    for (const partitions of [1, 3, 8]) {
      const pd = join(d, String(partitions));
      mkdirSync(pd);
      const runs = lists.flatMap((rows, i) => spillTables({ clients: rows }, pd, `t${i}`, partitions));
      const results = Array.from({ length: partitions }, (_, partition) => reducePartition({ version: REDUCE_VERSION, partition, dir: pd, top: 10, runs: runs.filter((x) => x.partition === partition) }));
      const got = combinePartitions(results, pd, 10).clients!;
      expect(got.distinct).toBe(want.distinct);
      expect(got.top).toEqual(want.top as never);
      expect(got.suspicious).toEqual(expected);
    }
  });

  test.each([
    ["out of key order", (rows: KeyRow[]) => rows.reverse(), /strict key order/],
    ["a count changed", (rows: KeyRow[]) => ((rows[0]![1] as number) += 1, rows), /does not hold what its partial says/],
    ["a row of the wrong shape", (rows: KeyRow[]) => (rows[0]!.push(1, 2), rows), /wrong shape/],
    ["a path with times that are not a sketch", (rows: KeyRow[]) => (rows[0]!.push(1), rows), /not a sketch/],
    ["a path with more times than requests", (rows: KeyRow[]) => ((rows[0] as unknown[]).push({ count: 2, zeros: 2, sumMicros: 0, max: 0, buckets: [] }), rows), /more response times than requests/],
  ] as const)("a run %s is refused, never merged", (_, damage, message) => {
    const d = fresh();
    const rows = Array.from({ length: 50 }, (_, k) => [`/p/${String(k).padStart(3, "0")}`, k + 1] as KeyRow);
    const [run] = spillTables({ paths: rows }, d, "t0", 1);
    rmSync(join(d, run!.file));
    writeRun(join(d, run!.file), damage(rows.map((r) => [...r] as KeyRow)));
    expect(() => reducePartition({ version: REDUCE_VERSION, partition: 0, dir: d, top: 10, runs: [run!] })).toThrow(message);
    expect(() => reducePartition({ version: REDUCE_VERSION, partition: 0, dir: d, top: 10, runs: [run!] })).toThrow(RunContentError);
  });
});

describe("the suspicious-client rule from (requests, errors) pairs", () => {
  /** The rule as it was before pairs: robust z-scores over every client's values. */
  function oldRule(clients: Array<{ client: string; requests: number; errors: number }>) {
    if (clients.length < 3) return [];
    const robust = (values: number[], minMad: number) => {
      const m = median(values);
      const mad = Math.max(median(values.map((v) => Math.abs(v - m))), minMad);
      return { m, z: values.map((v) => (mad > 0 ? (0.6745 * (v - m)) / mad : 0)) };
    };
    const ratios = clients.map((c) => (c.requests > 0 ? c.errors / c.requests : 0));
    const volumes = clients.map((c) => c.requests);
    const ratio = robust(ratios, MIN_RATIO_MAD);
    const volume = robust(volumes, MIN_VOLUME_MAD_SHARE * median(volumes));
    return clients.filter((c, k) => ratio.z[k]! >= Z_THRESHOLD && c.requests >= Math.max(MIN_REQUESTS, volume.m)).map((c) => c.client).sort();
  }
  test.each([1, 2, 3, 4, 5, 6])("seed %i: the same clients as the rule over every value", (seed) => {
    const r = rng(seed);
    const clients = Array.from({ length: 50 + Math.floor(r() * 500) }, (_, k) => {
      const requests = 1 + Math.floor(r() ** 3 * 200);
      return { client: `c${k}`, requests, errors: Math.floor(r() ** (seed % 2 ? 6 : 2) * requests) };
    });
    expect(findSuspicious(clients).map((s) => s.client).sort()).toEqual(oldRule(clients));
  });
});

describe("budgets", () => {
  test.each([
    ["512M", 512 * 2 ** 20],
    ["2G", 2 * 2 ** 30],
    ["1.5g", 1.5 * 2 ** 30],
    ["800000K", 800000 * 1024],
    ["1000", 1000],
    ["64MiB", 64 * 2 ** 20],
    ["lots", null],
    ["-5M", null],
    ["", null],
  ] as const)("%s is %p bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  test("tasks and inline rows shrink with the budget; too small a budget is refused", () => {
    const small = planMemory(512 * 2 ** 20, 2, 40);
    const big = planMemory(8 * 2 ** 30, 2, 40);
    expect(small.maxTaskBytes).toBeLessThan(big.maxTaskBytes);
    expect(small.inlineRows).toBeLessThan(big.inlineRows);
    expect(small.parentShare + 2 * small.workerShare).toBeLessThanOrEqual(512 * 2 ** 20);
    expect(() => planMemory(100 * 2 ** 20, 2, 1)).toThrow(/too small for 2 workers/);
  });
});

interface Spilled {
  spill: { runs: Array<{ table: string; partition: number; file: string; sums: number[] }> };
}

describe("spilled partials", () => {
  const partial = (spillDir: string) => ({
    version: 3, taskId: 0, task: { version: 1, id: 0, input: 0, kind: "generate", seed: 1, start: 0, end: 1, generator: DEFAULT_GENERATOR },
    lines: { read: 1, valid: 1, malformed: 0, combined: 1, common: 0, outOfWindow: 0, filtered: 0 },
    requests: 1, bytes: 10, status: [["200", 1]], clients: [], methods: [["GET", 1]], paths: [], notFoundPaths: [], referrers: [["-", 1]], agents: [["a", 1]],
    minutes: [[29000000, 1, 0, 0]], firstTime: 29000000 * 60, lastTime: 29000000 * 60, malformedSamples: [], malformedReasons: [],
    spill: { dir: spillDir, partitions: 2, runs: [{ table: "clients", partition: 1, file: "t0-a1-clients-1.run", rows: 1, bytes: 20, sums: [1, 0, 0, 0, 10] }] },
    timings: { readyAt: 0, startedAt: 0, endedAt: 0, pid: 1, maxRssKb: 1 },
  });
  test("are valid only in the run whose spill directory they name (not in reduce, not from another machine)", () => {
    expect(validatePartial(partial("/tmp/logmr-spill-1-ab"), undefined, { spillDir: "/tmp/logmr-spill-1-ab" }).spill!.runs).toHaveLength(1);
    expect(() => validatePartial(partial("/tmp/logmr-spill-1-ab"))).toThrow(/only valid in the run and on the machine that wrote it/);
    expect(() => validatePartial(partial("/elsewhere"), undefined, { spillDir: "/tmp/logmr-spill-1-ab" })).toThrow(PartialError);
  });
  test.each([
    ["runs that do not sum to the requests", (p: Spilled): void => void (p.spill.runs[0]!.sums[0] = 2)],
    ["a file outside the directory", (p: Spilled): void => void (p.spill.runs[0]!.file = "../etc/passwd.run")],
    ["a partition out of range", (p: Spilled): void => void (p.spill.runs[0]!.partition = 2)],
    ["an unknown table", (p: Spilled): void => void ((p.spill.runs[0] as { table: string }).table = "secrets")],
  ] as const)("with %s are refused", (_, damage) => {
    const p = partial("/d");
    damage(p);
    expect(() => validatePartial(p, undefined, { spillDir: "/d" })).toThrow(PartialError);
  });
});

// ------------------------------------------------------------------ whole runs

/** Combined lines with a distinct path, referrer and agent on every line (and some repeated, for ties), and a client each (or `clients` of them, each in every part of the file). */
function uniqueLines(lines: number, clients = lines): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const c = (i * 7) % clients;
    const ip = `10.${(c >> 16) & 255}.${(c >> 8) & 255}.${c & 255}`;
    const status = i % 11 === 0 ? 404 : i % 13 === 0 ? 500 : 200;
    const repeat = i % 5 === 0 ? "shared" : String(i);
    out.push(`${ip} - - [27/Nov/2026:${10 + ((i >> 14) % 10)}:${String((i >> 10) % 60).padStart(2, "0")}:00 +0000] "GET /u/${repeat}?q=${i % 3} HTTP/1.1" ${status} ${100 + (i % 900)} "https://ref.example/${repeat}" "agent/${repeat} (x${i % 7})"`);
  }
  return `${out.join("\n")}\n`;
}

const highFile = (async () => {
  const path = join(dir, "high.log");
  const r = await cli(["generate", "--lines", "200000", "--cardinality", "high", "-o", path]);
  if (r.code !== 0) throw new Error(r.stderr);
  return path;
})();
const uniqueFile = (() => {
  const path = join(dir, "unique.log");
  writeFileSync(path, uniqueLines(120_000));
  return path;
})();
const repeatedClientsFile = (() => {
  const path = join(dir, "repeated-clients.log");
  writeFileSync(path, uniqueLines(120_000, 3001));
  return path;
})();

async function runJson(args: string[], env: Record<string, string> = {}) {
  const r = await cli([...args, "--json", "--quiet"], { env });
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  const doc = JSON.parse(r.stdout) as { data: unknown; run: { memory?: { spilled: boolean; spilledTasks?: number; runs?: number; partitions?: number; retries?: unknown[]; reducers?: unknown[] }; tasks: number } };
  return { data: JSON.stringify(doc.data), run: doc.run, stderr: r.stderr };
}

describe("a run that spills", () => {
  test.each([
    [1, 1], [1, 5],
    [2, 3], [2, 8],
    [3, 2], [3, 7],
  ])("with %i workers and %i partitions: the --json data of 200,000 distinct clients is byte-identical to the in-memory run's", async (workers, partitions) => {
    const file = await highFile;
    const tmp = fresh();
    const inMemory = await runJson([file, "--workers", String(workers), "--memory", "16G"]);
    expect(inMemory.run.memory!.spilled).toBe(false);
    // Budgets a little above each worker count's least, so that the parent may hold less than the file's keys.
    const budget = { 1: "200M", 2: "300M", 3: "400M" }[workers]!;
    const spilled = await runJson([file, "--workers", String(workers), "--memory", budget, "--partitions", String(partitions), "--tmp", tmp]);
    expect(spilled.run.memory!.spilled).toBe(true);
    expect(spilled.run.memory!.spilledTasks).toBeGreaterThan(0);
    expect(spilled.run.memory!.partitions).toBe(partitions);
    expect(spilled.data).toBe(inMemory.data);
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);

  test("unique paths, referrers and agents, with ties at the cut, and --top 25: identical, every table spilled", async () => {
    const tmp = fresh();
    const inMemory = await runJson([uniqueFile, "--workers", "2", "--memory", "16G", "--top", "25"]);
    const spilled = await runJson([uniqueFile, "--workers", "2", "--memory", "400M", "--partitions", "3", "--tmp", tmp, "--top", "25"]);
    expect(spilled.run.memory!.spilled).toBe(true);
    expect(spilled.data).toBe(inMemory.data);
    const data = JSON.parse(spilled.data) as { uniqueClients: number; topAgents: Array<{ key: string; count: number }> };
    expect(data.uniqueClients).toBe(120_000);
    expect(data.topAgents[0]!.key.startsWith("agent/shared")).toBe(true);
  }, 60_000);

  test("generated traffic under a small budget: smaller tasks, the same data", async () => {
    const tmp = fresh();
    const inMemory = await runJson(["--lines", "600000", "--workers", "2", "--memory", "16G"]);
    const spilled = await runJson(["--lines", "600000", "--workers", "2", "--memory", "400M", "--tmp", tmp]);
    expect(spilled.data).toBe(inMemory.data);
    expect(spilled.run.tasks).toBeGreaterThan(inMemory.run.tasks);
  }, 60_000);

  test("reducers that crash, are killed, print garbage, are cut short or miscount are run again: the clean counts", async () => {
    const file = await highFile;
    const tmp = fresh();
    const clean = await runJson([file, "--workers", "2", "--memory", "16G"]);
    const faulty = await runJson([file, "--workers", "2", "--memory", "400M", "--partitions", "5", "--tmp", tmp], {
      LOGMR_REDUCE_FAULTS: "crash@0,kill@1,garbage@2,truncate@3,shape@4,silent@0:2",
      LOGMR_FAULTS: "crash@1,shape@2",
    });
    expect(faulty.data).toBe(clean.data);
    expect(faulty.run.memory!.retries).toHaveLength(5);
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);
});

describe("the parent's own share", () => {
  test("standard input in small segments, each under any task's limit: the parent spills them once it holds its share, the same data", async () => {
    const tmp = fresh();
    const text = uniqueLines(120_000);
    const inMemory = await runJson([uniqueFile, "--workers", "2", "--memory", "16G"]);
    const r = await cli(["-", "--workers", "2", "--memory", "400M", "--tmp", tmp, "--json", "--quiet"], { stdin: text, env: { LOGMR_SEGMENT_BYTES: "200000" } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { data: { input: unknown }; run: { memory: { spilled: boolean; spilledTasks: number }; tasks: number } };
    expect(doc.run.memory.spilled).toBe(true);
    // Not every segment: the first ones stay inline, within the parent's share.
    expect(doc.run.memory.spilledTasks).toBeLessThan(doc.run.tasks);
    const { input: _a, ...got } = doc.data;
    const { input: _b, ...want } = JSON.parse(inMemory.data) as { input: unknown };
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
  }, 60_000);
});

describe("a task that cannot be cut smaller spills in the middle", () => {
  // Malformed lines spread over the file: their line numbers must count from the task's start, not the segment's.
  const lines = uniqueLines(60_000).split("\n");
  for (let k = 6_500; k < lines.length; k += 7_000) lines.splice(k, 0, `garbage line ${k} "with a quote`);
  const text = lines.join("\n");
  const plain = join(dir, "segments.log");
  writeFileSync(plain, text);
  const gz = join(dir, "segments.log.gz");
  writeFileSync(gz, Bun.gzipSync(Buffer.from(text)));
  // The inputs' names and kinds differ (a gzip file, stdin); everything counted must not.
  const withoutInput = (data: string) => {
    const { input: _, ...rest } = JSON.parse(data.replaceAll(JSON.stringify(gz), '"?"').replaceAll('"-"', '"?"')) as { input: unknown };
    return JSON.stringify(rest);
  };

  test.each([
    ["a gzip file", [gz], undefined],
    ["standard input", ["-"], text],
  ] as const)("%s, with a key limit a tenth of its keys: the same data as in memory, malformed samples' line numbers too", async (_, files, stdin) => {
    const tmp = fresh();
    const inMemory = await runJson([gz, "--memory", "16G", "--max-malformed", "100"]);
    const r = await cli([...files, "--memory", "400M", "--tmp", tmp, "--max-malformed", "100", "--json", "--quiet"], { env: { LOGMR_SPILL_KEYS: "20000" }, ...(stdin ? { stdin } : {}) });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { data: { malformedSamples: unknown[] }; run: { memory: { spilled: boolean; runs: number } } };
    expect(doc.run.memory.spilled).toBe(true);
    expect(doc.run.memory.runs).toBeGreaterThan(20);
    expect(doc.data.malformedSamples.length).toBeGreaterThan(3);
    expect(withoutInput(JSON.stringify(doc.data))).toBe(withoutInput(inMemory.data));
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);
});

const timedFile = join(dir, "timed.log");

describe("response times by path, spilled with their paths", () => {
  // 3,000 paths of 25 timed requests each (p95s apart and tied), every client new.
  const lines: string[] = [];
  for (let i = 0; i < 75_000; i++) {
    const path = i % 3000;
    // Every path of a residue mod 7 gets the same 25 times: equal p95s, so the slowest list's cut falls among ties in every partition.
    const t = ((path % 7) * 0.01 + Math.floor(i / 3000) * 0.001).toFixed(3);
    lines.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} - - [27/Nov/2026:10:00:${String(i % 60).padStart(2, "0")} +0000] "GET /p/page-${path} HTTP/1.1" ${i % 17 === 0 ? 502 : 200} 512 "-" "curl/8" ${t} ${t}`);
  }
  writeFileSync(timedFile, `${lines.join("\n")}\n`);

  test.each([[2, 3], [3, 5]])("%i workers, %i partitions: top paths' and slowest paths' times the same as in memory", async (workers, partitions) => {
    const tmp = fresh();
    const args = [timedFile, "--format", "nginx-timed", "--top", "15", "--workers", String(workers)];
    const inMemory = await runJson([...args, "--memory", "16G"]);
    const spilled = await runJson([...args, "--memory", "400M", "--partitions", String(partitions), "--tmp", tmp], { LOGMR_SPILL_KEYS: "3000" });
    expect(spilled.run.memory!.spilled).toBe(true);
    const data = JSON.parse(spilled.data) as { latency: { byPath: unknown[]; slowestPaths: unknown[] } };
    expect(data.latency.byPath).toHaveLength(15);
    expect(data.latency.slowestPaths).toHaveLength(15);
    expect(spilled.data).toBe(inMemory.data);
  }, 60_000);
});

describe("--by under a budget that spills", () => {
  test.each([
    ["status", uniqueFile], ["path", uniqueFile], ["client", uniqueFile], ["hour", uniqueFile], ["agent", uniqueFile], ["referer", uniqueFile],
    ["status", repeatedClientsFile], ["hour", repeatedClientsFile], ["client", repeatedClientsFile],
  ])("--by %s of %s: groups, their distinct clients and their order the same as in memory", async (by, file) => {
    const tmp = fresh();
    const args = [file, "--by", by, "--workers", "2", "--top", "25"];
    const inMemory = await runJson([...args, "--memory", "16G"]);
    const spilled = await runJson([...args, "--memory", "400M", "--partitions", "3", "--tmp", tmp], { LOGMR_SPILL_KEYS: "5000" });
    expect(spilled.run.memory!.spilled).toBe(true);
    const groups = (JSON.parse(spilled.data) as { groups: { count: number; rows: Array<{ uniqueClients: number | null }> } }).groups;
    expect(groups.rows.length).toBeGreaterThan(1);
    if (by !== "client") expect(groups.rows.some((r) => (r.uniqueClients ?? 0) > 1)).toBe(true);
    expect(spilled.data).toBe(inMemory.data);
  }, 60_000);

  test("--by path on a timed log: each group's response times too", async () => {
    const tmp = fresh();
    const args = [timedFile, "--format", "nginx-timed", "--by", "path", "--workers", "2", "--top", "15"];
    const inMemory = await runJson([...args, "--memory", "16G"]);
    const spilled = await runJson([...args, "--memory", "400M", "--partitions", "4", "--tmp", tmp], { LOGMR_SPILL_KEYS: "3000" });
    expect(spilled.run.memory!.spilled).toBe(true);
    expect((JSON.parse(spilled.data) as { groups: { count: number } }).groups.count).toBe(3000);
    expect(spilled.data).toBe(inMemory.data);
  }, 60_000);
});

describe("virtual hosts under a budget that spills", () => {
  // 20,000 hosts, each client new; the second format times its requests.
  const lines = (timed: boolean) => {
    const out: string[] = [];
    for (let i = 0; i < 80_000; i++) {
      const host = `h${(i * 13) % 20_000}.example.org`;
      const ip = `10.3.${(i >> 8) & 255}.${i & 255}`;
      const status = i % 7 === 0 ? 503 : i % 5 === 0 ? 404 : 200;
      const time = `[27/Nov/2026:10:00:${String(i % 60).padStart(2, "0")} +0000]`;
      out.push(timed
        ? `${host} ${ip} - - ${time} "GET /x HTTP/1.1" ${status} 10 "-" "a" ${((i % 50) * 0.003).toFixed(3)}`
        : `${host}:80 ${ip} - - ${time} "GET /x HTTP/1.1" ${status} 10 "-" "a"`);
    }
    return `${out.join("\n")}\n`;
  };
  const plain = join(dir, "vhosts.log");
  writeFileSync(plain, lines(false));
  const timed = join(dir, "vhosts-timed.log");
  writeFileSync(timed, lines(true));
  const nginx = '$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';

  test.each([
    ["vhost_combined", plain, "vhost_combined"],
    ["an nginx log_format with $host and $request_time", timed, nginx],
  ])("%s: the top hosts (requests, error rates, p95) the same as in memory", async (_, file, format) => {
    const tmp = fresh();
    const args = [file, "--format", format, "--workers", "2", "--top", "20"];
    const inMemory = await runJson([...args, "--memory", "16G"]);
    const spilled = await runJson([...args, "--memory", "400M", "--partitions", "3", "--tmp", tmp], { LOGMR_SPILL_KEYS: "8000" });
    expect(spilled.run.memory!.spilled).toBe(true);
    expect((JSON.parse(spilled.data) as { topHosts: unknown[] }).topHosts).toHaveLength(20);
    expect(spilled.data).toBe(inMemory.data);
  }, 60_000);
});

describe("--state under a budget that spills", () => {
  const stateArgs = (file: string, state: string) => [file, "--state", state, "--workers", "1", "--memory", "180M", "--max-malformed", "100"];
  const keys = { LOGMR_SPILL_KEYS: "6000" };
  const stateCase = () => {
    const tmp = fresh();
    return { log: join(tmp, "access.log"), state: join(tmp, "state.db") };
  };
  const runsIn = (state: string) => {
    const db = new Database(state, { readonly: true });
    try {
      return (db.query("SELECT count(*) AS n FROM runs").get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  test("a log that grows: after each step the state run equals a fresh in-memory run, its runs kept in the state", async () => {
    const { log, state } = stateCase();
    const all = uniqueLines(90_000);
    // Cut anywhere, mid-line too: a last line without its newline is counted, not stored.
    const cuts = [0, 0.33, 0.61, 0.8, 1].map((f) => Math.floor(all.length * f));
    for (let k = 1; k < cuts.length; k++) {
      appendFileSync(log, all.slice(cuts[k - 1], cuts[k]));
      const fresh = await runJson([log, "--memory", "16G", "--max-malformed", "100"]);
      const r = await runJson(stateArgs(log, state), keys);
      expect(r.run.memory!.spilled).toBe(true);
      expect(r.data).toBe(fresh.data);
      expect(spillsIn(tmpdir()).filter((d) => d.startsWith(`logmr-spill-${process.pid}-`))).toEqual([]);
    }
    expect(runsIn(state)).toBeGreaterThan(0);
    // Nothing new: the counts come from the state's runs alone.
    const again = await runJson(stateArgs(log, state), keys);
    expect((again.run as { state?: { bytesFromState: number } }).state!.bytesFromState).toBeGreaterThan(all.length - 200);
    expect(again.data).toBe((await runJson([log, "--memory", "16G", "--max-malformed", "100"])).data);
    // Forgotten, the runs go with the partials.
    expect((await cli(["state", "forget", state])).code).toBe(0);
    expect(runsIn(state)).toBe(0);
  }, 120_000);

  test("killed inside its first write to the state, the next run completes it: the same counts", async () => {
    const { log, state } = stateCase();
    writeFileSync(log, uniqueLines(40_000));
    const killed = await cli([...stateArgs(log, state), "--quiet"], { env: { ...keys, LOGMR_STATE_FAULT: "write:1" } });
    expect(killed.code).not.toBe(0);
    const r = await runJson(stateArgs(log, state), keys);
    expect(r.data).toBe((await runJson([log, "--memory", "16G"])).data);
  }, 60_000);

  test("a state of schema 1 (before runs) is brought to schema 2 and used", async () => {
    const { log, state } = stateCase();
    writeFileSync(log, uniqueLines(20_000));
    await runJson([log, "--state", state, "--memory", "16G"]);
    const db = new Database(state);
    db.run("DROP TABLE runs");
    db.run("UPDATE meta SET value = '1' WHERE key = 'schema'");
    db.close();
    const r = await runJson([log, "--state", state, "--memory", "16G"]);
    expect((r.run as { state?: { bytesMapped: number } }).state!.bytesMapped).toBe(0);
    expect(r.data).toBe((await runJson([log, "--memory", "16G"])).data);
    expect(runsIn(state)).toBe(0);
  }, 60_000);

  test("--follow on a state with spilled counts: one line, exit 1", async () => {
    const { log, state } = stateCase();
    writeFileSync(log, uniqueLines(30_000));
    await runJson(stateArgs(log, state), keys);
    expect(runsIn(state)).toBeGreaterThan(0);
    const r = await cli([log, "--state", state, "--follow", "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("which a run with --follow cannot use yet");
  }, 60_000);
});

describe("a reducer that stops making progress", () => {
  test("is killed after --task-timeout and run again: the clean counts", async () => {
    const file = await highFile;
    const tmp = fresh();
    const clean = await runJson([file, "--workers", "2", "--memory", "16G"]);
    const hung = await runJson([file, "--workers", "2", "--memory", "400M", "--partitions", "3", "--tmp", tmp, "--task-timeout", "1"], { LOGMR_REDUCE_FAULTS: "hang@1" });
    expect(hung.data).toBe(clean.data);
    expect(JSON.stringify(hung.run.memory!.retries)).toContain("no progress for 1.0 s: killed");
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);
});

describe("spill files do not outlive the run", () => {
  test("a failed task: exit 1, no spill directory left", async () => {
    const file = await highFile;
    const tmp = fresh();
    const r = await cli([file, "--workers", "2", "--memory", "400M", "--tmp", tmp, "--retries", "0", "--quiet"], { env: { LOGMR_FAULTS: "crash@3" } });
    expect(r.code).toBe(1);
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);

  test("a reducer that fails every attempt: exit 1 naming the partition, nothing left", async () => {
    const file = await highFile;
    const tmp = fresh();
    const r = await cli([file, "--workers", "2", "--memory", "400M", "--tmp", tmp, "--retries", "1", "--quiet"], { env: { LOGMR_REDUCE_FAULTS: "crash@0,crash@0:2" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("partition 0 failed 2 times");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);

  test.each([["SIGINT", 130], ["SIGTERM", 143]] as const)("%s during the map: the spill directory is removed", async (signal, exit) => {
    const file = await highFile;
    const tmp = fresh();
    const gate = join(tmp, "gate");
    const child = Bun.spawn([process.execPath, "analyze.ts", file, "--workers", "2", "--memory", "400M", "--tmp", tmp, "--quiet"], {
      cwd: new URL("..", import.meta.url).pathname, stdout: "pipe", stderr: "pipe",
      env: { ...process.env, LOGMR_FAULTS: "pause@4", LOGMR_FAULT_GATE: gate },
    });
    for (let k = 0; k < 400 && !existsSync(`${gate}.waiting`); k++) await sleep(25);
    expect(existsSync(`${gate}.waiting`)).toBe(true);
    const during = spillsIn(tmp);
    expect(during).toHaveLength(1);
    expect(readdirSync(join(tmp, during[0]!)).length).toBeGreaterThan(0);
    child.kill(signal);
    expect(await child.exited).toBe(exit);
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);

  test("a killed run's left-overs (its pid dead) are removed at the next start; a live run's are kept", async () => {
    const tmp = fresh();
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    mkdirSync(join(tmp, `logmr-spill-${dead.pid}-0badf00d`));
    writeFileSync(join(tmp, `logmr-spill-${dead.pid}-0badf00d`, "t0-a1-clients-0.run"), "[]\n");
    mkdirSync(join(tmp, `logmr-spill-${process.pid}-0000beef`));
    const r = await cli(["--lines", "1000", "--tmp", tmp, "--quiet"]);
    expect(r.code).toBe(0);
    expect(spillsIn(tmp)).toEqual([`logmr-spill-${process.pid}-0000beef`]);
    expect(removeStaleSpills(tmp)).toBe(0);
  }, 30_000);
});

describe("a disk that cannot take the spill", () => {
  test.each([
    ["a worker's write", { LOGMR_SPILL_FAULT: "enospc" }],
  ])("ENOSPC on %s: exit 1, one line, no spill files left", async (_, env) => {
    const file = await highFile;
    const tmp = fresh();
    const r = await cli([file, "--workers", "2", "--memory", "400M", "--tmp", tmp], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("no space left on the device (ENOSPC)");
    expect(spillsIn(tmp)).toEqual([]);
  }, 60_000);

  test("a --tmp the run may not write to (/sys): exit 1, one line, no report", async () => {
    const file = await highFile;
    const r = await cli([file, "--workers", "2", "--memory", "400M", "--tmp", "/sys"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot write spill files to \/sys\/logmr-spill-\d+-[0-9a-f]+: permission denied/);
  }, 60_000);

  test.each([
    [["--tmp", "/nonexistent/spill"], /--tmp "\/nonexistent\/spill": no such directory/],
    [["--tmp", "package.json"], /is not a directory/],
    [["--memory", "lots"], /--memory "lots" is not a size/],
    [["--memory", "100M", "--workers", "2"], /--memory 100M is too small for 2 workers/],
    [["--partitions", "0"], /--partitions/],
  ])("%p: exit 2, one line", async (args, message) => {
    const r = await cli(["--lines", "1000", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

});
