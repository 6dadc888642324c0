import { describe, expect, test } from "bun:test";
import { LogCounter } from "../src/count.ts";
import { DEFAULT_GENERATOR, LineGenerator } from "../src/generate.ts";
import { countGenerated } from "../src/input.ts";
import { emptyCounts, mergeAll, mergePartials, PartialError, validatePartial, type CountsPartial } from "../src/partial.ts";

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

describe("validatePartial", () => {
  const good = { ...a, taskId: 3, timings: { readyAt: 1, startedAt: 2, endedAt: 3, pid: 4, maxRssKb: 5 } };
  const mutate = (f: (p: any) => void) => {
    const p = structuredClone(good);
    f(p);
    return p;
  };
  test("accepts a real partial", () => expect(validatePartial(structuredClone(good), 3).taskId).toBe(3));
  test.each([
    ["not an object", () => [1, 2]],
    ["null", () => null],
    ["wrong version", () => mutate((p) => (p.version = 99))],
    ["wrong task", () => mutate((p) => (p.taskId = 4))],
    ["lines that do not add up", () => mutate((p) => (p.lines.read += 1))],
    ["negative count", () => mutate((p) => (p.status[0][1] = -1))],
    ["fractional count", () => mutate((p) => (p.bytes += 0.5))],
    ["status not summing to requests", () => mutate((p) => (p.status[0][1] += 1))],
    ["clients not summing to requests", () => mutate((p) => (p.clients[0][1] += 1))],
    ["duplicate key", () => mutate((p) => p.methods.push([...p.methods[0]]))],
    ["bad status code", () => mutate((p) => (p.status[0][0] = "2000"))],
    ["row of the wrong shape", () => mutate((p) => (p.clients[0] = ["x", 1]))],
    ["missing timings", () => mutate((p) => delete p.timings)],
    ["string count", () => mutate((p) => (p.requests = String(p.requests)))],
  ])("rejects %s", (_, make) => {
    expect(() => validatePartial(make(), 3)).toThrow(PartialError);
  });
});
