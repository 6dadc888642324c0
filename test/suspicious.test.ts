import { describe, expect, test } from "bun:test";
import { findSuspicious, robustZ } from "../src/report/suspicious.ts";

describe("robust statistics", () => {
  test("robust z ignores the outlier itself", () => {
    const { median: m, mad, z } = robustZ([10, 11, 9, 10, 1000], 0);
    expect(m).toBe(10);
    expect(mad).toBe(1);
    expect(z[4]).toBeCloseTo(0.6745 * 990, 6);
  });
});

describe("findSuspicious", () => {
  const normal = Array.from({ length: 40 }, (_, k) => ({ client: `10.0.0.${k}`, requests: 1000 + k * 7, errors: 200 + (k % 5) * 10 }));
  test("flags a client with an outlying error ratio and at least median volume", () => {
    const out = findSuspicious([...normal, { client: "scanner", requests: 3000, errors: 2900 }]);
    expect(out.map((s) => s.client)).toEqual(["scanner"]);
    expect(out[0]!.reasons[0]).toContain("error ratio 96.7%");
    expect(out[0]!.reasons.length).toBe(2); // its volume is an outlier too
  });
  test("a busy client with an ordinary error ratio is not suspicious", () => {
    expect(findSuspicious([...normal, { client: "busy", requests: 50_000, errors: 10_000 }])).toEqual([]);
  });
  test("a client with few requests is never suspicious, however many fail", () => {
    expect(findSuspicious([...normal, { client: "one-off", requests: 5, errors: 5 }])).toEqual([]);
  });
  test("tiny populations and identical clients flag nothing", () => {
    expect(findSuspicious([{ client: "a", requests: 10, errors: 10 }])).toEqual([]);
    expect(findSuspicious(Array.from({ length: 10 }, (_, k) => ({ client: `${k}`, requests: 100, errors: 25 })))).toEqual([]);
  });
});
