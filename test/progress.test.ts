import { describe, expect, test } from "bun:test";
import { ProgressLine, progressText } from "../src/cli/progress.ts";

describe("progress", () => {
  test("shows share, amount, rate and time left", () => {
    expect(progressText({ done: 2_500_000, total: 5_000_000 }, 1000, "lines")).toBe(" 50.0%  2.50 M of 5.00 M lines  2.50 M lines/s  1.0 s left");
    expect(progressText({ done: 300e6, total: 900e6 }, 1000, "bytes")).toBe(" 33.3%  300.0 MB of 900.0 MB  300.0 MB/s  2.0 s left");
    expect(progressText({ done: 5e6, total: 0 }, 0, "bytes")).toBe("5.0 MB");
  });
  test("draws at most a few times a second and once at the end", () => {
    const out: string[] = [];
    const line = new ProgressLine({ write: (s: string) => out.push(s) }, "lines");
    for (let k = 1; k <= 1000; k++) line.update({ done: k, total: 1000 });
    expect(out.length).toBe(1);
    line.finish(true);
    expect(out.length).toBe(2);
    expect(out[1]).toContain("100.0%");
    expect(out[1]!.endsWith("\n")).toBe(true);
  });
});
