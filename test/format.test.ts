import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LineCounter } from "../src/count/counter.ts";
import { FastCombinedCounter } from "../src/count/fast/combined.ts";
import { compileFormat, FORMAT_PRESETS, FormatCounter, FormatError } from "../src/count/format.ts";
import { generateText } from "../src/map/generate.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import { cli, fixture } from "./helpers.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "logmr-format-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function feed(counter: LineCounter, bytes: Uint8Array) {
  const lines = new LineAssembler(counter);
  lines.push(bytes);
  lines.end();
  return counter.toCounts();
}

/** Each line of `text` changed by `f`. */
const eachLine = (text: string, f: (line: string) => string) => text.split("\n").map((l) => (l === "" ? l : f(l))).join("\n");

const NGINX_TIMED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time';

describe("compileFormat", () => {
  test.each<[string, string, string[]]>([
    ["the combined preset", "combined", ["client", "token", "time", "request", "status", "bytes", "referer", "agent"]],
    ["nginx with times appended", NGINX_TIMED, ["client", "token", "time", "request", "status", "bytes", "referer", "agent", "skip", "skip"]],
    ["nginx ISO time and host", '$host $remote_addr [$time_iso8601] "$request" $status $bytes_sent', ["host", "client", "iso-time", "request", "status", "bytes"]],
    ["Apache vhost_combined (%O as the bytes)", "vhost_combined", ["host", "number", "client", "token", "token", "time", "request", "status", "bytes", "referer", "agent"]],
    ["Apache with %D and a header", 'apache:%h %l %u %t \\"%r\\" %>s %b %D \\"%{X-Forwarded-For}i\\"', ["client", "token", "token", "time", "request", "status", "bytes", "number", "skip"]],
  ])("%s", (_, spec, kinds) => {
    expect(compileFormat(spec).fields.map((f) => f.kind as string)).toEqual(kinds);
  });

  test.each<[string, string, string]>([
    ["an unknown name", "fancy", 'unknown format "fancy"'],
    ["an unknown Apache directive", "apache:%h %l %u %t \"%r\" %>s %Z", "unknown directive %Z at column 22"],
    ["two fields with nothing between them", '$remote_addr$remote_user [$time_local] "$request" $status', "follow each other with nothing between them"],
    ["no status", '$remote_addr [$time_local] "$request"', "must have the client address, the request line and the status"],
    ["a strftime time", 'apache:%h %{%Y-%m-%d}t "%r" %>s', "only the default time %t is read"],
    ["a lone $", '$remote_addr $ [$time_local] "$request" $status', "'$' at column 14 names no variable"],
  ])("refuses %s", (_, spec, words) => {
    expect(() => compileFormat(spec)).toThrow(FormatError);
    expect(() => compileFormat(spec)).toThrow(words);
  });
});

describe("a line read by its format string", () => {
  test.each(["nginx-access.log", "apache-access.log"])("the combined format string counts %s exactly as the Combined fast path", (name) => {
    const bytes = new Uint8Array(readFileSync(fixture(name)));
    const viaFormat = feed(new FormatCounter(compileFormat(FORMAT_PRESETS.combined!)), bytes);
    expect(JSON.stringify(viaFormat)).toBe(JSON.stringify(feed(new FastCombinedCounter(), bytes)));
  });

  test("and generated traffic", () => {
    const bytes = new TextEncoder().encode(generateText(3, 0, 20_000));
    expect(JSON.stringify(feed(new FormatCounter(compileFormat(FORMAT_PRESETS.combined!)), bytes))).toBe(JSON.stringify(feed(new FastCombinedCounter(), bytes)));
  });

  test("malformed lines count the same, with the format's own reasons", () => {
    const bytes = new Uint8Array(readFileSync(fixture("mixed-garbage.log")));
    const a = feed(new FormatCounter(compileFormat(FORMAT_PRESETS.combined!)), bytes);
    const b = feed(new FastCombinedCounter(), bytes);
    const counts = ({ malformedSamples: _, malformedReasons: __, ...rest }: typeof a) => rest;
    expect(counts(a)).toEqual(counts(b));
    expect(a.malformedReasons.reduce((n, [, k]) => n + k, 0)).toBe(a.lines.malformed);
  });

  test.each<[string, string, (line: string) => string]>([
    ["nginx with $request_time $upstream_response_time appended", NGINX_TIMED, (l) => `${l} 0.012 0.010, 0.020 : 0.005`],
    ["Apache vhost_combined", "vhost_combined", (l) => `www.example.com:443 ${l}`],
    ["Apache with %D", 'apache:%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D', (l) => `${l} 1234`],
  ])("%s counts like the Combined lines it extends", (_name, spec, extend) => {
    const text = readFileSync(fixture("nginx-access.log"), "latin1");
    const plain = feed(new FastCombinedCounter(), Buffer.from(text, "latin1"));
    const extended = feed(new FormatCounter(compileFormat(spec)), Buffer.from(eachLine(text, extend), "latin1"));
    const { malformedSamples: _, ...got } = extended;
    const { malformedSamples: __, ...want } = plain;
    expect(got).toEqual(want);
  });

  test.each<[string, string, string]>([
    ["a status of letters", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" abc 9 "-" "UA" 0.1 0.1', "status is not 3 digits"],
    ["a missing time field", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" 0.1', "too few fields"],
    ["31 November", '1.2.3.4 - - [31/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" 0.1 0.1', "invalid date"],
    ["an unterminated agent", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA 0.1 0.1', "unterminated quote"],
  ])("refuses %s, with a reason", (_, line, reason) => {
    const counts = feed(new FormatCounter(compileFormat(NGINX_TIMED)), new TextEncoder().encode(`${line}\n`));
    expect(counts.lines.malformed).toBe(1);
    expect(counts.malformedReasons[0]![0]).toContain(reason);
  });
});

describe("--format on the command line", () => {
  test("an nginx log with times appended, in one command: the counts of the same lines without them", async () => {
    const text = readFileSync(fixture("nginx-access.log"), "latin1");
    const path = join(dir, "timed.log");
    writeFileSync(path, eachLine(text, (l) => `${l} 0.012 0.010`), "latin1");
    const plain = await cli([fixture("nginx-access.log"), "--json"]);
    const timed = await cli([path, "--format", NGINX_TIMED, "--json", "--workers", "2"]);
    expect(timed.code).toBe(0);
    const strip = (out: string) => {
      const { input: _, ...data } = JSON.parse(out).data;
      return data;
    };
    expect(strip(timed.stdout)).toEqual(strip(plain.stdout));
    // Without the format, every line is malformed and the run says why.
    const wrong = await cli([path]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("junk after the user agent");
  });

  test.each([
    [["--format", "apache:%h %Z"], "unknown directive %Z at column 4"],
    [["--format", "fancy"], 'unknown format "fancy"'],
  ])("a bad format is a usage error naming it: %j", async (flags, words) => {
    const r = await cli([fixture("nginx-access.log"), ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(words);
  });

  test("generated traffic has no other format", async () => {
    const r = await cli(["--lines", "1000", "--format", "vhost_combined"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--format applies to log files");
  });
});
