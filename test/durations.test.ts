import { describe, expect, test } from "bun:test";
import { type DurationKind, parseSeconds } from "../src/count/durations.ts";

const read = (text: string, kind: DurationKind) => parseSeconds(new TextEncoder().encode(text), 0, text.length, kind);

describe("parseSeconds", () => {
  test.each<[string, DurationKind, number]>([
    ["0.042", "duration", 0.042],
    ["12", "duration", 12],
    ["0.000", "duration", 0],
    ["1.5", "duration", 1.5],
    ["123456789012.123456789", "duration", Number("123456789012.123456789")],
    ["-", "duration", -1],
    ["", "duration", -1],
    [".5", "duration", -1],
    ["1.", "duration", -1],
    ["1.2.3", "duration", -1],
    ["0x10", "duration", -1],
    ["1234567890123", "duration", -1],
    ["0.1234567891", "duration", -1],
    ["0.010, 0.020 : 0.005", "upstream", 0.010 + 0.020 + 0.005],
    ["0.010,0.020:0.005", "upstream", 0.010 + 0.020 + 0.005],
    ["0.5", "upstream", 0.5],
    ["-", "upstream", -1],
    ["0.010, -", "upstream", -1],
    ["0.010,", "upstream", -1],
    ["0.010 0.020", "upstream", -1],
    ["0.010, 0.020", "duration", -1],
    ["1234", "duration-us", 0.001234],
    ["0", "duration-us", 0],
    ["-", "duration-us", -1],
    ["12.5", "duration-us", -1],
    ["1234567890123456", "duration-us", -1],
  ])("%j as %s", (text, kind, want) => {
    expect(read(text, kind)).toBe(want);
  });

  test("the same double as Number() for every millisecond and microsecond value written with three and six places", () => {
    for (let ms = 0; ms < 100_000; ms += 7) {
      const text = (ms / 1000).toFixed(3);
      expect(read(text, "duration")).toBe(Number(text));
    }
    for (let us = 0; us < 10_000_000; us += 9_973) {
      const text = (us / 1e6).toFixed(6);
      expect(read(text, "duration")).toBe(Number(text));
    }
  });
});
