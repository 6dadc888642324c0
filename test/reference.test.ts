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
