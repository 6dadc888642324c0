import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { CountsPartial } from "../src/core/partial.ts";
import { quantile } from "../src/core/sketch.ts";
import { counterFor, type LineCounter } from "../src/count/counter.ts";
import { FastCombinedCounter } from "../src/count/fast/combined.ts";
import { LATENCY_QUEUE } from "../src/count/tally.ts";
import { compileFormat, FormatCounter } from "../src/count/format.ts";
import { type DurationKind, parseSeconds } from "../src/count/durations.ts";
import { combinedSuffixOf, isTimeList, SuffixReader } from "../src/count/suffix.ts";
import { generateText } from "../src/map/generate.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import { appendTimings, NGINX_TIMED_FORMAT } from "../src/map/timed-lines.ts";
import { fixture, rng } from "./helpers.ts";

const COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
const WITH_HOST = `${COMBINED} $request_time "$host"`;
const APACHE_D = 'apache:%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D';
const WITH_ID = `${COMBINED} rid=$request_id rt=$request_time`;

/** Feeds bytes in chunks of random sizes (lines cut across blocks), or whole. */
function feed(counter: LineCounter, bytes: Uint8Array, seed = 0): CountsPartial {
  const lines = new LineAssembler(counter);
  const r = rng(seed);
  for (let p = 0; p < bytes.length; ) {
    const n = seed === 0 ? bytes.length : 1 + Math.floor(r() * 300);
    lines.push(bytes.subarray(p, p + n));
    p += n;
  }
  lines.end();
  return counter.toCounts();
}

/** Every table's rows in one order, for parsers that meet keys in different orders. */
const sortedRows = (c: object) => JSON.parse(JSON.stringify(c, (_, v) => (Array.isArray(v) && v.every(Array.isArray) ? [...v].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : v)));

/** Everything but the malformed lines' reasons and samples, which each parser words its own way. */
const counts = ({ malformedSamples: _, malformedReasons: __, ...rest }: CountsPartial) => rest;

describe("isTimeList: a quick yes only for what parseSeconds reads as an upstream's times", () => {
  const bytes = (text: string) => Buffer.from(text, "latin1");
  test.each<[string, boolean]>([
    ["0.010, 0.020 : 0.005", true],
    ["0.010, 0.020", true],
    ["1.500 : 0.001", true],
    ["0.010", true],
    ["0.010,0.020", false],
    ["0.010, ", false],
    ["0.010 :", false],
    ["12.010, 0.020", false],
    ["0.01, 0.020", false],
    ["-, 0.020", false],
    ["", false],
  ])("%s: %p", (text, yes) => {
    expect(isTimeList(bytes(text), 0, text.length)).toBe(yes);
    if (yes) expect(parseSeconds(bytes(text), 0, text.length, "upstream")).toBeGreaterThanOrEqual(0);
  });
  test("random lists: never yes where parseSeconds says no, and yes for every list of d.ddd times", () => {
    const r = rng(17);
    const pieces = ["0.010", "1.234", ", ", " : ", ",", " ", "-", "9", "0.0", ".", "12.345", "0.0100"];
    for (let n = 0; n < 20_000; n++) {
      let text = "";
      for (let k = 1 + Math.floor(r() * 6); k > 0; k--) text += pieces[Math.floor(r() * pieces.length)]!;
      const b = bytes(text);
      if (isTimeList(b, 0, b.length) && parseSeconds(b, 0, b.length, "upstream") < 0) throw new Error(`yes for ${JSON.stringify(text)}`);
      const list = Array.from({ length: 1 + Math.floor(r() * 4) }, () => `${Math.floor(r() * 10)}.${String(Math.floor(r() * 1000)).padStart(3, "0")}`);
      const joined = list.reduce((acc, t, i) => (i === 0 ? t : acc + (r() < 0.5 ? ", " : " : ") + t), "");
      expect(isTimeList(bytes(joined), 0, joined.length)).toBe(true);
    }
  });
});

describe("combinedSuffixOf", () => {
  test.each<[string, string, string[] | null]>([
    ["nginx with times appended", NGINX_TIMED_FORMAT, ["duration", "upstream"]],
    ["a quoted host after a time", WITH_HOST, ["duration", "host"]],
    ["Apache with %D", APACHE_D, ["duration-us"]],
    ["labelled fields", WITH_ID, ["skip", "duration"]],
    ["Combined itself: nothing appended", COMBINED, null],
    ["vhost_combined: a field before", "vhost_combined", null],
    ["Common with a time: no referer and agent", '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $request_time', null],
    ["a second time after the agent", `${COMBINED} $time_iso8601`, null],
  ])("%s", (_, spec, kinds) => {
    const suffix = combinedSuffixOf(compileFormat(spec));
    expect(suffix && suffix.fields.map((f) => f.kind as string)).toEqual(kinds);
  });
});

