import { describe, expect, test } from "bun:test";
import { median, stats } from "../src/core/stats.ts";

describe("median", () => {
  test("odd, even and empty", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBe(0);
  });
});

describe("stats", () => {
  test("median, mean, sample standard deviation, min and max", () => {
    expect(stats([3, 1, 2, 10])).toEqual({ runs: 4, median: 2.5, mean: 4, stddev: Math.sqrt(((1 + 9 + 4 + 36) / 3)), min: 1, max: 10 });
    expect(stats([5]).stddev).toBe(0);
    expect(stats([])).toEqual({ runs: 0, median: 0, mean: 0, stddev: 0, min: 0, max: 0 });
  });
});
