import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BenchResult, benchSchedule, comparisons, countWithReference, readThrough, referenceCount, scalingPoints } from "../src/cli/bench.ts";
import { scalingChart, scalingSvg } from "../src/cli/chart.ts";
import { compareResults } from "../src/cli/compare.ts";
import { generateText } from "../src/map/generate.ts";
import { cli, cliJson, fixture } from "./helpers.ts";
import { oracleCount } from "./oracle.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "logmr-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the references", () => {
  test("the reference parser row counts like the oracle", () => {
    const text = generateText(4, 0, 2000);
    const counts = countWithReference(new TextEncoder().encode(text));
    const o = oracleCount(text);
    expect(counts.lines.read).toBe(2000);
    expect(new Map(counts.clients.map(([c, n]) => [c, n]))).toEqual(o.clients);
  });

  test("the straightforward reference counts like the oracle", () => {
    const text = generateText(3, 0, 2000);
    const r = referenceCount(text);
    const o = oracleCount(text);
    expect(r.lines).toBe(2000);
    expect(r.clients).toEqual(o.clients);
    expect(r.status).toEqual(o.status);
  });
});

function result(label: string, medians: Record<string, number>): BenchResult {
  return {
    schema: 1,
    environment: { engineVersion: "0", commit: null, bunVersion: label, cpuModel: "cpu", cores: 2, memoryGiB: 1, os: "os", date: "d" },
    input: "generated",
    rows: Object.entries(medians).map(([name, median]) => ({
      name, kind: name.startsWith("workers") ? "engine" : "yardstick", workers: Number(/\d+/.exec(name)?.[0] ?? 1),
      seconds: { runs: 3, median, mean: median, stddev: 0, min: median, max: median },
      lines: 1000, bytes: null, linesPerSecond: 1000 / median, mbPerSecond: null, speedup: null, efficiency: null, workerMaxRssMb: null,
    })),
  };
}

describe("the order of timed runs", () => {
  test.each([
    [1, 1], [1, 4], [3, 1], [3, 5], [5, 6], [7, 3],
  ])("%i commands over %i rounds: each round runs each command once, and each round starts one command further on", (commands, rounds) => {
    const schedule = benchSchedule(commands, rounds);
    expect(schedule.length).toBe(rounds);
    const all = Array.from({ length: commands }, (_, k) => k);
    for (const [round, order] of schedule.entries()) {
      expect([...order].sort((a, b) => a - b)).toEqual(all);
      expect(order[0]).toBe(round % commands);
    }
  });
  test("no command always runs first or last when there are as many rounds as commands", () => {
    const schedule = benchSchedule(4, 4);
    expect(new Set(schedule.map((o) => o[0])).size).toBe(4);
    expect(new Set(schedule.map((o) => o.at(-1))).size).toBe(4);
  });
});

