import { describe, expect, test } from "bun:test";
import { parseTask, splitRange, TaskError } from "../src/task.ts";

describe("splitRange", () => {
  const cases: Array<[number, number]> = [[0, 1], [1, 1], [1, 4], [3, 7], [97, 4], [1_000_003, 7], [10, 10], [5_000_000, 2]];
  test.each(cases)("[0, %i) into %i parts tiles exactly", (n, parts) => {
    const ranges = splitRange(n, parts);
    expect(ranges.length).toBe(parts);
    expect(ranges[0]![0]).toBe(0);
    expect(ranges[ranges.length - 1]![1]).toBe(n);
    for (let k = 1; k < ranges.length; k++) expect(ranges[k]![0]).toBe(ranges[k - 1]![1]);
    const sizes = ranges.map(([a, b]) => b - a);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
  });
  test("rejects nonsense", () => {
    expect(() => splitRange(-1, 2)).toThrow();
    expect(() => splitRange(10, 0)).toThrow();
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
