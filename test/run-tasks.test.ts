import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { DEFAULT_GENERATOR } from "../src/map/generate.ts";
import { availableParallelism } from "node:os";
import { CONCURRENT_JIT_ENV, estimatedLines, MapError, OWN_THREAD_COMPILE_MIN_LINES, RetryBook, runMapTasks, workerEnv } from "../src/map/run-tasks.ts";
import { type Task, TASK_VERSION } from "../src/core/task.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const gen = (id: number, start: number, end: number): Task => ({
  version: TASK_VERSION, id, input: 0, kind: "generate", seed: 1, start, end, generator: DEFAULT_GENERATOR,
});

describe("runMapTasks", () => {
  test("feeds tasks to children as they finish and returns validated partials in task order", async () => {
    const tasks = [gen(0, 0, 1000), gen(1, 1000, 2000), gen(2, 2000, 2500), gen(3, 2500, 600_000), gen(4, 600_000, 600_100), gen(5, 600_100, 600_200)];
    const result = await runMapTasks(tasks, { workers: 2 });
    expect(result.partials.map((p) => p.taskId)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(result.partials.map((p) => p.lines.read)).toEqual([1000, 1000, 500, 597_500, 100, 100]);
    expect(result.children.length).toBe(2);
    expect(new Set(result.partials.map((p) => p.timings.pid)).size).toBe(2);
    // while one child runs the big task, the other takes the small ones after it
    const big = result.children.find((c) => c.tasks.includes(3));
    const other = result.children.find((c) => c !== big);
    expect(other?.tasks).toContain(4);
    expect(other?.tasks).toContain(5);
    expect(result.children.flatMap((c) => c.tasks).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    // the two children ran at the same time
    const [a, b] = result.children;
    expect(a && b).toBeTruthy();
    expect(Math.max(a!.spawnAt, b!.spawnAt)).toBeLessThan(Math.min(a!.exitAt, b!.exitAt));
  });
  test("progress moves as each task's partial arrives, while the child keeps running", async () => {
    const tasks = [0, 1, 2, 3, 4].map((k) => gen(k, k * 20_000, (k + 1) * 20_000));
    const seen: number[] = [];
    const result = await runMapTasks(tasks, { workers: 1, onProgress: (p) => seen.push(p.done) });
    expect(result.children.length).toBe(1); // one child ran all five
    for (let k = 1; k <= 5; k++) expect(seen).toContain(k * 20_000);
    expect(seen[seen.length - 1]).toBe(100_000);
  });

  test("a task the worker cannot run fails loudly, naming the task", async () => {
    const bad: Task = { version: TASK_VERSION, id: 0, input: 0, kind: "file", path: "/nonexistent/file.log", start: 0, end: 10 };
    await expect(runMapTasks([bad], { workers: 1 })).rejects.toThrow(/task 0 \(\/nonexistent\/file.log bytes 0..10\) failed 3 times, giving up: attempt 1: the worker exited with code 1 \(stderr: worker error: ENOENT/);
    await expect(runMapTasks([bad], { workers: 1 })).rejects.toBeInstanceOf(MapError);
  });
});

describe("workerEnv", () => {
  const enough = OWN_THREAD_COMPILE_MIN_LINES;
  // [workers, cores, lines a worker, the user's setting, what the children get]
  const cases: Array<[number, number, number, string | undefined, string | undefined]> = [
    [2, 2, enough, undefined, "0"], // every core busy: compile on the worker's own thread
    [4, 2, 10 * enough, undefined, "0"],
    [2, 2, Number.POSITIVE_INFINITY, undefined, "0"],
    [2, 2, enough - 1, undefined, undefined], // little work each: done before the compiler pays
    [1, 2, 10 * enough, undefined, undefined], // a core to spare: the background compiler is left on
    [2, 2, 10 * enough, "1", "1"], // the user's choice stands
  ];
  test.each(cases)("%i workers on %i cores, %d lines each, user setting %p: children get %p", (workers, cores, lines, user, expected) => {
    const env = { PATH: "/bin", ...(user === undefined ? {} : { [CONCURRENT_JIT_ENV]: user }) };
    const out = workerEnv(env, workers, cores, lines);
    expect(out[CONCURRENT_JIT_ENV]).toBe(expected);
    expect(out.PATH).toBe("/bin");
  });

  test.each([
    [{ version: 1, id: 0, input: 0, kind: "generate", seed: 1, start: 100, end: 400, generator: { startEpoch: 0, linesPerSecond: 1 } }, 300],
    [{ version: 1, id: 0, input: 0, kind: "file", path: "a", start: 1000, end: 1000 + 180 * 7 }, 7],
    [{ version: 1, id: 0, input: 0, kind: "gzip", path: "a.gz", bytes: 10 }, Number.POSITIVE_INFINITY],
    [{ version: 1, id: 0, input: 0, kind: "stdin" }, Number.POSITIVE_INFINITY],
  ] as Array<[Task, number]>)("the work of a %p task, in lines: %p", (task, lines) => {
    expect(estimatedLines(task)).toBe(lines);
  });

  test("workers on every core compiling on their own thread count what one worker counts", async () => {
    const cores = availableParallelism();
    const tasks = Array.from({ length: cores * 2 }, (_, k) => gen(k, k * 30_000, (k + 1) * 30_000));
    // Set here: these tasks are too small for runMapTasks to choose it, and the point is that the pinned Bun accepts it.
    const all = await runMapTasks(tasks, { workers: cores, env: { ...process.env, [CONCURRENT_JIT_ENV]: "0" } });
    const one = await runMapTasks(tasks, { workers: 1 });
    const counts = (r: typeof all) => r.partials.map((p) => [p.taskId, p.lines, p.requests, p.bytes, p.status]);
    expect(counts(all)).toEqual(counts(one));
  });
});

describe("RetryBook: the one retry rule of local children and GNU parallel", () => {
  const attempt = (n: number, cause: string) => ({ attempt: n, cause, ms: 1, pid: 1, stderr: "" });
  const crash = "the worker exited with code 70";
  const refused = "the partial is invalid: lines read != valid + malformed (5 vs 4)";
  test.each<[string, number, Array<[string, string?]>, number | null]>([
    ["a first failure runs again", 2, [[crash]], null],
    ["retries run out", 2, [[crash], [crash], [crash]], 3],
    ["no retries: the first failure ends the run", 0, [[crash]], 1],
    ["an input changed under the run: at once", 2, [["the worker exited with code 65", "access.log was truncated during the analysis"]], 1],
    ["a partial refused twice for the same reason: no third attempt", 5, [[refused], [refused]], 2],
    ["refused for different reasons: retried as usual", 5, [[refused], [`${refused} `], [crash]], null],
    ["the same crash twice is still retried (a crash may be the machine's)", 5, [[crash], [crash]], null],
  ])("%s", (_, retries, failures, endsAt) => {
    const book = new RetryBook(retries);
    const task = gen(3, 0, 10);
    let ended = null as number | null;
    failures.forEach(([cause, fatal], k) => {
      const end = book.failed(task, attempt(k + 1, cause), fatal);
      if (end && ended === null) {
        ended = k + 1;
        expect(end).toBeInstanceOf(MapError);
        expect(end.message).toContain(fatal ?? "task 3 (generated lines 0..10, seed 1) failed");
      }
    });
    expect(ended).toBe(endsAt);
    expect(book.retried([task])[0]?.failures.length).toBe(failures.length);
  });
});
