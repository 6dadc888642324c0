import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FastCombinedCounter as LogCounter } from "../src/count/fast/combined.ts";
import { countFileRange, FileChangedError, LineAssembler } from "../src/map/read-input.ts";
import { generateText } from "../src/map/generate.ts";
import { mergeAll, type CountsPartial } from "../src/core/partial.ts";
import { oracleCount, sorted, toMap } from "./oracle.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "logmr-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Counts the file as byte ranges cut at `cuts`, and checks what the ranges
 * say they covered: end to end, from 0 to the file's size, each byte once.
 */
function countRanges(path: string, cuts: number[], size: number): CountsPartial {
  const bounds = [0, ...cuts, size];
  const fd = openSync(path, "r");
  try {
    let at = 0;
    return mergeAll(
      bounds.slice(1).map((end, k) => {
        const counter = new LogCounter();
        const [from, to] = countFileRange(fd, bounds[k]!, end, counter, { size });
        expect(from).toBe(at);
        at = to;
        if (k === bounds.length - 2) expect(to).toBe(size);
        return counter.toCounts();
      }),
    );
  } finally {
    closeSync(fd);
  }
}

const summary = (p: CountsPartial) => ({
  lines: p.lines,
  clients: sorted(toMap(p.clients)),
  status: sorted(toMap(p.status)),
  agents: sorted(toMap(p.agents)),
  samples: p.malformedSamples.map((s) => s.offset),
});

describe("splitting a file into byte ranges", () => {
  // A few KB with every awkward thing: CRLF, empty lines, garbage, no final newline.
  const lines = generateText(5, 0, 20).split("\n").slice(0, 20);
  lines.splice(3, 0, "");
  lines.splice(7, 0, "garbage line \x00\xff");
  lines[10] = `${lines[10]}\r`;
  lines.splice(12, 0, "\r");
  const text = lines.join("\n"); // no final newline
  const path = join(dir, "small.log");
  writeFileSync(path, Buffer.from(text, "latin1"));
  const size = Buffer.byteLength(text, "latin1");
  const whole = summary(countRanges(path, [], size));

  test("the whole file has the expected line counts", () => {
    expect(whole.lines.read).toBe(lines.length);
    expect(whole.lines.malformed).toBe(3);
  });

  test("one cut at every byte offset gives identical counts", () => {
    for (let cut = 0; cut <= size; cut++) expect(summary(countRanges(path, [cut], size))).toEqual(whole);
  });

  test("random sets of cuts give identical counts", () => {
    let s = 12345;
    const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
    for (let trial = 0; trial < 300; trial++) {
      const cuts = Array.from({ length: 1 + Math.floor(next() * 8) }, () => Math.floor(next() * (size + 1))).sort((a, b) => a - b);
      expect(summary(countRanges(path, cuts, size))).toEqual(whole);
    }
  });

  test("ranges past the end and empty ranges are harmless", () => {
    const counter = new LogCounter();
    const fd = openSync(path, "r");
    expect(countFileRange(fd, size, size, counter, { size })).toEqual([size, size]);
    closeSync(fd);
    expect(counter.toCounts().lines.read).toBe(0);
  });

  test("a file shorter than its planned size is an error, not a short count", () => {
    const fd = openSync(path, "r");
    try {
      expect(() => countFileRange(fd, 0, size + 10, new LogCounter(), { size: size + 10, name: "x.log" })).toThrow(FileChangedError);
      expect(() => countFileRange(fd, 0, size + 10, new LogCounter(), { size: size + 10, name: "x.log" })).toThrow(`x.log was truncated during the analysis: ${(size + 10).toLocaleString("en-US")} -> ${size.toLocaleString("en-US")} bytes`);
    } finally {
      closeSync(fd);
    }
  });

  test("bytes past the planned size are not read (a log that grows during the run)", () => {
    const fd = openSync(path, "r");
    const cut = text.indexOf("\n", 100) + 1;
    const counter = new LogCounter();
    expect(countFileRange(fd, 0, cut, counter, { size: cut })).toEqual([0, cut]);
    closeSync(fd);
    expect(counter.toCounts().lines.read).toBe(text.slice(0, cut).split("\n").length - 1);
  });
});

describe("hostile files: random bytes and mutated lines, cut at random offsets", () => {
  test.each([11, 22, 33, 44, 55])("seed %i", (seed) => {
    let s = seed;
    const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
    const valid = generateText(seed, 0, 200).split("\n").slice(0, 200);
    const parts: string[] = [];
    for (const line of valid) {
      const roll = next();
      if (roll < 0.6) parts.push(line);
      else if (roll < 0.75) parts.push(Array.from({ length: Math.floor(next() * 400) }, () => String.fromCharCode(Math.floor(next() * 256))).join(""));
      else if (roll < 0.9) {
        const at = Math.floor(next() * line.length);
        parts.push(line.slice(0, at) + String.fromCharCode(Math.floor(next() * 256)) + line.slice(at + 1));
      } else parts.push(`${line}\r`);
    }
    const text = parts.join(next() < 0.5 ? "\n" : "\n\n");
    const path = join(dir, `hostile-${seed}.log`);
    writeFileSync(path, Buffer.from(text, "latin1"));
    const size = Buffer.byteLength(text, "latin1");
    const whole = countRanges(path, [], size);
    const o = oracleCount(text);
    expect(whole.lines.read).toBe(o.read);
    expect(whole.lines.valid + whole.lines.malformed).toBe(whole.lines.read);
    expect(whole.lines.valid).toBe(o.valid);
    expect(sorted(toMap(whole.clients))).toEqual(sorted(o.clients));
    for (let trial = 0; trial < 40; trial++) {
      const cuts = Array.from({ length: 1 + Math.floor(next() * 6) }, () => Math.floor(next() * (size + 1))).sort((a, b) => a - b);
      expect(summary(countRanges(path, cuts, size))).toEqual(summary(whole));
    }
  });
});

describe("LineAssembler", () => {
  test("any chunking of a stream gives the same counts", () => {
    const bytes = new TextEncoder().encode(`${generateText(8, 0, 500)}bad line\r\nlast line without newline`);
    const reference = new LogCounter();
    const whole = new LineAssembler(reference);
    whole.push(bytes);
    whole.end();
    for (const chunk of [1, 2, 3, 7, 64, 1000, 4096]) {
      const counter = new LogCounter();
      const lines = new LineAssembler(counter, { bufferBytes: 8192 });
      for (let at = 0; at < bytes.length; at += chunk) lines.push(bytes.subarray(at, at + chunk));
      lines.end();
      expect(summary(counter.toCounts())).toEqual(summary(reference.toCounts()));
    }
  });
});

describe("a last line without its newline", () => {
  // What an earlier read left in the buffer past the line must not change what the line is called.
  test.each([
    ["after a client", "203.0.113.199"],
    ["after the user field", "203.0.113.199 - -"],
    ["inside the time", "203.0.113.199 - - [27/Nov/2026:10:0"],
  ])("cut %s: the same reason whatever bytes follow it in the buffer", (_where, fragment) => {
    const reasons = ["", `${"x ".repeat(40)}\n`, `${" ".repeat(80)}\n`, `${"[".repeat(80)}\n`].map((before) => {
      const counter = new LogCounter();
      const lines = new LineAssembler(counter, { firstBytes: 128 });
      lines.push(new TextEncoder().encode(before + fragment));
      lines.end();
      const last = counter.toCounts().malformedSamples.at(-1);
      expect(last?.text).toBe(fragment);
      return last?.reason;
    });
    expect(new Set(reasons)).toEqual(new Set([reasons[0]]));
  });
});