describe("the fast path with appended fields reads what the format counter reads", () => {
  const base = readFileSync(fixture("nginx-access.log"), "latin1").split("\n").filter(Boolean);
  // Valid and broken suffixes, each on its own line after a real Combined line.
  const SUFFIXES: Record<string, string[]> = {
    [NGINX_TIMED_FORMAT]: [
      " 0.012 0.010", " 0.000 -", " 1.5 0.010, 0.020 : 0.005", " - -", " 0.012", " 0.012 0.010 extra", "0.012 0.010", " 0.012  0.010",
      " 0.0x1 0.010", " 12 7", " 0.012 0.010\r", "", ' "0.1" 0.2', " 123456789012.123456789 1",
    ],
    [WITH_HOST]: [' 0.2 "www.example.com"', ' 0.2 "a b"', ' 0.2 ""', ' 0.2 "x\\"y"', " 0.2 www", ' 0.2 "h" ', ' 0.250 "\tx"'],
    [APACHE_D]: [" 1234", " 0", " -", " 12.5", " 1234567890123456", " 1234 "],
    [WITH_ID]: [" rid=abc rt=0.3", " rid= rt=0.3", " rid=abc rt=", " rid=a rt=b rt=0.1", " rt=0.3"],
  };

  test.each(Object.keys(SUFFIXES))("%s", (spec) => {
    const lines: string[] = [];
    for (const [k, line] of base.entries()) {
      const variants = SUFFIXES[spec]!;
      lines.push(line + variants[k % variants.length]!);
    }
    // Lines that fail before the suffix: Common, junk inside, an empty one.
    lines.push('1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9', "", "garbage", `${base[0]!.slice(0, 40)}`);
    const bytes = Buffer.from(`${lines.join("\n")}\n`, "latin1");
    const format = compileFormat(spec);
    const want = counts(feed(new FormatCounter(format), bytes));
    expect(want.lines.valid).toBeGreaterThan(100);
    expect(want.lines.malformed).toBeGreaterThanOrEqual(4);
    const fast = counterFor({ format: spec, window: {}, counters: "full" });
    expect(fast).toBeInstanceOf(FastCombinedCounter);
    expect(counts(feed(fast, bytes))).toEqual(want);
    // Cut anywhere across blocks, the same.
    expect(counts(feed(counterFor({ format: spec, window: {}, counters: "full" }), bytes, 7))).toEqual(want);
  });

  test("generated nginx-timed lines: the same counts as the format counter, and the Combined counts of the lines without times", () => {
    const plain = new TextEncoder().encode(generateText(5, 0, 30_000));
    const timed = new Uint8Array(plain.length + 30_000 * 40);
    const n = appendTimings(plain, plain.length, 0, 5, timed);
    const bytes = timed.subarray(0, n);
    const fast = feed(counterFor({ format: NGINX_TIMED_FORMAT, window: {}, counters: "full" }), bytes);
    expect(fast).toEqual(feed(new FormatCounter(compileFormat(NGINX_TIMED_FORMAT)), bytes));
    const { latency, ...rest } = fast;
    expect(rest).toEqual(feed(new FastCombinedCounter(), plain));
    expect(latency!.all.count).toBe(30_000);
  });

  test("agents the index of tail starts cannot tell apart, quotes in them and after them: what the format counter reads", () => {
    // Many agents sharing their first bytes, so the fast path finds their closing quote without the index.
    const format = `${COMBINED} $request_time $http_x_token`;
    const r = rng(3);
    const tokens = ["abc", 'a"b', '"', 'x\\"', "-", '"q"', "z", "a b"];
    const lines: string[] = [];
    for (let k = 0; k < 4000; k++) {
      const agent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) v${Math.floor(r() * 900)}${k % 9 === 0 ? ' \\"quoted\\"' : ""}`;
      const time = k % 13 === 0 ? "0.1x" : `${Math.floor(r() * 3)}.${String(Math.floor(r() * 1000)).padStart(3, "0")}`;
      lines.push(`10.0.0.${k % 50} - - [27/Nov/2026:10:00:${String(k % 60).padStart(2, "0")} +0000] "GET /p${k % 7} HTTP/1.1" 200 ${k} "-" "${agent}" ${time} ${tokens[k % tokens.length]}`);
    }
    const bytes = Buffer.from(`${lines.join("\n")}\n`, "latin1");
    const want = counts(feed(new FormatCounter(compileFormat(format)), bytes));
    expect(want.lines.valid).toBeGreaterThan(3000);
    expect(want.lines.malformed).toBeGreaterThan(0);
    const fast = counterFor({ format, window: {}, counters: "full" });
    expect(fast).toBeInstanceOf(FastCombinedCounter);
    expect(counts(feed(fast, bytes))).toEqual(want);
  });

  test("one block of many more timed lines than the latency queue holds: every line's time counted once, in order", () => {
    const plain = new TextEncoder().encode(generateText(9, 0, 5 * LATENCY_QUEUE + 7));
    const timed = new Uint8Array(plain.length + plain.length);
    const bytes = timed.subarray(0, appendTimings(plain, plain.length, 0, 9, timed));
    const fast = counterFor({ format: NGINX_TIMED_FORMAT, window: {}, counters: "full" });
    expect(fast.countBlock(bytes, 0, bytes.length, true, 0)).toBe(bytes.length);
    const want = feed(new FormatCounter(compileFormat(NGINX_TIMED_FORMAT)), bytes);
    expect(fast.toCounts()).toEqual(want);
    expect(want.latency!.all.count).toBe(5 * LATENCY_QUEUE + 7);
  });
});

describe("vhost_combined on the fast path reads what the format counter reads", () => {
  const base = readFileSync(fixture("apache-access.log"), "latin1").split("\n").filter(Boolean);
  // Valid and broken "host:port " starts, each before a real Combined line (some of them Common, which vhost_combined has not).
  const PREFIXES = [
    "www.example.com:443 ", "blog.example.com:80 ", "x:- ", "WWW.Example.COM:8080 ", "www.example.com:443  ", "www.example.com 443 ", ":80 ",
    "www.example.com: ", "www.example.com:44a3 ", "a b:80 ", "www.example.com:443", "[::1]:80 ", "h\t:80 ",
  ];
  const cases: Array<[string, string, (k: number) => string]> = [
    ["vhost_combined", "vhost_combined", () => ""],
    ["vhost_combined with %D", 'apache:%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D', (k) => [" 1234", " 0", " x", ""][k % 4]!],
  ];
  test.each(cases)("%s", (_, spec, suffixOf) => {
    const lines = base.map((l, k) => PREFIXES[k % PREFIXES.length]! + l + suffixOf(k));
    lines.push("", "www.example.com:443 ", "garbage");
    const bytes = Buffer.from(`${lines.join("\n")}\n`, "latin1");
    const want = counts(feed(new FormatCounter(compileFormat(spec)), bytes));
    expect(want.lines.valid).toBeGreaterThan(100);
    expect(want.lines.malformed).toBeGreaterThan(200);
    const fast = counterFor({ format: spec, window: {}, counters: "full" });
    expect(fast).toBeInstanceOf(FastCombinedCounter);
    // The host is met before the rest of the line is known valid: host rows may come in another order.
    expect(sortedRows(counts(feed(fast, bytes)))).toEqual(sortedRows(want));
    expect(sortedRows(counts(feed(counterFor({ format: spec, window: {}, counters: "full" }), bytes, 11)))).toEqual(sortedRows(want));
    // And with --vhost: the same rows (in the order each path meets them).
    const slow = new FormatCounter(compileFormat(spec));
    slow.tally.onlyHosts(["www.example.com"]);
    const filtered = counts(feed(slow, bytes));
    expect(filtered.lines.filtered).toBeGreaterThan(50);
    expect(sortedRows(counts(feed(counterFor({ format: spec, window: {}, counters: "full", hosts: ["www.example.com"] }), bytes, 5)))).toEqual(sortedRows(filtered));
  });
});

describe("--vhost on the fast path with appended fields", () => {
  test("a host after the agent: the lines of the other hosts are filtered out, as the format counter does", () => {
    const base = readFileSync(fixture("nginx-access.log"), "latin1").split("\n").filter(Boolean);
    const hosts = ["www.example.com", "api.example.com", "WWW.example.com:443"];
    const bytes = Buffer.from(`${base.map((l, k) => `${l} 0.${String(k % 1000).padStart(3, "0")} "${hosts[k % 3]}"`).join("\n")}\n`, "latin1");
    const task = { format: WITH_HOST, window: {}, counters: "full" as const, hosts: ["www.example.com"] };
    const fast = counterFor(task);
    expect(fast).toBeInstanceOf(FastCombinedCounter);
    const slow = new FormatCounter(compileFormat(WITH_HOST));
    slow.tally.onlyHosts(task.hosts);
    const want = counts(feed(slow, bytes));
    // Two of the three hosts' spellings are www.example.com (case and port aside).
    expect(want.requests).toBe(base.filter((_, k) => k % 3 !== 1).length);
    expect(want.lines.filtered).toBe(base.filter((_, k) => k % 3 === 1).length);
    // The fast path meets a line's keys before its host: the same rows, in another order.
    expect(sortedRows(counts(feed(fast, bytes)))).toEqual(sortedRows(want));
    expect(sortedRows(counts(feed(counterFor(task), bytes, 3)))).toEqual(sortedRows(want));
  });
});

describe("times read inline are parseSeconds's, to the bit", () => {
  const ms = Array.from({ length: 3000 }, (_, k) => (k / 1000).toFixed(3));
  const odd = ["12.345", "999.999", "1000.000", "0.1", "1", "1.23456", "01.000", "0.0001", "7.00", ".123", "1.", "1.2x4", "0,010"];
  test.each<[string, string, string[]]>([
    ["$request_time $upstream_response_time", NGINX_TIMED_FORMAT, [...ms, ...odd].map((v) => ` ${v} -`)],
    ["an upstream time alone", `${COMBINED} $upstream_response_time`, [...ms.slice(0, 200), ...odd, "0.001, 0.002", "0.001 : 0.002", "-"].map((v) => ` ${v}`)],
    ["Apache's %D", APACHE_D, ["0", "1", "999999", "123456789012345", "1234567890123456", "12a", ""].map((v) => ` ${v}`)],
  ])("%s", (_, spec, suffixes) => {
    const format = compileFormat(spec);
    const suffix = combinedSuffixOf(format)!;
    const reader = new SuffixReader(suffix);
    const kind = suffix.fields[suffix.latency]!.kind as DurationKind;
    for (const text of suffixes) {
      const bytes = Buffer.from(text, "latin1");
      const end = reader.read(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, true);
      // The time is the first field: all of the suffix, or up to its last space when another follows.
      const value = suffix.fields.length === 1 ? text.slice(1) : text.slice(1, text.lastIndexOf(" "));
      const want = parseSeconds(Buffer.from(value, "latin1"), 0, value.length, kind);
      if (end < 0) expect([text, want < 0 || value === ""]).toEqual([text, true]);
      else expect([text, reader.seconds]).toEqual([text, want]);
    }
  });
});

describe("response times by path", () => {
  test("each path's count, max and percentiles against the exact values of its lines, methods together", () => {
    const plain = generateText(11, 0, 20_000);
    const bytes = new TextEncoder().encode(plain);
    const timed = new Uint8Array(bytes.length + 20_000 * 40);
    const text = new TextDecoder().decode(timed.subarray(0, appendTimings(bytes, bytes.length, 0, 11, timed)));
    // The oracle: a regular expression over the text, exact values sorted.
    const byPath = new Map<string, number[]>();
    for (const line of text.split("\n").filter(Boolean)) {
      const m = /"[A-Z]+ ([^ ?]*)[^"]*" \d{3} \d+ "[^"]*" "[^"]*" ([\d.]+) /.exec(line)!;
      const list = byPath.get(m[1]!) ?? [];
      list.push(Number(m[2]));
      byPath.set(m[1]!, list);
    }
    const got = feed(counterFor({ format: NGINX_TIMED_FORMAT, window: {}, counters: "full" }), new TextEncoder().encode(text));
    const sketches = new Map(got.latency!.byPath!);
    expect([...sketches.keys()].sort()).toEqual([...byPath.keys()].sort());
    for (const [path, values] of byPath) {
      const s = sketches.get(path)!;
      const sorted = values.sort((a, b) => a - b);
      expect(s.count).toBe(values.length);
      expect(s.max).toBe(sorted.at(-1)!);
      for (const q of [0.5, 0.95, 0.99]) {
        const exact = sorted[Math.floor(q * (sorted.length - 1))]!;
        expect(Math.abs(quantile(s, q)! - exact)).toBeLessThanOrEqual(exact * 0.01 + 1e-12);
      }
    }
  });
});
