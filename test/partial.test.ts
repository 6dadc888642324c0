import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FastCombinedCounter as LogCounter } from "../src/count/fast/combined.ts";
import { DEFAULT_GENERATOR, generateText, LineGenerator } from "../src/map/generate.ts";
import { countFileRange, countGenerated } from "../src/map/read-input.ts";
import { checkCoverage, emptyCounts, mergeAll, mergePartials, PartialError, validatePartial, type CountsPartial, type TaskPartial } from "../src/core/partial.ts";
import { readIdentity } from "../src/map/identity.ts";
import { compileFormat, FormatCounter } from "../src/count/format.ts";
import { LineAssembler } from "../src/map/read-input.ts";

const TIMED_FORMAT = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time';
import type { FileRangeTask, GenerateTask, Task } from "../src/core/task.ts";

function generatedCounts(seed: number, start: number, end: number): CountsPartial {
  const counter = new LogCounter();
  countGenerated(new LineGenerator(seed, DEFAULT_GENERATOR), { version: 1, id: 0, input: 0, kind: "generate", seed, start, end, generator: DEFAULT_GENERATOR }, counter);
  return counter.toCounts();
}

const a = generatedCounts(1, 0, 3000);
const b = generatedCounts(1, 3000, 5000);
const c = generatedCounts(1, 5000, 9000);
const whole = generatedCounts(1, 0, 9000);
const canon = (p: CountsPartial) => JSON.stringify(mergePartials(p, emptyCounts()));

describe("mergePartials", () => {
  test("merging the pieces of a range equals counting the whole range", () => {
    expect(canon(mergeAll([a, b, c]))).toBe(canon(whole));
  });
  test("is associative", () => {
    expect(canon(mergePartials(mergePartials(a, b), c))).toBe(canon(mergePartials(a, mergePartials(b, c))));
  });
  test("is commutative", () => {
    expect(canon(mergePartials(a, b))).toBe(canon(mergePartials(b, a)));
    expect(canon(mergeAll([c, a, b]))).toBe(canon(mergeAll([a, b, c])));
  });
  test("has the empty partial as identity, and merging nothing gives it", () => {
    expect(canon(mergePartials(emptyCounts(), a))).toBe(canon(a));
    expect(mergeAll([])).toEqual(emptyCounts());
    expect(mergeAll([emptyCounts(), emptyCounts()]).lines.read).toBe(0);
  });
  test("keeps the first malformed samples in input order", () => {
    const x = { ...emptyCounts(), malformedSamples: [{ line: 1, offset: 500, text: "b", truncated: false, input: 0 }] };
    const y = { ...emptyCounts(), malformedSamples: [{ line: 1, offset: 10, text: "a", truncated: false, input: 0 }, { line: 1, offset: 0, text: "z", truncated: false, input: 1 }] };
    expect(mergePartials(x, y).malformedSamples.map((s) => s.text)).toEqual(["a", "b", "z"]);
  });
});

const timings = { readyAt: 1, startedAt: 2, endedAt: 3, pid: 4, maxRssKb: 5 };
const genTask: GenerateTask = { version: 1, id: 3, input: 0, kind: "generate", seed: 1, start: 0, end: 3000, generator: DEFAULT_GENERATOR };
const good = { ...a, taskId: 3, task: genTask, timings };

