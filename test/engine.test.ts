import { describe, expect, test } from "bun:test";
import { autoWorkers, globalLineNumbers, MIN_BYTES_PER_WORKER, MIN_LINES_PER_WORKER, planAnalysis } from "../src/engine.ts";
import type { LogInput } from "../src/plan/resolve-inputs.ts";
import { emptyCounts, type TaskPartial } from "../src/core/partial.ts";
import type { Task } from "../src/core/task.ts";

const base = { inputs: [], seed: 1, top: 10 };

describe("planAnalysis", () => {
  test("generated lines: several shrinking tasks per worker that tile the range, never more tasks than lines", () => {
    const plan = planAnalysis({ ...base, lines: 5_000_000, workers: 2 });
    expect(plan.tasks.length).toBeGreaterThanOrEqual(8);
    expect(plan.tasks.length).toBeLessThanOrEqual(40);
    expect(plan.workers).toBe(2);
    let at = 0;
    for (const t of plan.tasks) {
      if (t.kind !== "generate") throw new Error("not generated");
      expect(t.start).toBe(at);
      at = t.end;
    }
    expect(at).toBe(5_000_000);
    const sizes = plan.tasks.map((t) => (t.kind === "generate" ? t.end - t.start : 0));
    expect(sizes[0]!).toBeGreaterThan(20 * sizes[sizes.length - 1]!);
    const tiny = planAnalysis({ ...base, lines: 3, workers: 8 });
    expect([tiny.tasks.length, tiny.workers]).toEqual([3, 3]);
    expect(planAnalysis({ ...base, lines: 120_000, workers: 2 }).tasks.length).toBeGreaterThanOrEqual(2);
  });
  test("--counters minimal reaches every task", () => {
    expect(planAnalysis({ ...base, lines: 1000, workers: 1, counters: "minimal" }).tasks.every((t) => t.counters === "minimal")).toBe(true);
  });
});

describe("autoWorkers", () => {
  const plain = (bytes: number): LogInput => ({ path: "a.log", format: "plain", bytes });
  const gzip: LogInput = { path: "a.log.gz", format: "gzip", bytes: 1000 };
  const stdin: LogInput = { path: "-", format: "stdin", bytes: null };
  test.each([
    ["no lines", 8, { lines: 0 }, 1],
    ["one line", 8, { lines: 1 }, 1],
    ["just under two workers' worth", 8, { lines: 2 * MIN_LINES_PER_WORKER - 1 }, 1],
    ["two workers' worth", 8, { lines: 2 * MIN_LINES_PER_WORKER }, 2],
    ["the default run on 2 cores", 2, { lines: 5_000_000 }, 2],
    ["the default run on 1 core", 1, { lines: 5_000_000 }, 1],
    ["the default run on 32 cores", 32, { lines: 5_000_000 }, 10],
    ["a small file", 8, { files: [plain(1000)] }, 1],
    ["an empty file", 8, { files: [plain(0)] }, 1],
    ["three workers' worth of plain files", 8, { files: [plain(MIN_BYTES_PER_WORKER), plain(2 * MIN_BYTES_PER_WORKER + 5)] }, 3],
    ["a large file, few cores", 2, { files: [plain(900e6)] }, 2],
    ["gzip files: one each", 8, { files: [gzip, gzip, plain(10)] }, 2],
    ["stdin: every core (it is cut into segments as it is read)", 8, { files: [stdin] }, 8],
    ["many gzip files", 4, { files: Array.from({ length: 300 }, () => gzip) }, 4],
  ] as const)("%s", (_, cores, work, expected) => {
    expect(autoWorkers(cores, work)).toBe(expected);
  });
  test("planAnalysis uses it when no worker count is given", () => {
    expect(planAnalysis({ ...base, lines: MIN_LINES_PER_WORKER - 1 }).workers).toBe(1);
    expect(planAnalysis({ ...base, lines: MIN_LINES_PER_WORKER - 1, workers: 2 }).workers).toBe(2);
  });
});

describe("globalLineNumbers", () => {
  test("a range's malformed lines are numbered after the lines of the ranges before it, per input", () => {
    const file = (id: number, input: number, start: number): Task => ({ version: 1, id, input, kind: "file", path: `f${input}`, start, end: start + 10 });
    const tasks = [file(0, 0, 0), file(1, 0, 10), file(2, 1, 0)];
    const partial = (taskId: number, read: number, line: number): TaskPartial => ({
      ...emptyCounts(),
      lines: { read, valid: read - 1, malformed: 1, combined: read - 1, common: 0, outOfWindow: 0, filtered: 0 },
      malformedSamples: [{ line, offset: 0, text: "", truncated: false }],
      taskId,
      task: tasks[taskId]!,
      timings: { readyAt: 0, startedAt: 0, endedAt: 0, pid: 0, maxRssKb: 0 },
    });
    const partials = [partial(1, 7, 2), partial(0, 5, 3), partial(2, 4, 1)];
    globalLineNumbers(tasks, partials);
    expect(partials.map((p) => p.malformedSamples[0]!.line)).toEqual([5 + 2, 3, 1]);
  });
});
