import { describe, expect, test } from "bun:test";
import { rng } from "./helpers.ts";
import { DurationSketch, emptySketch, mergeSketches, quantile, RELATIVE_ERROR, type SketchData } from "../src/core/sketch.ts";

const sketchOf = (values: number[]): SketchData => {
  const s = new DurationSketch();
  for (const v of values) s.add(v);
  return s.toData();
};

const DATA: Array<[string, (r: () => number) => number]> = [
  ["uniform 0..2 s", (r) => r() * 2],
  ["skewed: log-normal around 50 ms", (r) => Math.exp(Math.log(0.05) + 1.5 * Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r()))],
  ["heavy tail: Pareto", (r) => 0.001 / Math.pow(r() || 1e-12, 1 / 1.2)],
  ["with zeros (cached responses)", (r) => (r() < 0.3 ? 0 : r() * 0.5)],
];

describe("DurationSketch", () => {
  test.each(DATA)("%s: every quantile within the relative error of the exact sorted answer", (_, draw) => {
    const r = rng(7);
    const values = Array.from({ length: 20_000 }, () => draw(r));
    const sorted = [...values].sort((a, b) => a - b);
    const s = sketchOf(values);
    expect(s.count).toBe(values.length);
    for (const q of [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1]) {
      const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
      const got = quantile(s, q)!;
      if (exact === 0) expect(got).toBe(0);
      else expect(Math.abs(got - exact) / exact).toBeLessThanOrEqual(RELATIVE_ERROR + 1e-12);
    }
  });

  test("merging is associative and commutative, and equals one pass over all the values", () => {
    const r = rng(9);
    const parts = [0, 1, 2].map(() => Array.from({ length: 3000 }, () => r() * 3));
    const [a, b, c] = parts.map(sketchOf) as [SketchData, SketchData, SketchData];
    const whole = sketchOf(parts.flat());
    // Exact in any order: the sum is kept in whole microseconds.
    const canon = (s: SketchData) => JSON.stringify(s);
    expect(canon(mergeSketches([a, b, c]))).toBe(canon(whole));
    expect(canon(mergeSketches([mergeSketches([a, b]), c]))).toBe(canon(mergeSketches([a, mergeSketches([b, c])])));
    expect(canon(mergeSketches([c, a, b]))).toBe(canon(mergeSketches([a, b, c])));
    expect(mergeSketches([])).toEqual(emptySketch());
    expect(quantile(emptySketch(), 0.5)).toBeNull();
  });
});
