import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { counterFor, type LineCounter } from "../src/count/counter.ts";
import { FastCombinedCounter } from "../src/count/fast/combined.ts";
import { compileFormat, FORMAT_PRESETS, FormatCounter, FormatError, formatFromConfig } from "../src/count/format.ts";
import { generateText } from "../src/map/generate.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import { mergeAll } from "../src/core/partial.ts";
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
    ["nginx with times appended", NGINX_TIMED, ["client", "token", "time", "request", "status", "bytes", "referer", "agent", "duration", "upstream"]],
    ["nginx ISO time and host", '$host $remote_addr [$time_iso8601] "$request" $status $bytes_sent', ["host", "client", "iso-time", "request", "status", "bytes"]],
    ["Apache vhost_combined (%O as the bytes)", "vhost_combined", ["host", "number", "client", "token", "token", "time", "request", "status", "bytes", "referer", "agent"]],
    ["Apache with %D and a header", 'apache:%h %l %u %t \\"%r\\" %>s %b %D \\"%{X-Forwarded-For}i\\"', ["client", "token", "token", "time", "request", "status", "bytes", "duration-us", "skip"]],
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
    // The same counts, and response times besides.
    const { malformedSamples: _, latency, hosts: ___, ...got } = extended;
    const { malformedSamples: __, ...want } = plain;
    expect(got).toEqual(want);
    expect(latency?.all.count).toBe(spec === "vhost_combined" ? undefined : plain.requests);
  });

  test.each<[string, string, string]>([
    ["a status of letters", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" abc 9 "-" "UA" 0.1 0.1', "status is not 3 digits"],
    ["a missing time field", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" 0.1', "too few fields"],
    ["31 November", '1.2.3.4 - - [31/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" 0.1 0.1', "invalid date"],
    ["an unterminated agent", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA 0.1 0.1', "unterminated quote"],
    ["a request time of words", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" fast 0.1', "$request_time is not a response time"],
    ["a request time of -, which nginx never writes", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" - 0.1', "$request_time is not a response time"],
    ["an upstream list cut short", '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA" 0.1 0.010,', "$upstream_response_time is not a response time"],
  ])("refuses %s, with a reason", (_, line, reason) => {
    const counts = feed(new FormatCounter(compileFormat(NGINX_TIMED)), new TextEncoder().encode(`${line}\n`));
    expect(counts.lines.malformed).toBe(1);
    expect(counts.malformedReasons[0]![0]).toContain(reason);
  });
});

describe("numbers and times hold what the server writes there", () => {
  const LINE = '1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 9 "-" "UA"';
  const APACHE = 'apache:%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D %I';
  test.each<[string, string, boolean]>([
    ["%D and %I in digits", " 1234 512", true],
    ["%D of 0", " 0 512", true],
    ["%D with a point", " 12.5 512", false],
    ["%D of -", " - 512", false],
    ["%I of letters", " 1234 5x2", false],
    ["%I of -", " 1234 -", true],
    ["nothing where %D goes", "  512", false],
  ])("%s", (_, suffix, valid) => {
    const bytes = new TextEncoder().encode(`${LINE}${suffix}\n`);
    const counts = feed(new FormatCounter(compileFormat(APACHE)), bytes);
    expect(counts.lines.valid).toBe(valid ? 1 : 0);
    // The fast path with a suffix agrees.
    expect(feed(counterFor({ format: APACHE, window: {}, counters: "full" }), bytes).lines.valid).toBe(valid ? 1 : 0);
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
      const { input: _, latency: __, ...data } = JSON.parse(out).data;
      return data;
    };
    expect(strip(timed.stdout)).toEqual(strip(plain.stdout));
    expect(JSON.parse(timed.stdout).data.latency.all).toMatchObject({ count: 1816, max: 0.012, p50: expect.any(Number) });
    // Without the format, the nginx-timed preset fits its first lines: chosen, and said.
    const detected = await cli([path, "--json"]);
    expect(detected.code).toBe(0);
    expect(detected.stderr).toContain("read as nginx-timed");
    expect(strip(detected.stdout)).toEqual(strip(plain.stdout));
    // Times in a shape no preset has: read as an opaque field, counted, and the note says how to name it.
    writeFileSync(path, eachLine(text, (l) => `${l} rt=0.012`), "latin1");
    const opaque = await cli([path, "--json"]);
    expect(opaque.code).toBe(0);
    expect(opaque.stderr).toContain("1 more field after the user agent, not counted");
    expect(strip(opaque.stdout)).toEqual(strip(plain.stdout));
    expect(JSON.parse(opaque.stdout).data.latency).toBeNull();
    // Given the plain Combined format, the same lines are malformed, and the run says why.
    const wrong = await cli([path, "--format", "combined"]);
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

  test("without --format each file's format is detected, and said: a folder of Combined and vhost_combined logs", async () => {
    const logs = join(dir, "mixed-formats");
    mkdirSync(logs);
    const plain = readFileSync(fixture("nginx-access.log"), "latin1");
    writeFileSync(join(logs, "access.log"), plain, "latin1");
    writeFileSync(join(logs, "other_vhosts_access.log"), eachLine(plain, (l) => `www.example.com:80 ${l}`), "latin1");
    const r = await cli([logs, "--json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("other_vhosts_access.log: read as vhost_combined, which its first lines fit");
    expect(r.stderr).not.toContain("/access.log: read as");
    const one = JSON.parse((await cli([fixture("nginx-access.log"), "--json"])).stdout).data;
    const both = JSON.parse(r.stdout).data;
    expect(both.lines.valid).toBe(2 * one.lines.valid);
    expect(both.bytes).toBe(2 * one.bytes);
  });

  test("generated traffic has no other format", async () => {
    const r = await cli(["--lines", "1000", "--format", "vhost_combined"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--format applies to log files");
  });
});

describe("response times, when the format writes them", () => {
  const lines = readFileSync(fixture("nginx-access.log"), "latin1").split("\n").filter(Boolean);
  // Seeded, skewed times: most fast, a long tail.
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  const times = lines.map(() => Math.round((next() < 0.9 ? next() * 0.2 : 0.2 + next() * 3) * 1000) / 1000);
  const exact = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))]!;
  const within = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(want * 0.01 + 1e-9);

  test.each<[string, string, (line: string, t: number) => string, (t: number) => number]>([
    ["nginx $request_time", NGINX_TIMED, (l, t) => `${l} ${t.toFixed(3)} -`, (t) => t],
    ["nginx $upstream_response_time alone, several values summed", '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $upstream_response_time', (l, t) => `${l} ${(t / 2).toFixed(4)}, ${(t / 4).toFixed(4)} : ${(t / 4).toFixed(4)}`, (t) => t],
    ["Apache %D (microseconds)", 'apache:%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D', (l, t) => `${l} ${Math.round(t * 1e6)}`, (t) => t],
  ])("%s: count, mean, max and percentiles within 1 percent of the exact ones, by status class too", async (_name, spec, write, seconds) => {
    const path = join(dir, `latency-${Bun.hash(spec).toString(16)}.log`);
    writeFileSync(path, `${lines.map((l, k) => write(l, times[k]!)).join("\n")}\n`, "latin1");
    const r = await cli([path, "--format", spec, "--json", "--workers", "2"]);
    expect(r.code).toBe(0);
    const { latency } = JSON.parse(r.stdout).data;
    const values = times.map(seconds);
    expect(latency.all.count).toBe(values.length);
    within(latency.all.mean, values.reduce((a, b) => a + b, 0) / values.length);
    within(latency.all.max, Math.max(...values));
    for (const q of [50, 90, 95, 99]) within(latency.all[`p${q}`], exact(values, q / 100));
    const statusOf = (l: string) => Number(/" (\d{3}) /.exec(l)![1]);
    const fours = values.filter((_, k) => Math.floor(statusOf(lines[k]!) / 100) === 4);
    const c4 = latency.byClass.find((c: { class: string }) => c.class === "4xx");
    expect(c4.count).toBe(fours.length);
    within(c4.p95, exact(fours, 0.95));
    const report = await cli([path, "--format", spec]);
    expect(report.stdout).toContain("Response time (p50 .. p99 within 1%)");
  });
});

describe("formats read out of a server's configuration file", () => {
  const nginx = `http {
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" $request_time';
    log_format json_log escape=json '{"remote_addr":"$remote_addr"}';
    access_log  /var/log/nginx/access.log  main;
}`;
  const apache = `LogFormat "%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" vhost_combined
LogFormat "%h %l %u %t \\"%r\\" %>s %O" common
`;
  test("nginx: a log_format over several quoted pieces and lines, picked by name", () => {
    expect(formatFromConfig(nginx, "nginx.conf", "main")).toBe(NGINX_TIMED.replace(" $upstream_response_time", ""));
  });
  test("Apache: a LogFormat by name, its escaped quotes read", () => {
    const spec = formatFromConfig(apache, "apache2.conf", "vhost_combined");
    expect(spec).toBe('apache:%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"');
    expect(compileFormat(spec).fields.map((f) => f.name)).toContain("%{User-Agent}i");
  });
  test.each<[string, string, string | undefined, string]>([
    ["several formats and no name", nginx, undefined, "has several formats (main, json_log): name one with --format-name"],
    ["a name it does not have", apache, "combined", "has no format named combined (it has vhost_combined, common)"],
    ["no format at all", "server { listen 80; }", undefined, "has no log_format or LogFormat line"],
  ])("refuses %s", (_, config, name, words) => {
    expect(() => formatFromConfig(config, "x.conf", name)).toThrow(words);
  });
  test("--format-file on the command line", async () => {
    const conf = join(dir, "nginx.conf");
    writeFileSync(conf, nginx);
    const text = readFileSync(fixture("nginx-access.log"), "latin1");
    const path = join(dir, "main.log");
    writeFileSync(path, eachLine(text, (l) => `${l} 0.004`), "latin1");
    const r = await cli([path, "--format-file", conf, "--format-name", "main", "--json"]);
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout).data;
    expect(data.lines.valid).toBe(1816);
    expect(data.latency.all.max).toBeCloseTo(0.004, 6);
    const bad = await cli([path, "--format-file", conf]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("name one with --format-name");
  });
});

describe("virtual hosts, when the format writes them", () => {
  const text = readFileSync(fixture("nginx-access.log"), "latin1").split("\n").filter(Boolean);
  const hostOf = (k: number) => (k % 3 === 0 ? "api.example.com" : "www.example.com");
  const statusOf = (l: string) => Number(/" (\d{3}) /.exec(l)![1]);
  const spec = 'apache:%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D';
  const lines = text.map((l, k) => `${hostOf(k)}:443 ${l} ${1000 + k}`);
  test("requests, errors and response times a host, merged across tasks like every count", () => {
    const half = lines.length >> 1;
    const counter = () => new FormatCounter(compileFormat(spec));
    const parts = [lines.slice(0, half), lines.slice(half)].map((ls) => feed(counter(), new TextEncoder().encode(`${ls.join("\n")}\n`)));
    const merged = mergeAll(parts);
    const whole = feed(counter(), new TextEncoder().encode(`${lines.join("\n")}\n`));
    expect(JSON.stringify(merged.hosts)).toBe(JSON.stringify([...whole.hosts!].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
    for (const host of ["api.example.com", "www.example.com"]) {
      const mine = text.filter((_, k) => hostOf(k) === host);
      const row = merged.hosts!.find((h) => h[0] === host)!;
      expect(row.slice(1, 4)).toEqual([mine.length, mine.filter((l) => statusOf(l) >= 400 && statusOf(l) < 500).length, mine.filter((l) => statusOf(l) >= 500).length]);
      expect(row[4]!.count).toBe(mine.length);
    }
  });
  test("the report's top hosts, with their share, error rate and p95", async () => {
    const path = join(dir, "vhosts.log");
    writeFileSync(path, `${lines.join("\n")}\n`, "latin1");
    const r = await cli([path, "--format", spec, "--json"]);
    expect(r.code).toBe(0);
    const top = JSON.parse(r.stdout).data.topHosts;
    expect(top.map((h: { host: string }) => h.host)).toEqual(["www.example.com", "api.example.com"]);
    expect(top[0].requests + top[1].requests).toBe(text.length);
    expect(top[0].p95).toBeGreaterThan(0.001);
  });
});

test("the same data for any worker count, response times and hosts included", async () => {
  const spec = 'apache:%v %h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D';
  let x = 99;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  const lines = generateText(5, 0, 40_000).split("\n").filter(Boolean).map((l) => `h${Math.floor(next() * 4)}.example.com ${l} ${Math.floor(next() * 2_000_000)}`);
  const path = join(dir, "split.log");
  writeFileSync(path, `${lines.join("\n")}\n`);
  const runs = await Promise.all([1, 2, 3].map((w) => cli([path, "--format", spec, "--json", "--workers", String(w)])));
  const docs = runs.map((r) => JSON.parse(r.stdout));
  expect(docs[2].run.tasks).toBeGreaterThan(3);
  expect(JSON.stringify(docs[1].data)).toBe(JSON.stringify(docs[0].data));
  expect(JSON.stringify(docs[2].data)).toBe(JSON.stringify(docs[0].data));
  expect(docs[0].data.topHosts.length).toBe(4);
});

