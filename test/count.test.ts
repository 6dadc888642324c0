import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { NO_TIME, parseLogTime } from "../src/count/clf.ts";
import type { LineCounter } from "../src/count/counter.ts";
import { FastCombinedCounter as LogCounter } from "../src/count/fast/combined.ts";
import { ReferenceCounter } from "../src/count/reference.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import type { CountsPartial } from "../src/core/partial.ts";
import { rng } from "./helpers.ts";
import { binary, type OracleCounts, oracleCount, sorted, toMap } from "./oracle.ts";

const enc = new TextEncoder();
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

function feed(counter: LineCounter, bytes: Uint8Array, chunk = bytes.length): CountsPartial {
  const lines = new LineAssembler(counter);
  for (let at = 0; at < bytes.length; at += chunk) lines.push(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
  lines.end();
  return counter.toCounts();
}

/**
 * Counts with the fast path, and checks on the way that the plain reference
 * parser gives byte-identical counts: every test of this file holds the
 * fast path to the reference as well as to the oracle or the truth.
 */
function countBytes(bytes: Uint8Array, window = {}, chunk?: number): { toCounts(): CountsPartial } {
  const fast = feed(new LogCounter(window), bytes, chunk);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(feed(new ReferenceCounter(window), bytes, chunk)));
  return { toCounts: () => fast };
}
const countText = (text: string) => countBytes(enc.encode(text));

/** Every keyed count (clients, methods, paths, 404 paths, referrers, agents) equals the oracle's. */
function expectKeyCountsLikeOracle(c: CountsPartial, o: OracleCounts): void {
  expect(sorted(toMap(c.clients))).toEqual(sorted(o.clients));
  expect(sorted(toMap(c.methods))).toEqual(sorted(o.methods));
  expect(sorted(toMap(c.paths))).toEqual(sorted(o.paths));
  expect(sorted(toMap(c.notFoundPaths))).toEqual(sorted(o.notFoundPaths));
  expect(sorted(toMap(c.referrers))).toEqual(sorted(o.referrers));
  expect(sorted(toMap(c.agents))).toEqual(sorted(o.agents));
}

describe("fixtures: counts equal the independent truth files", () => {
  const cases = [
    ["nginx-access.log", false],
    ["apache-access.log", false],
    ["mixed-garbage.log", false],
    ["nginx-access.log.gz", true],
  ] as const;
  for (const [name, gzipped] of cases) {
    test(name, () => {
      const raw = new Uint8Array(readFileSync(fixture(name)));
      const bytes = gzipped ? new Uint8Array(gunzipSync(raw)) : raw;
      const truth = JSON.parse(readFileSync(fixture(`${name}.truth.json`), "utf8"));
      const counts = countBytes(bytes).toCounts();
      expect(counts.lines.read).toBe(truth.total_lines);
      expect(counts.lines.valid).toBe(truth.valid_lines);
      expect(counts.lines.malformed).toBe(truth.malformed_lines);
      expect(counts.lines.combined).toBe(truth.valid_combined_lines);
      expect(counts.lines.common).toBe(truth.valid_common_lines);
      expect(counts.malformedSamples.map((s) => s.line)).toEqual(truth.malformed_line_numbers.slice(0, 5));
      expect(counts.bytes).toBe(truth.total_bytes);
      expect(counts.clients.length).toBe(truth.unique_clients);
      expect(Object.fromEntries(toMap(counts.clients))).toEqual(truth.clients);
      expect(Object.fromEntries(toMap(counts.status))).toEqual(truth.status);
      expect(Object.fromEntries(toMap(counts.methods))).toEqual(truth.methods);
      const notFound = Object.fromEntries(counts.clients.filter((c) => c[4] > 0).map((c) => [c[0], c[4]]));
      expect(notFound).toEqual(truth.not_found_404_by_client);
      const top = [...counts.paths].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
      expect(top.map(([path, count]) => ({ path, count }))).toEqual(truth.top_paths);
    });
  }

  test("the oracle agrees with the truth too (so it can judge generated data)", () => {
    const truth = JSON.parse(readFileSync(fixture("mixed-garbage.log.truth.json"), "utf8"));
    const o = oracleCount(binary(new Uint8Array(readFileSync(fixture("mixed-garbage.log")))));
    expect(o.malformedLines).toEqual(truth.malformed_line_numbers);
    expect(Object.fromEntries(o.clients)).toEqual(truth.clients);
    expect(Object.fromEntries(o.methods)).toEqual(truth.methods);
  });
});