describe("compare", () => {
  const a = result("A", { "workers=1": 2, "workers=2": 1.25, "C limit gen 1000 2": 0.5 });
  const b = result("B", { "workers=1": 1, "workers=2": 2.5 });
  test("ratios against the first result, rows missing on one side shown as such", () => {
    const rows = compareResults([a, b]);
    expect(rows.map((r) => [r.name, r.medians, r.speedups])).toEqual([
      ["workers=1", [2, 1], [1, 2]],
      ["workers=2", [1.25, 2.5], [1, 0.5]],
      ["C limit gen 1000 2", [0.5, null], [1, null]],
    ]);
  });
  test("the CLI reads saved files, says faster and slower, and rejects what is not a result", async () => {
    writeFileSync(join(dir, "a.json"), JSON.stringify(a));
    writeFileSync(join(dir, "b.json"), JSON.stringify(b));
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ hello: 1 }));
    const r = await cli(["compare", join(dir, "a.json"), join(dir, "b.json")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("2.00x faster");
    expect(r.stdout).toContain("2.00x slower");
    const bad = await cli(["compare", join(dir, "a.json"), join(dir, "bad.json")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("bad.json is not a bench result");
    expect((await cli(["compare", join(dir, "a.json")])).code).toBe(2);
  });
  test("hyperfine-style sentences", () => {
    const lines = comparisons(a);
    expect(lines[0]).toBe("workers=2 ran 1.60 ± 0.00 times faster than workers=1");
    expect(lines[1]).toBe("workers=2 took 2.50 ± 0.00 times as long as C limit gen 1000 2");
    const noisy = result("N", { "workers=1": 2, "workers=2": 1 });
    noisy.rows[0]!.seconds = { ...noisy.rows[0]!.seconds, stddev: 0.2 }; // 10%
    noisy.rows[1]!.seconds = { ...noisy.rows[1]!.seconds, stddev: 0.1 }; // 10%
    expect(comparisons(noisy)[0]).toBe(`workers=2 ran 2.00 ± ${(2 * Math.sqrt(0.02)).toFixed(2)} times faster than workers=1`);
  });
});

describe("scaling curve", () => {
  const points = scalingPoints(result("A", { "workers=1": 2, "workers=2": 1.25, "workers=4": 0.8 }));
  test("speedups against one worker", () => {
    expect(points).toEqual([{ workers: 1, speedup: 1 }, { workers: 2, speedup: 1.6 }, { workers: 4, speedup: 2.5 }]);
  });
  test("text and SVG", () => {
    expect(scalingChart(points)).toContain("2.50x (ideal 4x)");
    const svg = scalingSvg(points, "a < b");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("a &lt; b");
    expect((svg.match(/<circle/g) ?? []).length).toBe(3);
  });
});

describe("bench end to end (tiny, no timing assertions)", () => {
  test("runs each worker count, exports JSON, Markdown and SVG", async () => {
    const json = join(dir, "r.json");
    const md = join(dir, "r.md");
    const svg = join(dir, "r.svg");
    const r = await cli(["bench", "--lines", "2000", "--workers", "1,2", "--runs", "2", "--warmup", "0", "--reference-lines", "500", "--no-yardsticks",
      "--export-json", json, "--export-markdown", md, "--svg", svg]);
    expect(r.code).toBe(0);
    const saved = JSON.parse(readFileSync(json, "utf8"));
    expect(saved.rows.map((x: { name: string }) => x.name)).toEqual(["workers=1", "workers=2", "reference parser (1 process)", "reference (strings + RegExp, 1 process)"]);
    expect(saved.rows[0].seconds.runs).toBe(2);
    expect(saved.environment.bunVersion).toBe(Bun.version);
    expect(readFileSync(md, "utf8")).toContain("| `workers=2` |");
    expect(readFileSync(svg, "utf8")).toContain("<polyline");
    expect(r.stdout).toContain("Scaling");
  });
  test("--where times the filtered runs against the same file unfiltered, in the same rounds", async () => {
    const json = join(dir, "w.json");
    const log = fixture("nginx-access.log");
    const r = await cli(["bench", log, "--where", "status >= 500", "--baseline", log, "--workers", "1", "--runs", "2", "--warmup", "0", "--no-yardsticks", "--export-json", json]);
    expect(r.code).toBe(0);
    const saved = JSON.parse(readFileSync(json, "utf8"));
    expect(saved.input).toContain("(--where status >= 500)");
    expect(saved.rows.map((x: { name: string }) => x.name)).toEqual(["workers=1", "baseline workers=1"]);
    expect(r.stdout).toContain("times as long as the Combined baseline at 1 worker");
  });
  test("--state times a first run into an empty state and a run over the unchanged file, each its own state", async () => {
    const json = join(dir, "s.json");
    const log = fixture("nginx-access.log");
    const r = await cli(["bench", log, "--state", "--workers", "1", "--runs", "2", "--warmup", "0", "--no-yardsticks", "--export-json", json]);
    expect(r.code).toBe(0);
    const saved = JSON.parse(readFileSync(json, "utf8"));
    expect(saved.rows.map((x: { name: string }) => x.name)).toEqual(["workers=1", "workers=1 --state, first run", "workers=1 --state, unchanged"]);
    // Every run counted the whole file: the unchanged one from its state.
    for (const row of saved.rows) expect(row.lines).toBe(saved.rows[0].lines);
    expect(saved.rows[2].note).toMatch(/^\d+\.\d% of the first run's time$/);
    expect(r.stdout).toContain("a second --state run over unchanged files took");
    expect((await cli(["bench", "--state"])).code).toBe(2);
  });
  test("--counters minimal gives the same client and status counts", async () => {
    const full = (await cliJson(["--lines", "20000"])).data;
    const minimal = (await cliJson(["--lines", "20000", "--counters", "minimal"])).data;
    expect(minimal.topClients).toEqual(full.topClients);
    expect(minimal.status).toEqual(full.status);
    expect(minimal.methods).toEqual([]);
  });
});

describe("readThrough (page cache before each timed file command)", () => {
  test("reads every byte of every file, past its 1 MiB chunk, and skips stdin", () => {
    const dir = mkdtempSync(join(tmpdir(), "logmr-read-"));
    try {
      const sizes = [0, 1, (1 << 20) + 3, 5000];
      const files = sizes.map((n, k) => {
        const f = join(dir, `f${k}`);
        writeFileSync(f, new Uint8Array(n).fill(120));
        return f;
      });
      expect(readThrough([...files, "-"])).toBe(sizes.reduce((a, b) => a + b, 0));
      expect(readThrough([])).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
