import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SEGMENT_BYTES_ENV } from "../src/core/protocol.ts";
import { generateText } from "../src/map/generate.ts";
import { addressBytes, compileWhere, networkOf, parseWhere, statusVerdicts, WhereError, type WhereKeys, type WherePredicate } from "../src/count/where.ts";

/** A line's fields by name, for the tests; the predicate takes them in order. */
interface Line {
  status: number;
  bytes: number;
  time: number;
  seconds: number;
  client: number;
  request: number;
  tail: number;
  host: number;
  buf: Uint8Array;
  requestStart: number;
  requestEnd: number;
}
const whereLine = (): Line => ({ status: 0, bytes: 0, time: 0, seconds: -1, client: -1, request: -1, tail: -1, host: -1, buf: new Uint8Array(0), requestStart: 0, requestEnd: 0 });
const ask = (p: WherePredicate, l: Line) => p(l.status, l.bytes, l.time, l.seconds, l.client, l.request, l.tail, l.host, l.buf, l.requestStart, l.requestEnd);
import { cli, cliJson, fixture } from "./helpers.ts";

setDefaultTimeout(60_000);

describe("parseWhere: expressions and their trees", () => {
  test.each<[string, unknown]>([
    ["status >= 500", { op: "cmp", field: "status", cmp: ">=", value: 500 }],
    ["status=404", { op: "cmp", field: "status", cmp: "=", value: 404 }],
    ["class = 5xx", { op: "cmp", field: "class", cmp: "=", value: "5xx" }],
    ["class != 4", { op: "cmp", field: "class", cmp: "!=", value: "4xx" }],
    ["path ~ '^/api/'", { op: "match", field: "path", regex: "^/api/", negate: false }],
    ['agent !~ "bot"', { op: "match", field: "agent", regex: "bot", negate: true }],
    ["method in (GET, HEAD)", { op: "in", field: "method", values: ["GET", "HEAD"] }],
    ["client in 10.0.0.0/8", { op: "in", field: "client", values: ["10.0.0.0/8"] }],
    ["client not in (10.0.0.0/8, ::1)", { op: "not", arg: { op: "in", field: "client", values: ["10.0.0.0/8", "::1"] } }],
    ["bytes > 1M", { op: "cmp", field: "bytes", cmp: ">", value: 1048576 }],
    ["bytes <= 10k", { op: "cmp", field: "bytes", cmp: "<=", value: 10240 }],
    ["request_time > 500ms", { op: "cmp", field: "request_time", cmp: ">", value: 0.5 }],
    ["duration >= 1.5s", { op: "cmp", field: "request_time", cmp: ">=", value: 1.5 }],
    ["time >= 2026-11-27T10:00", { op: "cmp", field: "time", cmp: ">=", value: Date.UTC(2026, 10, 27, 10) / 1000 }],
    ["host = shop.test", { op: "cmp", field: "vhost", cmp: "=", value: "shop.test" }],
    // In quotes a backslash escapes only the quote: a regex keeps its own escapes.
    ["path ~ '\\.php$'", { op: "match", field: "path", regex: "\\.php$", negate: false }],
    ["path ~ \"^/a\\d+\\\"b\"", { op: "match", field: "path", regex: '^/a\\d+"b', negate: false }],
    ["referer = 'it\\'s'", { op: "cmp", field: "referer", cmp: "=", value: "it's" }],
    [
      "status >= 500 and path ~ '^/api' or not method = GET",
      { op: "or", args: [{ op: "and", args: [{ op: "cmp", field: "status", cmp: ">=", value: 500 }, { op: "match", field: "path", regex: "^/api", negate: false }] }, { op: "not", arg: { op: "cmp", field: "method", cmp: "=", value: "GET" } }] },
    ],
    [
      "(status = 500 or status = 503) and client = 1.2.3.4",
      { op: "and", args: [{ op: "or", args: [{ op: "cmp", field: "status", cmp: "=", value: 500 }, { op: "cmp", field: "status", cmp: "=", value: 503 }] }, { op: "cmp", field: "client", cmp: "=", value: "1.2.3.4" }] },
    ],
    ["STATUS >= 500 AND NOT path = '/a b'", { op: "and", args: [{ op: "cmp", field: "status", cmp: ">=", value: 500 }, { op: "not", arg: { op: "cmp", field: "path", cmp: "=", value: "/a b" } }] }],
  ])("%s", (text, tree) => {
    expect(parseWhere(text)).toEqual(tree as ReturnType<typeof parseWhere>);
  });

  test.each<[string, number, string]>([
    ["", 1, "empty"],
    ["size > 3", 1, "unknown field 'size'"],
    ["status >= 5000", 11, "'5000' is not a status"],
    ["status > abc", 10, "is not a status"],
    ["path > 3", 6, "'>' compares numbers; path is text"],
    ["bytes ~ 'x'", 7, "'~' matches text; bytes is a number"],
    ["path ~ '('", 8, "bad regular expression"],
    ["status >= 500 path = /", 15, "unexpected 'path'"],
    ["(status = 500", 14, "expected ')'"],
    ["status", 7, "expected an operator"],
    ["path = 'open", 8, "has no closing '"],
    ["client = 10.0.0.0/33", 10, "not an address or network"],
    ["time = 2026-11-27", 6, "compare times with < <= > >="],
    ["time > yesterday", 8, "not a date and time"],
    ["request_time > fast", 16, "not a duration"],
    ["status not 500", 12, "expected 'in' after 'not'"],
    ["path ~ '(a+)+$'", 8, "repeats a group that itself repeats"],
    ["agent ~ '(\\w*)*x'", 9, "exponential time"],
    ["path ~ '^(/[a-z]{2,})+$'", 8, "nested repetition"],
    ["path ~ '^(a|aa)*$'", 8, "alternatives can start alike"],
    ["agent ~ '(\\w|\\d)+x'", 9, "alternatives can start alike"],
    ["path ~ '((a)|(aa))*b'", 8, "exponential time"],
    ["path ~ '(?<n>ab|ac){2,}'", 8, "alternatives can start alike"],
    ["path ~ '(a?|b)+'", 8, "alternatives can start alike"],
    ["path ~ '(a|b|)*'", 8, "alternatives can start alike"],
    ["path ~ '(ab|ac){10}'", 8, "alternatives can start alike"],
  ])("refuses %j at column %d: %s", (text, column, words) => {
    let error: unknown;
    try {
      parseWhere(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WhereError);
    expect((error as WhereError).column).toBe(column);
    expect((error as WhereError).message).toContain(words);
    expect((error as WhereError).message).toContain(`column ${column}`);
  });

  test.each(["^/api/(v1|v2)/", "(ab)+", "^/item/[0-9]+$", "(?:a|b)+c", "\\(a+\\)+", "(GET|POST)+", "[(|)]+", "(\\.|-)+", "(ab|ac){1}", "(?=a|a)b+"])("a regex without nested repetition or overlapping repeated alternatives is taken: %s", (re) => {
    expect(parseWhere(`path ~ '${re}'`)).toMatchObject({ op: "match", regex: re });
  });

  test("a format without hosts or times: vhost and request_time are refused, naming what is missing", () => {
    const none = { vhost: false, request_time: false };
    expect(() => parseWhere("vhost = a", none)).toThrow("no virtual host");
    expect(() => parseWhere("status = 500 and request_time > 1s", none)).toThrow("column 18: the log's format has no response time");
  });
});

describe("addresses and networks", () => {
  test.each<[string, string, boolean]>([
    ["10.1.2.3", "10.0.0.0/8", true],
    ["11.0.0.0", "10.0.0.0/8", false],
    ["10.255.255.255", "10.0.0.0/8", true],
    ["192.168.1.7", "192.168.1.0/25", true],
    ["192.168.1.128", "192.168.1.0/25", false],
    ["1.2.3.4", "0.0.0.0/0", true],
    ["1.2.3.4", "1.2.3.4", true],
    ["1.2.3.5", "1.2.3.4/32", false],
    ["::1", "::1/128", true],
    ["::2", "::1/128", false],
    ["2001:db8::1", "2001:db8::/32", true],
    ["2001:db9::1", "2001:db8::/32", false],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", true],
    ["fe80::1%eth0", "fe80::/10", true],
    ["febf::1", "fe80::/10", true],
    ["fec0::1", "fe80::/10", false],
    ["::ffff:10.0.0.1", "10.0.0.0/8", true],
    ["10.0.0.1", "::/0", true],
    ["::1", "0.0.0.0/0", false],
  ])("%s in %s: %p", (address, network, inside) => {
    const keys: WhereKeys = { client: () => address, request: () => "", tail: () => "", host: () => "" };
    const line = { ...whereLine(), client: 0 };
    expect(ask(compileWhere(parseWhere(`client in ${network}`), keys), line)).toBe(inside);
  });

  test.each(["1.2.3", "1.2.3.256", "::1::2", "1:2:3:4:5:6:7:8:9", "gggg::1", "hello"])("%s is no address", (text) => {
    expect(addressBytes(text)).toBeNull();
  });
  test.each(["10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/8x"])("%s is no network", (text) => {
    expect(networkOf(text)).toBeNull();
  });
});

describe("compileWhere: what a line's fields make of an expression", () => {
  const keys: WhereKeys = {
    client: () => "203.0.113.9",
    request: () => "POST /api/orders",
    tail: () => 'https://example.com/" "curl/8.0 \\"x\\"',
    host: () => "shop.test",
  };
  const bytes = new TextEncoder().encode("POST /api/orders?id=7&x=1 HTTP/1.1");
  const line = { ...whereLine(), status: 502, bytes: 2048, time: 1_795_000_000, seconds: 0.75, client: 0, request: 0, tail: 0, host: 0, buf: bytes, requestStart: 0, requestEnd: bytes.length };
  test.each<[string, boolean]>([
    ["status >= 500", true],
    ["status in (500, 503)", false],
    ["class = 5xx", true],
    ["method = POST and path = /api/orders", true],
    ["path ~ '^/api/'", true],
    ["query = 'id=7&x=1'", true],
    ["query ~ 'id=7'", true],
    ["referer = 'https://example.com/'", true],
    ["agent = 'curl/8.0 \\\"x\\\"'", true],
    ["path = 'it\\'s'", false],
    ["agent ~ '^curl'", true],
    ["vhost = shop.test", true],
    ["bytes > 2k", false],
    ["bytes >= 2k", true],
    ["request_time > 500ms", true],
    ["request_time > 1s", false],
    ["not request_time > 1s", true],
    ["client in 203.0.113.0/24 and not client = 203.0.113.10", true],
    ["status = 200 or (method = POST and not path ~ 'orders')", false],
  ])("%s: %p", (text, holds) => {
    expect(ask(compileWhere(parseWhere(text), keys), line)).toBe(holds);
  });

  test("a line without a response time matches no comparison of one", () => {
    const untimed = { ...line, seconds: -1 };
    expect(ask(compileWhere(parseWhere("request_time >= 0s"), keys), untimed)).toBe(false);
    expect(ask(compileWhere(parseWhere("request_time != 1s"), keys), untimed)).toBe(false);
  });

  test("a comparison on a key is asked once an id", () => {
    let asked = 0;
    const counting: WhereKeys = { ...keys, client: () => (asked++, "1.2.3.4") };
    const p = compileWhere(parseWhere("client = 1.2.3.4"), counting);
    for (let k = 0; k < 1000; k++) expect(ask(p, { ...line, client: k % 3 })).toBe(true);
    expect(asked).toBe(3);
  });
});

// The oracle: each expression written again as a plain predicate over fields a regex reads from the line.
interface Fields {
  client: string;
  time: number;
  method: string;
  path: string | null;
  query: string;
  status: number;
  bytes: number;
  referer: string | null;
  agent: string | null;
}
const LINE = /^(\S+) \S+ \S+ \[(\d\d)\/(\w{3})\/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
function fieldsOf(line: string): Fields | null {
  const m = LINE.exec(line.replace(/\r$/, ""));
  if (!m) return null;
  const [, client, d, mon, y, h, mi, s, zone, request, status, bytes, referer, agent] = m;
  const offset = (zone![0] === "-" ? -1 : 1) * (Number(zone!.slice(1, 3)) * 3600 + Number(zone!.slice(3)) * 60);
  // A real date and time, as the engine requires.
  const day = new Date(Date.UTC(Number(y), MONTHS.indexOf(mon!), Number(d)));
  if (MONTHS.indexOf(mon!) < 0 || day.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return null;
  const parts = request!.split(" ");
  const target = parts.length >= 2 ? parts[1]! : null;
  return {
    client: client!,
    time: Date.UTC(Number(y), MONTHS.indexOf(mon!), Number(d), Number(h), Number(mi), Number(s)) / 1000 - offset,
    method: request === "" ? "" : parts[0]!,
    path: target === null ? null : target.split("?")[0]!,
    query: target !== null && target.includes("?") ? target.slice(target.indexOf("?") + 1) : "",
    status: Number(status),
    bytes: bytes === "-" ? 0 : Number(bytes),
    referer: referer ?? null,
    agent: agent ?? null,
  };
}
const inV4 = (ip: string, base: string, bits: number) => {
  const n = (a: string) => a.split(".").reduce((x, p) => x * 256 + Number(p), 0);
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) && Math.floor(n(ip) / 2 ** (32 - bits)) === Math.floor(n(base) / 2 ** (32 - bits));
};

const EXPRESSIONS: Array<[string, (f: Fields) => boolean]> = [
  ["status >= 500", (f) => f.status >= 500],
  ["class = 4xx and method = GET", (f) => f.status >= 400 && f.status < 500 && f.method === "GET"],
  ["path ~ '^/api/' or path = /", (f) => f.path !== null && (/^\/api\//.test(f.path) || f.path === "/")],
  ["not client in 127.0.0.0/30", (f) => !inV4(f.client, "127.0.0.0", 30)],
  ["client in (::1, 127.0.0.66)", (f) => f.client === "::1" || f.client === "127.0.0.66"],
  ["bytes > 10k", (f) => f.bytes > 10240],
  ["query ~ 'id='", (f) => /id=/.test(f.query)],
  ["agent ~ '[Cc]url' and referer != '-'", (f) => f.agent !== null && /[Cc]url/.test(f.agent) && f.referer !== "-"],
  ["time >= 2026-11-27T21:14:50Z and time < 2026-11-27T21:15:00Z", (f) => f.time >= Date.UTC(2026, 10, 27, 21, 14, 50) / 1000 && f.time < Date.UTC(2026, 10, 27, 21, 15) / 1000],
  ["method in (POST, PUT, DELETE)", (f) => ["POST", "PUT", "DELETE"].includes(f.method)],
  ["status in (404, 401) and not path ~ '\\.php$'", (f) => (f.status === 404 || f.status === 401) && !(f.path !== null && /\.php$/.test(f.path))],
  ["client in 203.0.113.0/24 or status = 301", (f) => inV4(f.client, "203.0.113.0", 24) || f.status === 301],
];

describe("--where against the oracle: the counts of a log of the matching lines alone", () => {
  const dir = mkdtempSync(join(tmpdir(), "logmr-where-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const generated = join(dir, "generated.log");
  writeFileSync(generated, generateText(5, 0, 20_000));
  // What differs between a filtered run and a run on the matching lines: the line counts and the inputs.
  const counted = ({ input: _, where: __, lines: ___, malformedSamples: ____, malformedReasons: _____, ...rest }: Record<string, unknown>) => rest;

  test.each(EXPRESSIONS.flatMap(([expr, oracle]) => [fixture("mixed-garbage.log"), generated].map((file) => [expr, file, oracle] as const)))("%s on %s", async (expr, file, oracle) => {
    const lines = readFileSync(file, "latin1").split("\n");
    const matching = lines.filter((l) => {
      const f = fieldsOf(l);
      return f !== null && oracle(f);
    });
    const alone = join(dir, `alone-${Math.random().toString(36).slice(2)}.log`);
    writeFileSync(alone, matching.length > 0 ? `${matching.join("\n")}\n` : "", "latin1");
    const bytes = readFileSync(file);
    const runs = await Promise.all([
      cliJson([file, "--where", expr, "--workers", "1", "--top", "1000"]),
      cliJson(["-", "--where", expr, "--workers", "2", "--top", "1000"], { stdin: bytes, env: { [SEGMENT_BYTES_ENV]: "16384" } }),
      cliJson(["-", "--where", expr, "--workers", "3", "--top", "1000"], { stdin: bytes, env: { [SEGMENT_BYTES_ENV]: "8192" } }),
    ]);
    const valid = runs[0].data.lines.valid;
    for (const { data } of runs) {
      expect(data.requests).toBe(matching.length);
      expect(data.lines.filtered).toBe(valid - matching.length);
      expect(data.where).toBe(expr);
    }
    if (matching.length === 0) return;
    const want = await cliJson([alone, "--top", "1000"]);
    for (const { data } of runs) expect(counted(data)).toEqual(counted(want.data));
  });

  test("the oracle's expressions select something and leave something out on both logs (the table tests the filter)", () => {
    for (const file of [fixture("mixed-garbage.log"), generated]) {
      const parsed = readFileSync(file, "latin1").split("\n").map(fieldsOf).filter((f): f is Fields => f !== null);
      const selecting = EXPRESSIONS.filter(([, oracle]) => parsed.some(oracle) && !parsed.every(oracle));
      expect(selecting.length).toBeGreaterThanOrEqual(8);
    }
  });
});

describe("--where on the command line", () => {
  test.each([
    [["--where", "status >= 5000"], "--where: column 11: '5000' is not a status"],
    [["--where", "vhost = x"], "no virtual host"],
    [["--where", "nope = 1"], "unknown field 'nope'"],
    [["--where", "path ~ '(x+x+)+y'"], "exponential time"],
  ])("a bad expression is exit 2 with one line naming the column: %j", async (flags, words) => {
    const r = await cli([fixture("nginx-access.log"), ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(words);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  // (.*,){11}P is polynomial of degree 11: no parse-time check refuses it. JavaScriptCore
  // gives up on such a match after about a second and answers "no match" (a line that
  // matched would be filtered out), so a test that slow fails the run instead.
  const slowLog = join(mkdtempSync(join(tmpdir(), "logmr-slow-")), "slow.log");
  const slowLine = (k: number) => `1.1.1.1 - - [03/Dec/2026:10:00:00 +0000] "GET /${k}${"1,".repeat(60)} HTTP/1.1" 200 1 "-" "ua"\n`;
  // 20 paths (a path is asked once): the worker is held about 20 s without progress.
  writeFileSync(slowLog, Array.from({ length: 20 }, (_, k) => slowLine(k)).join(""));

  test("a regex the runtime gives up on fails the run with one line saying why, not retried, no report", async () => {
    const started = performance.now();
    const r = await cli([slowLog, "--where", "path ~ '(.*,){11}P'"]);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--where: path ~ '\(\.\*,\)\{11\}P' took \d+ ms on one path of 122 characters; the runtime gives up on such a match/);
  });

  test("a regex that holds a worker past --task-timeout: killed, and the message names the regex either way", async () => {
    const r = await cli([slowLog, "--where", "path ~ '(.*,){11}P'", "--task-timeout", "1", "--retries", "0"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/its --where has a regular expression: one that backtracks|the runtime gives up on such a match/);
  });

  test("a format's own fields: vhost and request_time on the real nginx JSON log", async () => {
    const lines = readFileSync(fixture("nginx-json.log"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const want = lines.filter((o) => o.host === "api.test" && o.request_time > 0.1).length;
    expect(want).toBeGreaterThan(0);
    const { data } = await cliJson([fixture("nginx-json.log"), "--where", "vhost = api.test and request_time > 100ms"]);
    expect(data.requests).toBe(want);
    expect(data.latency.all.count).toBe(want);
  });
});

describe("statusVerdicts: a table for expressions of the status alone", () => {
  const keys: WhereKeys = { client: () => "c", request: () => "GET /", tail: () => '-" "ua', host: () => "h" };
  test.each(["status >= 500", "class = 4xx", "status in (200, 304) or not class in (2xx, 3xx)", "status != 404 and status < 600"])("%s: the table is the predicate's verdict on every code", (text) => {
    const tree = parseWhere(text);
    const predicate = compileWhere(tree, keys);
    const table = statusVerdicts(tree, predicate)!;
    const none = new Uint8Array(0);
    for (let code = 0; code < 1000; code++) expect([code, table[code]]).toEqual([code, predicate(code, 1, 2, 0.5, 0, 0, 0, 0, none, 0, 0) ? 1 : 0]);
    expect(table.reduce((a, v) => a + v, 0)).toBeGreaterThan(0);
  });
  test.each(["status >= 500 and path ~ '^/api'", "bytes > 1M", "request_time > 1s or status = 500", "client in 10.0.0.0/8"])("%s: no table", (text) => {
    const tree = parseWhere(text);
    expect(statusVerdicts(tree, compileWhere(tree, keys))).toBeNull();
  });
});
