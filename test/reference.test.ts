import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import type { LineCounter } from "../src/count/counter.ts";
import { FastCombinedCounter } from "../src/count/fast/combined.ts";
import { emptyLine, parseCombinedLine, ReferenceCounter } from "../src/count/reference.ts";
import { DEFAULT_GENERATOR, generateText } from "../src/map/generate.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import type { Counters, TimeWindow } from "../src/core/task.ts";
import { binary, oracleCount, sorted, toMap } from "./oracle.ts";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

function feed(counter: LineCounter, bytes: Uint8Array, chunk: number): string {
  const lines = new LineAssembler(counter);
  for (let at = 0; at < bytes.length; at += chunk) lines.push(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
  lines.end();
  return JSON.stringify(counter.toCounts());
}

/** Fast path and reference, on the same bytes in the same chunks: byte-identical partials. */
function expectIdentical(bytes: Uint8Array, window: TimeWindow = {}, counters: Counters = "full", chunk = 1 << 16): void {
  const fast = feed(new FastCombinedCounter(window, counters), bytes, chunk);
  const reference = feed(new ReferenceCounter(window, counters), bytes, chunk);
  expect(fast).toBe(reference);
}

describe("the reference parser against the truth files and the oracle", () => {
  test.each(["nginx-access.log", "apache-access.log", "mixed-garbage.log", "nginx-access.log.gz"])("%s", (name) => {
    const raw = new Uint8Array(readFileSync(fixture(name)));
    const bytes = name.endsWith(".gz") ? new Uint8Array(gunzipSync(raw)) : raw;
    const truth = JSON.parse(readFileSync(fixture(`${name}.truth.json`), "utf8"));
    const counter = new ReferenceCounter();
    const counts = JSON.parse(feed(counter, bytes, 1 << 16));
    expect(counts.lines).toMatchObject({ read: truth.total_lines, valid: truth.valid_lines, malformed: truth.malformed_lines });
    expect(counts.bytes).toBe(truth.total_bytes);
    expect(Object.fromEntries(toMap(counts.clients))).toEqual(truth.clients);
    expect(Object.fromEntries(toMap(counts.status))).toEqual(truth.status);
    const o = oracleCount(binary(bytes));
    expect(sorted(toMap(counts.agents))).toEqual(sorted(o.agents));
    expect(sorted(toMap(counts.notFoundPaths))).toEqual(sorted(o.notFoundPaths));
  });

  test("parseCombinedLine says where each field is", () => {
    const text = '10.0.0.1 - bob [27/Nov/2026:20:21:04 +0000] "GET /a?b=1 HTTP/1.1" 404 512 "http://r/" "UA/1.0"';
    const bytes = new TextEncoder().encode(text);
    const line = emptyLine();
    expect(parseCombinedLine(bytes, 0, bytes.length, line)).toBeNull();
    const at = (s: number, e: number) => text.slice(s, e);
    expect(at(0, line.hostEnd)).toBe("10.0.0.1");
    expect(line.time).toBe(Date.UTC(2026, 10, 27, 20, 21, 4) / 1000);
    expect(at(line.requestStart, line.methodEnd)).toBe("GET");
    expect(at(line.methodEnd + 1, line.pathEnd)).toBe("/a");
    expect(at(line.requestStart, line.requestEnd)).toBe("GET /a?b=1 HTTP/1.1");
    expect([line.status, line.bytes]).toEqual([404, 512]);
    expect(at(line.tailStart, line.tailEnd)).toBe('http://r/" "UA/1.0');
  });
});

describe("the fast path gives byte-identical partials to the reference", () => {
  test.each(["nginx-access.log", "apache-access.log", "mixed-garbage.log"])("fixture %s, in chunks of 1 KiB and 64 KiB", (name) => {
    const bytes = new Uint8Array(readFileSync(fixture(name)));
    expectIdentical(bytes, {}, "full", 1024);
    expectIdentical(bytes);
  });

  const since = DEFAULT_GENERATOR.startEpoch + 600;
  test.each<[string, number, TimeWindow, Counters]>([
    ["seed 1", 1, {}, "full"],
    ["seed 2, a time window", 2, { since, until: since + 900 }, "full"],
    ["seed 3, minimal counters", 3, {}, "minimal"],
  ])("generated traffic, %s", (_, seed, window, counters) => {
    expectIdentical(new TextEncoder().encode(generateText(seed, 0, 60_000)), window, counters);
  });

  test("hostile bytes: generated lines with random bytes changed, cut in odd chunks", () => {
    let s = 77;
    const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
    const text = generateText(9, 0, 3000);
    const bytes = new TextEncoder().encode(text);
    for (let k = 0; k < 600; k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
    for (const chunk of [97, 4096]) expectIdentical(bytes, {}, "full", chunk);
  });
});

describe("every malformed line gets a reason and the column where it broke", () => {
  const ok = '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA"';
  // [what, line, reason (the counted category), 1-based column, words of the detail]
  const cases: Array<[string, string, string, number, string | undefined]> = [
    ["an empty line", "", "empty line", 1, undefined],
    ["a blank line", "  \t ", "blank line", 1, undefined],
    ["binary bytes", "\x16\x03\x01\x02\x00\x01\x00", "not text (binary bytes)", 1, "byte 0x16 at column 1"],
    ["a JSON line", '{"status":200,"remote_addr":"1.2.3.4"}', "a JSON object, not a Common or Combined line", 1, undefined],
    ["a leading space", ` ${ok}`, "fields not separated by single spaces", 1, undefined],
    ["a double space", ok.replace("1.2.3.4 ", "1.2.3.4  "), "fields not separated by single spaces", 9, undefined],
    ["a tab between fields", ok.replace("1.2.3.4 ", "1.2.3.4\t"), "fields not separated by single spaces", 8, undefined],
    ["a line that ends early", "1.2.3.4 - -", "too few fields", 12, "after the user field"],
    ["no time", '1.2.3.4 - - 27/Nov/2026:20:21:04 +0000 "GET / HTTP/1.1" 200 9', "no [time] after the user field", 13, undefined],
    ["a time in another shape", '1.2.3.4 - - [2026-11-27T20:21:04Z] "GET / HTTP/1.1" 200 9', "time not in [dd/Mon/yyyy:HH:MM:SS +zzzz] form", 13, undefined],
    ["31 November", ok.replace("27/Nov", "31/Nov"), "invalid date", 14, "31/Nov/2026"],
    ["no request after the time", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] GET / HTTP/1.1 200 9', "no quoted request after the time", 42, undefined],
    ["an unterminated request", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTT', "unterminated quote in the request", 42, undefined],
    ["a status of two digits", ok.replace(" 200 ", " 20 "), "status is not 3 digits", 59, undefined],
    ["no bytes field", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200', "too few fields", 59, "no bytes field"],
    ["bytes with letters", ok.replace(" 200 9 ", " 200 x9 "), "bytes is not a number or -", 63, "'x'"],
    ["bytes of 16 digits", ok.replace(" 200 9 ", " 200 1234567890123456 "), "bytes field longer than 15 digits", 63, undefined],
    ["junk after the bytes", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 x', "junk after the bytes field", 64, "' x'"],
    ["a referer without its quote", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-', "unterminated quote in the referer", 65, undefined],
    ["a referer and no agent", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-"', "no user agent after the referer", 68, undefined],
    ["an unterminated agent", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA', "unterminated quote in the user agent", 69, undefined],
    ["a field after the agent", `${ok} "203.0.113.9"`, "junk after the user agent", 73, `' "203.0.113.9"'`],
  ];
  test.each(cases)("%s", (_, text, reason, column, detail) => {
    for (const counter of [new ReferenceCounter(), new FastCombinedCounter()]) {
      // Behind valid lines, so the fast path's memos are warm when it meets the bad one.
      const counts = JSON.parse(feed(counter, new TextEncoder().encode(`${ok}\n${ok}\n${text}\n`), 1 << 16));
      expect(counts.lines.malformed).toBe(1);
      expect(counts.malformedReasons).toEqual([[reason, 1]]);
      const sample = counts.malformedSamples[0];
      expect(sample.column).toBe(column);
      expect(sample.reason.startsWith(reason)).toBe(true);
      if (detail) expect(sample.reason).toContain(detail);
    }
  });

  test("the per-reason counts add up to the malformed lines, and a sample is cut around its column", () => {
    const lines = cases.map(([, text]) => text);
    const long = `${ok.slice(0, -1)}${"x".repeat(1000)}" junk`;
    const bytes = new TextEncoder().encode(`${[...lines, long].join("\n")}\n`);
    const counts = JSON.parse(feed(new ReferenceCounter(), bytes, 1 << 16));
    const sum = counts.malformedReasons.reduce((a: number, [, n]: [string, number]) => a + n, 0);
    expect(sum).toBe(counts.lines.malformed);
    expect(counts.lines.malformed).toBe(cases.length + 1);
    const one = JSON.parse(feed(new ReferenceCounter(), new TextEncoder().encode(`${long}\n`), 1 << 16)).malformedSamples[0];
    expect(one.reason).toBe("junk after the user agent: ' junk'");
    // The sample holds the end of the line, where it broke, not its first 240 bytes.
    expect(one.text.endsWith('xx" junk')).toBe(true);
    expect(one.textStart).toBeGreaterThan(0);
    expect(one.text[one.column - 1 - one.textStart]).toBe(" ");
  });
});
