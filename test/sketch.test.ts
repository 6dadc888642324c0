import { describe, expect, test } from "bun:test";
import { rng } from "./helpers.ts";
import { emptySketch, mergeSketches, quantile, RELATIVE_ERROR, type SketchData } from "../src/core/sketch.ts";
import { bucketOf, bucketOfMs, KeyedSketches, MS_LIMIT, slowBucketOf } from "../src/core/sketch-counting.ts";

/** Adds a value as the tally does: its whole microseconds and its bucket computed once. */
const addTo = (s: KeyedSketches, key: number, v: number) => s.addIn(key, v, Math.round(v * 1e6), v > 0 ? bucketOf(v) : 0);

const sketchOf = (values: number[]): SketchData => {
  const s = new KeyedSketches();
  for (const v of values) addTo(s, 0, v);
  return s.toData().get(0)!;
};

const DATA: Array<[string, (r: () => number) => number]> = [
  ["uniform 0..2 s", (r) => r() * 2],
  ["skewed: log-normal around 50 ms", (r) => Math.exp(Math.log(0.05) + 1.5 * Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r()))],
  ["heavy tail: Pareto", (r) => 0.001 / Math.pow(r() || 1e-12, 1 / 1.2)],
  ["with zeros (cached responses)", (r) => (r() < 0.3 ? 0 : r() * 0.5)],
];

describe("a sketch (KeyedSketches, one key)", () => {
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

describe("KeyedSketches: many keys, dense rows for the busy ones, a map for the rest", () => {
  test("600 keys (more than the dense rows), values past a row's span: each key's quantiles within the bound, and no key's values in another's", () => {
    const r = rng(3);
    const s = new KeyedSketches();
    const byKey = new Map<number, number[]>();
    for (let n = 0; n < 120_000; n++) {
      // Key 0 busy; the others a few hundred values each; some values of 1e-10 s and 1e9 s, beyond a dense row.
      const key = r() < 0.2 ? 0 : 1 + Math.floor(r() * 599);
      const x = r();
      const v = x < 0.01 ? 1e-10 : x < 0.02 ? 1e9 : x < 0.1 ? 0 : Math.exp(-6 + 6 * r());
      addTo(s, key, v);
      (byKey.get(key) ?? byKey.set(key, []).get(key)!).push(v);
    }
    const data = s.toData();
    expect([...data.keys()].sort((a, b) => a - b)).toEqual([...byKey.keys()].sort((a, b) => a - b));
    for (const [key, values] of byKey) {
      const sketch = data.get(key)!;
      const sorted = values.sort((a, b) => a - b);
      expect(sketch.count).toBe(values.length);
      expect(sketch.max).toBe(sorted.at(-1)!);
      for (const q of [0.01, 0.5, 0.95, 0.999]) {
        const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
        const got = quantile(sketch, q)!;
        if (exact === 0) expect(got).toBe(0);
        else expect(Math.abs(got - exact) / exact).toBeLessThanOrEqual(RELATIVE_ERROR + 1e-12);
      }
    }
  });
});

describe("KeyedSketches: dense rows and whole milliseconds", () => {
  test.each<[string, number[]]>([
    ["a zero as the value that makes the key busy", [...Array<number>(64).fill(0.004), 0, ...Array<number>(100).fill(0.004)]],
    ["zeros around it", [...Array<number>(63).fill(0.002), 0, 0, 0, ...Array<number>(10).fill(0.1)]],
    ["no zero", Array<number>(70).fill(0.25)],
  ])("%s: the key moves to a dense row all the same", (_, values) => {
    const s = new KeyedSketches();
    for (const v of values) addTo(s, 5, v);
    expect(s.denseKeys).toBe(1);
    expect(s.toData().get(5)!.count).toBe(values.length);
  });

  test("addMsMany gives the sketches addIn gives for the same milliseconds, busy keys and rare ones, zeros and the largest", () => {
    const r = rng(11);
    const n = 50_000;
    const keys = new Int32Array(n);
    const ms = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      // A few busy keys, many rare ones (never dense), some zeros and values up to the limit.
      keys[i] = r() < 0.7 ? Math.floor(r() * 4) : 4 + Math.floor(r() * 3000);
      const x = r();
      ms[i] = x < 0.1 ? 0 : x < 0.12 ? MS_LIMIT - 1 - Math.floor(r() * 10) : Math.floor(r() * r() * 3000);
    }
    const one = new KeyedSketches();
    for (let i = 0; i < n; i++) addTo(one, keys[i]!, ms[i]! / 1000);
    const many = new KeyedSketches();
    // In uneven batches, as blocks of lines come.
    for (let at = 0; at < n; ) {
      const size = Math.min(n - at, 1 + Math.floor(r() * 5000));
      many.addMsMany(keys.subarray(at, at + size), ms.subarray(at, at + size), size);
      at += size;
    }
    // addMsMany gives a key its row at its first value, while rows last; addIn only to busy keys.
    expect(many.denseKeys).toBe(512);
    expect(one.denseKeys).toBe(4);
    expect(JSON.stringify([...many.toData()])).toBe(JSON.stringify([...one.toData()]));
  });
});

describe("KeyedSketches.sums: groups of keys merged at once", () => {
  // Keys through addIn (dense when busy, sparse when rare, values past a row's span) and through addMsMany (rows at once, then the map when rows run out).
  const filled = (seed: number, viaMs: boolean) => {
    const r = rng(seed);
    const s = new KeyedSketches();
    const keys: number[] = [];
    const ms: number[] = [];
    for (let i = 0; i < 40_000; i++) {
      const key = r() < 0.6 ? Math.floor(r() * 6) : 6 + Math.floor(r() * 700);
      const x = r();
      if (viaMs && x > 0.05) {
        keys.push(key);
        ms.push(x < 0.15 ? 0 : Math.floor(r() * r() * (MS_LIMIT - 1)));
      } else addTo(s, key, x < 0.02 ? 1e-7 * r() : x < 0.04 ? 1e6 * r() : x < 0.1 ? 0 : r() * 3);
    }
    s.addMsMany(Int32Array.from(keys), Int32Array.from(ms), keys.length);
    return s;
  };
  const GROUPINGS: Array<[string, (key: number) => number, number]> = [
    ["all in one", () => 0, 1],
    ["by key mod 7", (key) => key % 7, 7],
    ["some keys in none", (key) => (key % 3 === 0 ? -1 : key % 5), 5],
    ["a group with no keys", (key) => (key % 2) * 2, 3],
  ];
  test.each(GROUPINGS)("%s: each group equals mergeSketches of its keys' toData (addIn only and with addMsMany)", (_, groupOf, groups) => {
    for (const viaMs of [false, true]) {
      const s = filled(viaMs ? 5 : 6, viaMs);
      const data = s.toData();
      const expected = Array.from({ length: groups }, (_, g) => mergeSketches([...data].filter(([key]) => groupOf(key) === g).map(([, d]) => d)));
      expect(JSON.stringify(s.sums(groupOf, groups))).toBe(JSON.stringify(expected));
    }
  });
});

test("the table of whole milliseconds holds each one's bucket by its logarithm", () => {
  for (let ms = 1; ms < MS_LIMIT; ms++) {
    if (bucketOfMs(ms) !== slowBucketOf(ms / 1000)) throw new Error(`${ms} ms: table ${bucketOfMs(ms)}, logarithm ${slowBucketOf(ms / 1000)}`);
  }
  expect(bucketOfMs(1)).toBe(slowBucketOf(0.001));
  expect(bucketOfMs(MS_LIMIT - 1)).toBe(slowBucketOf((MS_LIMIT - 1) / 1000));
});
