import { describe, expect, test } from "bun:test";
import { parseTask, splitGuided, TaskError } from "../src/core/task.ts";

describe("splitGuided", () => {
  // [n, workers, minPart]: one line, fewer lines than workers, a prime, the default run, a large file.
  const cases: Array<[number, number, number]> = [[1, 1, 1], [1, 4, 1], [3, 7, 1], [97, 4, 5], [1_000_003, 7, 1000], [5_000_000, 2, 25_000], [898_870_622, 2, 14_044_854]];
  test.each(cases)("[0, %i) for %i workers, parts of at least %i: tiles exactly, shrinking", (n, workers, minPart) => {
    const ranges = splitGuided(n, workers, minPart);
    expect(ranges[0]![0]).toBe(0);
    expect(ranges[ranges.length - 1]![1]).toBe(n);
    for (let k = 1; k < ranges.length; k++) expect(ranges[k]![0]).toBe(ranges[k - 1]![1]);
    const sizes = ranges.map(([a, b]) => b - a);
    for (let k = 1; k < sizes.length; k++) expect(sizes[k]!).toBeLessThanOrEqual(sizes[k - 1]!);
    for (const size of sizes.slice(0, -1)) expect(size).toBeGreaterThanOrEqual(minPart);
    expect(sizes[sizes.length - 1]!).toBeGreaterThan(0);
    // The first range is a fraction of the work, never most of it; the count stays small.
    if (n >= 2 * workers * minPart) expect(sizes[0]!).toBeLessThanOrEqual(Math.ceil(n / (2 * workers)));
    expect(ranges.length).toBeLessThanOrEqual(Math.ceil(n / minPart));
    expect(ranges.length).toBeLessThanOrEqual(2 * workers * (Math.log(n / minPart) + 1) + 1);
  });
  test("every worker gets a range when the parts allow it", () => {
    expect(splitGuided(10, 4, 3).length).toBeGreaterThanOrEqual(3);
    expect(splitGuided(1_000, 8, 125).length).toBeGreaterThanOrEqual(8);
  });
  test("rejects nonsense", () => {
    expect(() => splitGuided(-1, 2, 1)).toThrow();
    expect(() => splitGuided(10, 0, 1)).toThrow();
    expect(() => splitGuided(10, 2, 0)).toThrow();
  });
});

describe("parseTask", () => {
  const ok = { version: 1, id: 0, input: 0, kind: "generate", seed: 1, start: 0, end: 10, generator: { startEpoch: 0, linesPerSecond: 50 } };
  test("accepts a well-formed task", () => expect(parseTask(JSON.stringify(ok)).kind).toBe("generate"));
  test.each([
    ["not JSON", "{"],
    ["wrong version", JSON.stringify({ ...ok, version: 2 })],
    ["unknown kind", JSON.stringify({ ...ok, kind: "ftp" })],
    ["start > end", JSON.stringify({ ...ok, start: 11 })],
    ["negative id", JSON.stringify({ ...ok, id: -1 })],
    ["file without path", JSON.stringify({ version: 1, id: 0, input: 0, kind: "file", start: 0, end: 1 })],
  ])("rejects %s", (_, line) => expect(() => parseTask(line)).toThrow(TaskError));
});
