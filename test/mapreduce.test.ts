import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { DEFAULT_GENERATOR } from "../src/generate.ts";
import { assignBatches, MapError, runMapTasks } from "../src/mapreduce.ts";
import { type Task, TASK_VERSION } from "../src/task.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const gen = (id: number, start: number, end: number): Task => ({
  version: TASK_VERSION, id, input: 0, kind: "generate", seed: 1, start, end, generator: DEFAULT_GENERATOR,
});

describe("assignBatches", () => {
  test("every task lands in exactly one batch, loads balanced", () => {
    const tasks = [gen(0, 0, 100), gen(1, 100, 150), gen(2, 150, 200), gen(3, 200, 210), gen(4, 210, 300)];
    const batches = assignBatches(tasks, 2);
    expect(batches.length).toBe(2);
    expect(batches.flat().map((t) => t.id).sort()).toEqual([0, 1, 2, 3, 4]);
    const load = batches.map((b) => b.reduce((a, t) => a + ("end" in t ? t.end - t.start : 0), 0));
    expect(Math.abs(load[0]! - load[1]!)).toBeLessThanOrEqual(50);
  });
  test("never more batches than tasks; stdin alone", () => {
    expect(assignBatches([gen(0, 0, 10)], 8).length).toBe(1);
    const stdin: Task = { version: TASK_VERSION, id: 1, input: 1, kind: "stdin" };
    const batches = assignBatches([gen(0, 0, 10), stdin, gen(2, 10, 20)], 2);
    expect(batches).toContainEqual([stdin]);
    expect(batches.flat().length).toBe(3);
  });
});

describe("runMapTasks", () => {
  test("runs several tasks per child and returns validated partials in task order", async () => {
    const tasks = [gen(0, 0, 1000), gen(1, 1000, 2000), gen(2, 2000, 2500)];
    const result = await runMapTasks(tasks, { workers: 2 });
    expect(result.partials.map((p) => p.taskId)).toEqual([0, 1, 2]);
    expect(result.partials.map((p) => p.lines.read)).toEqual([1000, 1000, 500]);
    expect(result.children.length).toBe(2);
    expect(new Set(result.partials.map((p) => p.timings.pid)).size).toBe(2);
    // the two children ran at the same time
    const [a, b] = result.children;
    expect(Math.max(a!.spawnAt, b!.spawnAt)).toBeLessThan(Math.min(a!.exitAt, b!.exitAt));
  });
  test("a task the worker cannot run fails loudly, naming the task", async () => {
    const bad: Task = { version: TASK_VERSION, id: 0, input: 0, kind: "file", path: "/nonexistent/file.log", start: 0, end: 10 };
    await expect(runMapTasks([bad], { workers: 1 })).rejects.toThrow(/task 0 \(\/nonexistent\/file.log bytes 0..10\) failed 3 times, giving up: attempt 1: the worker exited with code 1 \(stderr: worker error: ENOENT/);
    await expect(runMapTasks([bad], { workers: 1 })).rejects.toBeInstanceOf(MapError);
  });
});