// A file range with a malformed line, counted for real: samples and the bytes covered.
const dir = mkdtempSync(join(tmpdir(), "logmr-partial-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fileText = `${generateText(2, 0, 50)}not a log line\n${generateText(2, 50, 60)}`;
const filePath = join(dir, "a.log");
writeFileSync(filePath, fileText);
const fileTask: FileRangeTask = (() => {
  const fd = openSync(filePath, "r");
  const identity = readIdentity(fd);
  closeSync(fd);
  return { version: 1, id: 0, input: 0, kind: "file", path: filePath, start: 0, end: fileText.length, identity };
})();
const goodFile = (() => {
  const counter = new LogCounter();
  const fd = openSync(filePath, "r");
  const covered = countFileRange(fd, 0, fileText.length, counter, { size: fileText.length });
  closeSync(fd);
  return { ...counter.toCounts(), taskId: 0, task: fileTask, covered, timings };
})();

// A file range in a format with response times: the partial carries a latency sketch.
const timedText = generateText(2, 0, 60).split("\n").filter(Boolean).map((l, k) => `${l} 0.${String(k + 1).padStart(3, "0")}`).join("\n") + "\n";
const timedTask: FileRangeTask = { ...fileTask, format: TIMED_FORMAT, end: timedText.length, identity: undefined };
const goodTimed = (() => {
  const counter = new FormatCounter(compileFormat(TIMED_FORMAT));
  const lines = new LineAssembler(counter);
  lines.push(new TextEncoder().encode(timedText));
  lines.end();
  return { ...counter.toCounts(), taskId: 0, task: timedTask, covered: [0, timedText.length] as [number, number], timings };
})();

describe("validatePartial", () => {
  const mutate = (f: (p: any) => void, from: object = good) => {
    const p = structuredClone(from) as any;
    f(p);
    return p;
  };
  const deep = (n: number): unknown => (n === 0 ? "x" : [deep(n - 1)]);
  test("accepts real partials", () => {
    expect(validatePartial(structuredClone(goodTimed), timedTask).latency?.all.count).toBe(60);
    expect(validatePartial(structuredClone(good), genTask).taskId).toBe(3);
    expect(validatePartial(structuredClone(good)).taskId).toBe(3);
    expect(goodFile.malformedSamples.length).toBe(1);
    expect(validatePartial(structuredClone(goodFile), fileTask).covered).toEqual([0, fileText.length]);
  });
  // Each: a hostile partial, and the words its refusal must contain.
  test.each<[string, () => unknown, string, Task | undefined]>([
    ["not an object", () => [1, 2], "not a JSON object", undefined],
    ["null", () => null, "not a JSON object", undefined],
    ["wrong version", () => mutate((p) => (p.version = 99)), "version 99", undefined],
    ["wrong task id", () => mutate((p) => (p.taskId = 4)), "expected 3", genTask],
    ["task id -1", () => mutate((p) => (p.taskId = -1)), "taskId -1 is not a task id", undefined],
    ["task id 0.5", () => mutate((p) => (p.taskId = 0.5)), "taskId 0.5 is not a task id", undefined],
    ["task id 1e300", () => mutate((p) => (p.taskId = 1e300)), "is not a task id", undefined],
    ["no task", () => mutate((p) => delete p.task), "does not name its task", undefined],
    ["a task id other than its task's", () => mutate((p) => (p.taskId = 7)), "not its task's id", undefined],
    ["the task of another plan (other lines)", () => mutate(() => {}), "answers another task", { ...genTask, end: 1000 }],
    ["the task of another input (other seed)", () => mutate(() => {}), "answers another task", { ...genTask, seed: 2 }],
    ["more lines than its generated range", () => mutate((p) => (p.task.end = 2000)), "lines of its generated range", undefined],
    ["lines that do not add up", () => mutate((p) => (p.lines.read += 1)), "lines read != valid + malformed", undefined],
    ["lines filtered out by a task without --vhost", () => mutate((p) => { p.lines.filtered = 1; p.lines.read++; p.lines.valid++; p.lines.combined++; }), "filtered out by a task without a filter", undefined],
    ["lines filtered out and counted too", () => mutate((p) => { p.task.hosts = ["a.test"]; p.lines.filtered = 1; }), "requests != valid lines in the time window and the filter", undefined],
    ["negative count", () => mutate((p) => (p.status[0][1] = -1)), "not a non-negative integer", undefined],
    ["fractional count", () => mutate((p) => (p.bytes += 0.5)), "bytes is not a non-negative integer", undefined],
    ["a count above 2^53", () => mutate((p) => (p.bytes = 2 ** 53 + 2)), "above 2^53", undefined],
    ["status not summing to requests", () => mutate((p) => (p.status[0][1] += 1)), "status counts do not sum", undefined],
    ["clients not summing to requests", () => mutate((p) => (p.clients[0][1] += 1)), "client counts do not sum", undefined],
    ["a client with more 4xx than requests", () => mutate((p) => {
      // Moved between two clients, so every sum still agrees.
      const x = p.clients.reduce((m: any, c: any) => (c[1] < m[1] ? c : m));
      const y = p.clients.reduce((m: any, c: any) => (c[2] > m[2] ? c : m));
      const moved = x[1] - x[2] + 1;
      x[2] += moved; y[2] -= moved;
    }), "more 4xx, 5xx or 404 responses than requests", undefined],
    ["a client with more 404s than 4xx", () => mutate((p) => {
      const x = p.clients.reduce((m: any, c: any) => (c[1] < m[1] ? c : m));
      const y = p.clients.reduce((m: any, c: any) => (c[4] > m[4] ? c : m));
      const moved = x[2] - x[4] + 1;
      x[4] += moved; y[4] -= moved;
    }), "more 4xx, 5xx or 404 responses than requests", undefined],
    ["clients' 404s not summing to the 404 status", () => mutate((p) => (p.clients[0][4] += 1)), "404s do not sum", undefined],
    ["404 paths above the 404 count", () => mutate((p) => p.notFoundPaths.push(["/made-up", p.status.find((r: any) => r[0] === "404")[1]])), "more 404 paths than 404 responses", undefined],
    ["duplicate key", () => mutate((p) => p.methods.push([...p.methods[0]])), "repeats the key", undefined],
    ["bad status code", () => mutate((p) => (p.status[0][0] = "2000")), "status code", undefined],
    ["row of the wrong shape", () => mutate((p) => (p.clients[0] = ["x", 1])), "wrong shape", undefined],
    ["firstTime after lastTime", () => mutate((p) => ([p.firstTime, p.lastTime] = [p.lastTime, p.firstTime])), "is after lastTime", undefined],
    ["a time past year 9999 (Invalid Date)", () => mutate((p) => (p.lastTime = 1e15)), "not a time of years 0 to 9999", undefined],
    ["a minute outside its times", () => mutate((p) => (p.minutes[0][0] -= 10_000)), "outside firstTime..lastTime", undefined],
    ["a request outside its task's window", () => mutate((p) => (p.task.window = { since: p.lastTime })), "outside its task's time window", undefined],
    ["missing timings", () => mutate((p) => delete p.timings), "no timings", undefined],
    ["string count", () => mutate((p) => (p.requests = String(p.requests))), "requests is not", undefined],
    ["a 5,000-deep reason", () => mutate((p) => (p.malformedSamples[0].reason = deep(5000)), goodFile), "reason is not a string", undefined],
    ["a sample text of a megabyte", () => mutate((p) => (p.malformedSamples[0].text = "x".repeat(1 << 20)), goodFile), "text is not a string of at most", undefined],
    ["a sample line beyond the lines read", () => mutate((p) => (p.malformedSamples[0].line = 10_000), goodFile), "not one of the", undefined],
    ["a file range without its covered bytes", () => mutate((p) => delete p.covered, goodFile), "no covered range", undefined],
    ["covered bytes past its range", () => mutate((p) => (p.covered = [5, fileText.length + 100]), goodFile), "does not fit its range", undefined],
    ["more response times than requests", () => mutate((p) => { p.latency.all.count += 1; p.latency.all.zeros += 1; }, goodTimed), "more response times", undefined],
    ["latency classes that do not sum to all", () => mutate((p) => { p.latency.byClass[0][1].count += 1; p.latency.byClass[0][1].zeros += 1; }, goodTimed), "latency by class does not sum to all", undefined],
    ["sketch buckets that do not sum to its count", () => mutate((p) => (p.latency.all.buckets[0][1] += 1), goodTimed), "buckets do not sum", undefined],
    ["sketch buckets out of order", () => mutate((p) => p.latency.all.buckets.reverse(), goodTimed), "not in increasing order", undefined],
    ["a sketch bucket twice", () => mutate((p) => { const b = p.latency.all.buckets; b[1][0] = b[0][0]; }, goodTimed), "not in increasing order", undefined],
    ["a sketch bucket out of range", () => mutate((p) => (p.latency.all.buckets.at(-1)[0] = 5000), goodTimed), "out of range", undefined],
    ["a host with more errors than requests", () => mutate((p) => (p.hosts = [["a.example", 1, 2, 0, null]]), goodTimed), "more errors than requests", undefined],
    ["more host requests than requests", () => mutate((p) => (p.hosts = [["a.example", p.requests + 1, 0, 0, null]]), goodTimed), "more host requests than requests", undefined],
  ])("refuses %s", (_, make, words, expected) => {
    expect(() => validatePartial(make(), expected)).toThrow(PartialError);
    expect(() => validatePartial(make(), expected)).toThrow(words);
  });
});

describe("checkCoverage", () => {
  const part = (id: number, start: number, end: number, covered: [number, number]) => ({ taskId: id, task: { ...fileTask, id, start, end }, covered }) as unknown as TaskPartial;
  test("accepts ranges end to end, in any order", () => {
    expect(() => checkCoverage([part(1, 50, 100, [52, 100]), part(0, 0, 50, [0, 52])], "a.log", 100)).not.toThrow();
  });
  test.each<[string, TaskPartial[], string]>([
    ["a gap", [part(0, 0, 50, [0, 40]), part(1, 50, 100, [52, 100])], "leave out bytes 40..52"],
    ["an overlap", [part(0, 0, 50, [0, 60]), part(1, 50, 100, [52, 100])], "count twice bytes 52..60"],
    ["a short end", [part(0, 0, 50, [0, 52]), part(1, 50, 100, [52, 90])], "cover 90 of its 100 bytes"],
  ])("refuses %s", (_, partials, words) => {
    expect(() => checkCoverage(partials, "a.log", 100)).toThrow(words);
  });
});

describe("mergeAll", () => {
  test("refuses totals beyond 2^53 instead of losing precision", () => {
    const big = { ...emptyCounts(), bytes: 2 ** 52 + 1 };
    expect(() => mergeAll([big, big])).toThrow("above 2^53");
  });
});