const VALID: Array<[string, string]> = [
  ["common", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 512'],
  ["combined", '1.2.3.4 - bob [27/Nov/2026:20:21:04 +0100] "GET /a?b=1 HTTP/1.1" 200 512 "http://r/" "UA/1.0"'],
  ["IPv6 client", '2001:db8::1 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 1'],
  ["hostname client", 'crawler.example.org - - [27/Nov/2026:20:21:04 -0530] "HEAD / HTTP/1.0" 301 0'],
  ["bytes -", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 304 -'],
  ["request -", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "-" 400 0 "-" "-"'],
  ["empty request", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "" 400 0 "-" "-"'],
  ["nginx \\x22 escapes", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET /\\x22a\\x22 HTTP/1.1" 404 9 "-" "say \\x22hi\\x22"'],
  ["apache \\\" escapes", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET /\\"a\\" HTTP/1.1" 404 9 "-" "say \\"hi\\""'],
  ["agent ending in an escaped backslash", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "tool\\\\"'],
  ["empty user agent", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" ""'],
  ["leap day", '1.2.3.4 - - [29/Feb/2024:23:59:59 +0000] "GET / HTTP/1.1" 200 9'],
  ["CRLF ending", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9\r'],
  ["control byte in host", '1.2\x01.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["15-digit bytes", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 999999999999999 "-" "UA"'],
];

const MALFORMED: Array<[string, string]> = [
  ["empty line", ""],
  ["blank line", "   \t "],
  ["truncated", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HT'],
  ["no brackets", '1.2.3.4 - - 27/Nov/2026:20:21:04 +0000 "GET / HTTP/1.1" 200 9'],
  ["bad month", '1.2.3.4 - - [27/Foo/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["day 32", '1.2.3.4 - - [32/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["31 November", '1.2.3.4 - - [31/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["29 Feb of a common year", '1.2.3.4 - - [29/Feb/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["hour 24", '1.2.3.4 - - [27/Nov/2026:24:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["bad zone", '1.2.3.4 - - [27/Nov/2026:20:21:04 0000] "GET / HTTP/1.1" 200 9'],
  ["status not 3 digits", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 20 9'],
  ["status letters", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" abc 9'],
  ["bytes letters", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9x'],
  ["bytes missing", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200'],
  ["raw quote in request", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET /a"b HTTP/1.1" 200 9'],
  ["referer without agent", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-"'],
  ["trailing junk", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" x'],
  ["unterminated agent", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA\\"'],
  ["double space", '1.2.3.4  - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["tab separator", '1.2.3.4\t- - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["leading space", ' 1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["syslog prefix", 'Nov 27 21:14:40 web01 nginx: 1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9'],
  ["JSON line", '{"time":"2026-11-27T21:14:40+00:00","remote_addr":"127.0.0.1","status":200}'],
  ["binary", "\x00\x01\x02\xff\xfe garbage"],
  ["lone CR", "\r"],
];

describe("parser", () => {
  test.each(VALID)("accepts %s", (_, line) => {
    const counts = countText(`${line}\n`).toCounts();
    expect(counts.lines).toMatchObject({ read: 1, valid: 1, malformed: 0 });
    expect(oracleCount(`${line}\n`).valid).toBe(1);
  });

  test.each(MALFORMED)("rejects %s", (_, line) => {
    const counts = countText(`${line}\n`).toCounts();
    expect(counts.lines).toMatchObject({ read: 1, valid: 0, malformed: 1 });
    expect(counts.malformedSamples[0]?.line).toBe(1);
  });

  test.each([
    ["16 digits, Combined", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 1234567890123456 "-" "UA"'],
    ["17 digits, Common", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 12345678901234567'],
  ])("a bytes field of %s is malformed, with the reason (a double would not hold it exactly)", (_, line) => {
    // Behind a valid line of the same shape, so the fast path sees it first.
    const ok = '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 12 "-" "UA"';
    const counts = countText(`${ok}\n${line}\n${ok}\n`).toCounts();
    expect(counts.lines).toMatchObject({ read: 3, valid: 2, malformed: 1 });
    expect(counts.bytes).toBe(24);
    expect(counts.malformedSamples[0]).toMatchObject({ line: 2, reason: "bytes field longer than 15 digits" });
    expect(oracleCount(`${line}\n`).valid).toBe(0);
  });

  test("fields are taken as written: method, path cut at ?, referer and agent", () => {
    const c = countText(
      '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "POST /api/x?q=1 HTTP/1.1" 404 7 "http://r/?a=\\"b\\"" "UA \\x22q\\x22"\n' +
        '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GARBAGE" 400 -\n',
    ).toCounts();
    expect(sorted(toMap(c.methods))).toEqual([["GARBAGE", 1], ["POST", 1]]);
    expect(c.paths).toEqual([["/api/x", 1]]);
    expect(c.notFoundPaths).toEqual([["/api/x", 1]]);
    expect(c.referrers).toEqual([['http://r/?a=\\"b\\"', 1]]);
    expect(c.agents).toEqual([["UA \\x22q\\x22", 1]]);
    expect(c.bytes).toBe(7);
  });

  test("thousands of distinct keys in every table count exactly (tables grow mid-run)", () => {
    const lines: string[] = [];
    for (let k = 0; k < 5000; k++) {
      lines.push(`10.${k % 7}.${k % 251}.1 - - [27/Nov/2026:20:21:04 +0000] "M${k % 97} /p/${k % 3001}?x HTTP/1.1" ${k % 2 ? 404 : 200} ${k} "r${k % 1009}" "agent ${k % 2003} with a long enough tail to be sampled"`);
    }
    const text = `${lines.join("\n")}\n`;
    const c = countText(text).toCounts();
    const o = oracleCount(text);
    expectKeyCountsLikeOracle(c, o);
  });

  test("a final line without LF counts; an empty final segment does not", () => {
    const line = '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9';
    expect(countText(`${line}\n${line}`).toCounts().lines.valid).toBe(2);
    expect(countText(`${line}\n${line}\n`).toCounts().lines.read).toBe(2);
    expect(countText(`${line}\r\n\r\n${line}\r`).toCounts().lines).toMatchObject({ read: 3, valid: 2, malformed: 1 });
  });

  test("a line longer than the buffer is one malformed line and the next line still counts", () => {
    const line = '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9';
    const counter = new LogCounter();
    const lines = new LineAssembler(counter, { bufferBytes: 4096 });
    lines.push(enc.encode(`${line}\n${"x".repeat(10_000)}\n${line}\n`));
    lines.end();
    const c = counter.toCounts();
    expect(c.lines).toMatchObject({ read: 3, valid: 2, malformed: 1 });
    expect(c.malformedSamples[0]).toMatchObject({ line: 2, reason: "line too long" });
  });

  test("consecutive lines that differ only in the zone's sign or a digit get their own times", () => {
    const at = (t: string) => `1.2.3.4 - - [${t}] "GET / HTTP/1.1" 200 9\n`;
    const text = at("27/Nov/2026:10:00:00 +0100") + at("27/Nov/2026:10:00:00 -0100") + at("27/Nov/2026:10:00:00 -0100") + at("27/Nov/2026:10:00:01 -0100") + at("28/Nov/2026:10:00:01 -0100");
    const c = countText(text).toCounts();
    expect(c.minutes).toEqual([
      [Date.UTC(2026, 10, 27, 9) / 60000, 1, 0, 0],
      [Date.UTC(2026, 10, 27, 11) / 60000, 3, 0, 0],
      [Date.UTC(2026, 10, 28, 11) / 60000, 1, 0, 0],
    ]);
    expect(c.firstTime).toBe(Date.UTC(2026, 10, 27, 9) / 1000);
    expect(c.lastTime).toBe(Date.UTC(2026, 10, 28, 11, 0, 1) / 1000);
  });

  test("a line with a valid date but an invalid clock leaves no trace in the time cache", () => {
    const at = (t: string) => `1.2.3.4 - - [${t}] "GET / HTTP/1.1" 200 9\n`;
    const text = at("27/Nov/2026:10:00:00 +0000") + at("28/Dec/2026:99:00:00 +0000") + at("27/Nov/2026:10:00:01 +0000");
    const c = countText(text).toCounts();
    expect(c.lines).toMatchObject({ valid: 2, malformed: 1 });
    expect(c.lastTime).toBe(Date.UTC(2026, 10, 27, 10, 0, 1) / 1000);
  });

  test("a line one second before 1970 is a real time, and a time made of NUL bytes is none", () => {
    const at = (t: string) => `1.2.3.4 - - [${t}] "GET / HTTP/1.1" 200 9\n`;
    const text = at("31/Dec/1969:23:59:59 +0000") + at("\0".repeat(26)) + at("01/Jan/1970:00:00:00 +0000");
    const c = countText(text).toCounts();
    expect(c.lines).toMatchObject({ valid: 2, malformed: 1 });
    expect([c.firstTime, c.lastTime]).toEqual([-1, 0]);
    // The very first line of a counter, before any time was remembered.
    expect(countText(at("\0".repeat(26))).toCounts().lines).toMatchObject({ valid: 0, malformed: 1 });
  });

  test("the time window keeps since <= t < until, comparing in UTC", () => {
    const at = (t: string) => `1.2.3.4 - - [${t}] "GET / HTTP/1.1" 200 9\n`;
    const text = at("27/Nov/2026:10:00:00 +0000") + at("27/Nov/2026:11:59:59 +0100") + at("27/Nov/2026:11:00:00 +0000") + at("27/Nov/2026:12:00:00 +0100");
    const since = Date.UTC(2026, 10, 27, 10, 30) / 1000;
    const until = Date.UTC(2026, 10, 27, 11, 0) / 1000;
    const c = countBytes(enc.encode(text), { since, until }).toCounts();
    // 11:59:59+0100 is 10:59:59Z (in); 12:00:00+0100 is 11:00:00Z (out, until is exclusive).
    expect(c.requests).toBe(1);
    expect(c.lines.outOfWindow).toBe(3);
    expect(oracleCount(text, { since, until }).clients.get("1.2.3.4")).toBe(1);
  });
});

describe("parseLogTime", () => {
  const cases: Array<[string, number]> = [
    ["27/Nov/2026:20:21:04 +0000", Date.UTC(2026, 10, 27, 20, 21, 4)],
    ["01/Jan/1970:00:00:00 +0000", 0],
    ["31/Dec/1969:23:59:59 +0000", -1000],
    ["27/Nov/2026:20:21:04 +0530", Date.UTC(2026, 10, 27, 14, 51, 4)],
    ["27/Nov/2026:20:21:04 -0800", Date.UTC(2026, 10, 28, 4, 21, 4)],
    ["29/Feb/2000:12:00:00 +0000", Date.UTC(2000, 1, 29, 12)],
    ["31/Dec/1999:23:59:59 +0000", Date.UTC(1999, 11, 31, 23, 59, 59)],
    ["15/Mar/2099:01:02:03 +0000", Date.UTC(2099, 2, 15, 1, 2, 3)],
  ];
  test.each(cases)("%s", (text, expected) => {
    expect(parseLogTime(enc.encode(text), 0)).toBe(expected / 1000);
  });
  test.each(["29/Feb/1900:00:00:00 +0000", "00/Jan/2026:00:00:00 +0000", "10/jan/2026:00:00:00 +0000", "10/Jan/2026:00:60:00 +0000"])(
    "rejects %s",
    (text) => expect(parseLogTime(enc.encode(text), 0)).toBe(NO_TIME),
  );
});

describe("garbage never shifts the counts of the valid lines around it", () => {
  const valid = VALID.map(([, l]) => l.replace(/\r$/, ""));
  test.each([1, 2, 3, 4, 5, 6, 7, 8])("seed %i", (seed) => {
    const r = rng(seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
    const parts: string[] = [];
    const clean: string[] = [];
    for (let k = 0; k < 300; k++) {
      const roll = r();
      if (roll < 0.5) {
        const l = pick(valid);
        parts.push(l);
        clean.push(l);
      } else if (roll < 0.7) {
        parts.push(pick(MALFORMED)[1].replace(/[\r\n]/g, ""));
      } else if (roll < 0.85) {
        // random bytes without LF
        parts.push(Array.from({ length: Math.floor(r() * 300) }, () => String.fromCharCode(Math.floor(r() * 255) + 1)).join("").replace(/\n/g, ""));
      } else {
        // a valid line with one byte changed: valid or not, the oracle decides
        const l = pick(valid);
        const at = Math.floor(r() * l.length);
        parts.push((l.slice(0, at) + String.fromCharCode(Math.floor(r() * 255) + 1) + l.slice(at + 1)).replace(/\n/g, ""));
      }
    }
    const text = parts.join("\n");
    const bytes = new Uint8Array(text.length);
    for (let k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
    const c = countBytes(bytes).toCounts();
    const o = oracleCount(text);
    expect(c.lines.read).toBe(parts.length);
    expect(c.lines.valid + c.lines.malformed).toBe(c.lines.read);
    expect(c.lines.valid).toBe(o.valid);
    expect(sorted(toMap(c.clients))).toEqual(sorted(o.clients));
    expect(sorted(toMap(c.status))).toEqual(sorted(o.status));
    expect(sorted(toMap(c.agents))).toEqual(sorted(o.agents));
    // the clean lines alone give the same client counts minus the mutated ones' share
    expect(c.lines.valid).toBeGreaterThanOrEqual(clean.length);
  });
});

describe("the fast path finds a line's end only where the line ends", () => {
  // Known lines first (memos warm), then lines that begin like them but end
  // elsewhere: each must be judged exactly as the independent oracle does.
  const known = [
    '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"',
    '192.168.1.18 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 200 51 "-" "curl/8.4.0"',
    '192.168.1.19 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 404 51',
  ];
  const cases: Array<[string, string]> = [
    ["a query cut by LF, completed on the next line", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=4\n2 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"'],
    ["a known tail, then CR and more text", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"\rX'],
    ["a known tail, then CR CR", '192.168.1.18 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 200 51 "-" "curl/8.4.0"\r\r'],
    ["a known tail, then CR LF", '192.168.1.18 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 200 51 "-" "curl/8.4.0"\r'],
    ["a known tail, then a second quote", '192.168.1.18 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 200 51 "-" "curl/8.4.0""'],
    ["a known tail's first bytes, then a longer agent", '192.168.1.18 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 200 51 "-" "curl/8.4.0" x"'],
    ["a known tail cut by LF", '192.168.1.18 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 200 51 "-" "curl/8.4\n.0"'],
    ["bytes, then CR and more text", '192.168.1.19 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 404 51\rX'],
    ["bytes cut by LF", '192.168.1.19 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 404 5\n1'],
    ["a status cut by LF", '192.168.1.19 - - [27/Nov/2026:20:21:04 +0000] "GET /about HTTP/1.1" 4\n04 51'],
    // A tail of 23 bytes or more is found from its first 24 bytes, and the line's end from the tail.
    ["a long known tail, then CR LF", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"\r'],
    ["a long known tail, then CR CR", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"\r\r'],
    ["a long known tail, then CR and more text", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"\rX'],
    ["a long known tail, then a second quote", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0""'],
    ["a long known tail, then a space", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0" '],
    ["a long known tail, then more agent", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0 x"'],
    ["a long known tail's first bytes, then a shorter agent", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121"'],
    ["a long known tail cut by LF", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121\n.0"'],
    ["a long known tail cut by LF after its quote's place", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\n"'],
    ["a long known tail without its closing quote", '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'],
  ];
  test.each(cases)("%s", (_, line) => {
    const warm = [...known, ...known, ...known].join("\n");
    const text = `${warm}\n${line.replaceAll("\\n", "\n").replaceAll("\\r", "\r")}\n${warm}\n`;
    const c = countText(text).toCounts();
    const o = oracleCount(text, {});
    expect(c.lines.read).toBe(text.split("\n").length - 1);
    expect(c.lines.valid).toBe(o.valid);
    expect(c.lines.combined).toBe(o.combined);
    expect(c.bytes).toBe(o.bytes);
    expect(sorted(toMap(c.status))).toEqual(sorted(o.status));
    expectKeyCountsLikeOracle(c, o);
  });
});

describe("tails looked up by their start, on and off", () => {
  test("a log whose agents crowd one start, then one whose few agents do not, counts like the oracle in small blocks", () => {
    const line = (k: number, agent: string) =>
      `192.168.1.${k % 40} - - [27/Nov/2026:20:${String(Math.floor(k / 60) % 60).padStart(2, "0")}:${String(k % 60).padStart(2, "0")} +0000] "GET /p${k % 7} HTTP/1.1" ${k % 5 ? 200 : 404} ${k} "-" "${agent}"`;
    const parts: string[] = [];
    // Phase 1: 60 agents share their first 16 bytes (more than an index holds for one start).
    for (let k = 0; k < 3000; k++) parts.push(line(k, `Mozilla/5.0 (Windows NT 10.0) Chrome/${k % 60}.0 Safari`));
    // Phase 2: three long agents with starts of their own (the index turns on again and finds them).
    const few = ["Opera/9.80 (X11; Linux) Presto/2.12", "python-requests/2.31.0", "Wget/1.21.3 (linux-gnu) with a long tail"];
    for (let k = 0; k < 3000; k++) parts.push(line(k, few[k % 3]!));
    // Phase 3: both mixed.
    for (let k = 0; k < 3000; k++) parts.push(line(k, k % 2 ? `Mozilla/5.0 (Windows NT 10.0) Chrome/${k % 60}.0 Safari` : few[k % 3]!));
    const text = `${parts.join("\n")}\n`;
    const c = countBytes(enc.encode(text), {}, 2048).toCounts();
    const o = oracleCount(text, {});
    expect(c.lines.read).toBe(parts.length);
    expect(c.lines.valid).toBe(o.valid);
    expect(c.bytes).toBe(o.bytes);
    expect(sorted(toMap(c.status))).toEqual(sorted(o.status));
    expectKeyCountsLikeOracle(c, o);
  });
});

describe("the fast path's memos never change a verdict", () => {
  // Each base line is counted first (filling the memos of the fast path),
  // then every one-byte change, insertion and deletion of it: the fast path
  // must judge each mutant exactly as the independent oracle does.
  const bases = [
    '192.168.1.17 - - [27/Nov/2026:20:21:04 +0000] "GET /api/orders?id=42 HTTP/1.1" 200 5123 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"',
    '203.0.113.199 - - [27/Nov/2026:20:21:04 +0000] "GET /static/css/main.css HTTP/1.1" 404 - "https://example.com/" "curl/8.4.0"',
    '2001:db8::1 - bob [27/Nov/2026:20:21:04 -0530] "POST /a\\"b?q=\\x22 HTTP/1.0" 500 7',
    '10.0.0.1 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 301 0 "" ""',
  ];
  const replacements = [" ", '"', "\\", "?", "x", "\t", "\r", "-", "[", "]", "0", "9", "\x00", "\xff"];
  const since = Date.UTC(2026, 10, 27, 20, 21, 4) / 1000;
  const windows = [{}, { since }, { until: since + 1 }];
  for (const [b, base] of bases.entries()) {
    test.each(windows.map((w, k) => [k, w] as const))(`base line ${b + 1}, window %i`, (_, window) => {
      const parts: string[] = [];
      for (let at = 0; at <= base.length; at++) {
        const variants = replacements.map((r) => base.slice(0, at) + r + base.slice(at + 1));
        variants.push(base.slice(0, at) + base.slice(at + 1), base.slice(0, at) + "y" + base.slice(at));
        for (const v of variants) parts.push(base, v);
      }
      const text = `${parts.join("\n")}\n`;
      const bytes = new Uint8Array(text.length);
      for (let k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
      const c = countBytes(bytes, window).toCounts();
      const o = oracleCount(text, window);
      expect(c.lines.valid).toBe(o.valid);
      expect(c.lines.combined).toBe(o.combined);
      expect(c.bytes).toBe(o.bytes);
      expect(sorted(toMap(c.status))).toEqual(sorted(o.status));
      expectKeyCountsLikeOracle(c, o);
      expect(sorted(toMap(c.minutes))).toEqual(sorted(o.minutes));
      expect(sorted(new Map(c.minutes.filter((m) => m[2] > 0).map((m) => [m[0], m[2]])))).toEqual(sorted(o.minutes4xx));
      expect(sorted(new Map(c.minutes.filter((m) => m[3] > 0).map((m) => [m[0], m[3]])))).toEqual(sorted(o.minutes5xx));
    });
  }
});
