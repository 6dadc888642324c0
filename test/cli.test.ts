import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { generateText, SUSPICIOUS_CLIENTS } from "../src/map/generate.ts";
import { childrenOf, cli, cliJson, fixture, isAlive, ROOT, sleep } from "./helpers.ts";
import { oracleCount, sorted } from "./oracle.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "logmr-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rows = (list: Array<{ key?: string; client?: string; count?: number; requests?: number }>) =>
  list.map((r) => [r.key ?? r.client, r.count ?? r.requests]);

describe("generated traffic through the real CLI and child processes", () => {
  const LINES = "300000";
  test("counts are identical for 1, 2, 3 and 7 workers", async () => {
    const runs = await Promise.all([1, 2, 3, 7].map((w) => cliJson(["--lines", LINES, "--workers", String(w), "--top", "100"])));
    const data = runs.map((r) => JSON.stringify(r.data));
    for (const d of data.slice(1)) expect(d).toBe(data[0]!);
    expect(runs.map((r) => r.run.workers)).toEqual([1, 2, 3, 7]);
  });

  test("agrees with an independent regex count of the same lines", async () => {
    const n = 120_000;
    const [doc, o] = [await cliJson(["--lines", String(n), "--seed", "99", "--workers", "2", "--top", "1000"]), oracleCount(generateText(99, 0, n))];
    const d = doc.data;
    expect(d.lines).toMatchObject({ read: n, valid: o.valid, malformed: o.malformed, combined: o.combined });
    expect(d.requests).toBe(n);
    expect(d.bytes).toBe(o.bytes);
    expect(d.uniqueClients).toBe(o.clients.size);
    expect(sorted(new Map(rows(d.topClients) as Array<[string, number]>))).toEqual(sorted(o.clients));
    expect(d.status.map((s: { code: number; count: number }) => [String(s.code), s.count])).toEqual(sorted(o.status));
    expect(sorted(new Map(rows(d.methods) as Array<[string, number]>))).toEqual(sorted(o.methods));
    expect(sorted(new Map(rows(d.topPaths) as Array<[string, number]>))).toEqual(sorted(o.paths));
    expect(sorted(new Map(rows(d.topNotFoundPaths) as Array<[string, number]>))).toEqual(sorted(o.notFoundPaths));
    expect(sorted(new Map(rows(d.topAgents) as Array<[string, number]>))).toEqual(sorted(o.agents));
    expect(sorted(new Map(rows(d.topReferrers) as Array<[string, number]>))).toEqual(sorted(o.referrers));
    // JSON totals add up
    expect(d.status.reduce((a: number, s: { count: number }) => a + s.count, 0)).toBe(d.requests);
    expect(d.lines.valid + d.lines.malformed).toBe(d.lines.read);
  });

  test("the planted suspicious clients are flagged and no standard client is (default seed)", async () => {
    const doc = await cliJson(["--lines", "1000000"]);
    expect(doc.data.suspicious.map((s: { client: string }) => s.client).sort()).toEqual([...SUSPICIOUS_CLIENTS].sort());
    for (const s of doc.data.suspicious) expect(s.reasons.length).toBeGreaterThan(0);
  });

  test("the human report has every section, on stdout only", async () => {
    const r = await cli(["--lines", "20000", "--workers", "2"]);
    expect(r.code).toBe(0);
    for (const heading of ["Totals", "Status codes", "Top 10 clients", "Suspicious clients", "methods", "paths answered 404", "user agents", "Requests per", "Timing", "utilisation"]) {
      expect(r.stdout).toContain(heading);
    }
    expect(r.stdout).not.toContain("\x1b[");
    expect(r.stderr).toBe("");
  });

  test("with no --workers a small run starts fewer workers than cores, and the report says why", async () => {
    const auto = await cli(["--lines", "2000"]);
    const autoJson = await cliJson(["--lines", "2000"]);
    expect([autoJson.run.workers, autoJson.run.autoWorkers]).toEqual([1, true]);
    expect(auto.stdout.includes("more would not pay")).toBe(autoJson.run.cores > 1);
    const chosen = await cli(["--lines", "2000", "--workers", "1"]);
    expect(chosen.stdout).not.toContain("more would not pay");
    expect((await cliJson(["--lines", "2000", "--workers", "1"])).run.autoWorkers).toBe(false);
  });

  test("a partial above 1 MiB arrives whole", async () => {
    // 40,000 distinct long paths: each worker's partial is several MiB of JSON.
    const path = join(dir, "many-paths.log");
    const lines = Array.from({ length: 40_000 }, (_, k) => `10.0.0.${k % 200} - - [27/Nov/2026:10:00:00 +0000] "GET /item/${k}/${"x".repeat(60)} HTTP/1.1" 200 1 "-" "UA"`);
    writeFileSync(path, `${lines.join("\n")}\n`);
    const doc = await cliJson([path, "--workers", "1", "--top", "100000", "--group-path", "none"]);
    expect(doc.data.lines.valid).toBe(40_000);
    expect(doc.data.topPaths.length).toBe(40_000);
    expect(doc.data.topPaths.every((p: { count: number }) => p.count === 1)).toBe(true);
  });
});

describe("command line errors exit 2 with one line", () => {
  const cases: string[][] = [
    ["--lines", "-5"], ["--lines", "0"], ["--lines", "abc"], ["--lines", "1.5"], ["--workers", "0"], ["--workers", "two"],
    ["--top", "0"], ["--seed", "-1"], ["--seed", "4294967296"], ["--frobnicate"], ["--lines"], ["--since", "yesterday"],
    ["--since", "2026-11-28", "--until", "2026-11-27"], ["generate", "extra"], ["generate", "--json"], ["--counters", "some"], ["bench", "--runs", "0"], ["compare"], [fixture("nginx-access.log"), "--lines", "5"],
    ["plan", "--lines", "10", "--top", "3"], ["plan", "--lines", "10", "--json"], ["plan", "--lines", "10", "--hosts", "a"], ["help", "nothing"],
    ["--max-malformed", "120"], ["--max-malformed", "lots"], ["--bucket", "year"], ["--bucket", "Hour"], ["reduce", "--bucket", "fortnight"],
  ];
  test.each(cases.map((c) => [c.join(" "), c]))("%s", async (_, args) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.stderr).not.toContain("    at ");
  });

  test("plan says which flags belong to a run; it keeps those it uses", async () => {
    const r = await cli(["plan", "--lines", "10", "--top", "3"]);
    expect(r.stderr).toContain("plan does not use --top: it belongs to a run");
    const ok = await cli(["plan", "--lines", "100000", "-w", "2", "--since", "2026-11-27"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split("\n").length).toBeGreaterThanOrEqual(2);
  });

  test("help, help SUBCOMMAND, and generate into a folder that does not exist", async () => {
    const help = await cli(["help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--lines");
    const sub = await cli(["help", "generate"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain("--out");
    const out = await cli(["generate", "--lines", "10", "--out", join(dir, "no-such-folder", "x.log")]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`cannot write ${join(dir, "no-such-folder", "x.log")}: there is no folder ${join(dir, "no-such-folder")}`);
  });

  test("--help and --version", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const flag of ["--lines", "--workers", "--seed", "--top", "--json", "--since", "--until"]) expect(help.stdout).toContain(flag);
    const version = await cli(["--version"]);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).version);
  });
});

describe("real log files", () => {
  const truth = (name: string) => JSON.parse(readFileSync(fixture(`${name}.truth.json`), "utf8"));
  for (const name of ["nginx-access.log", "apache-access.log", "mixed-garbage.log", "nginx-access.log.gz"]) {
    test(`${name}: counts equal the truth, the scanner is flagged and 127.0.0.1 is not`, async () => {
      const t = truth(name);
      const d = (await cliJson([fixture(name), "--top", "100", "--workers", "2"])).data;
      expect(d.lines.read).toBe(t.total_lines);
      expect(d.lines.valid).toBe(t.valid_lines);
      expect(d.lines.malformed).toBe(t.malformed_lines);
      expect(Object.fromEntries(rows(d.topClients))).toEqual(t.clients);
      expect(Object.fromEntries(d.status.map((s: { code: number; count: number }) => [String(s.code), s.count]))).toEqual(t.status);
      expect(d.bytes).toBe(t.total_bytes);
      expect(d.malformedSamples.map((m: { line: number }) => m.line)).toEqual(t.malformed_line_numbers.slice(0, 5));
      const flagged = d.suspicious.map((s: { client: string }) => s.client);
      expect(flagged).toContain("127.0.0.66");
      expect(flagged).not.toContain("127.0.0.1");
    });
  }

  test("stdin, a directory of rotated logs (plain and gzip) and a file mixed in one run", async () => {
    const logs = join(dir, "rotated");
    mkdirSync(logs);
    const nginx = readFileSync(fixture("nginx-access.log"));
    writeFileSync(join(logs, "access.log"), nginx);
    writeFileSync(join(logs, "access.log.1"), nginx);
    writeFileSync(join(logs, "access.log.2.gz"), gzipSync(nginx));
    writeFileSync(join(logs, "error.log"), "not an access log\n");
    const d = (await cliJson([logs, fixture("apache-access.log"), "-"], { stdin: readFileSync(fixture("nginx-access.log")) })).data;
    const n = truth("nginx-access.log").total_lines;
    expect(d.input.files.map((f: { path: string }) => f.path.replace(`${logs}/`, ""))).toEqual(["access.log.2.gz", "access.log.1", "access.log", fixture("apache-access.log"), "-"]);
    expect(d.lines.read).toBe(4 * n + truth("apache-access.log").total_lines);
    expect(d.lines.malformed).toBe(0);
  });

  test("a multi-member gzip file counts every member", async () => {
    const nginx = readFileSync(fixture("nginx-access.log"));
    const path = join(dir, "multi.log.gz");
    writeFileSync(path, Buffer.concat([gzipSync(nginx), gzipSync(nginx)]));
    expect((await cliJson([path])).data.lines.valid).toBe(2 * truth("nginx-access.log").valid_lines);
  });

  test("generate --out, then analyze the file: the counts of the generated run, for several worker counts", async () => {
    const out = join(dir, "gen.log");
    const g = await cli(["generate", "--lines", "200000", "--seed", "5", "--out", out]);
    expect(g.code).toBe(0);
    expect(readFileSync(out, "latin1")).toBe(generateText(5, 0, 200_000));
    const generated = (await cliJson(["--lines", "200000", "--seed", "5", "--workers", "2", "--top", "50"])).data;
    for (const w of ["1", "3"]) {
      const fromFile = (await cliJson([out, "--workers", w, "--top", "50"])).data;
      for (const key of ["lines", "requests", "bytes", "status", "topClients", "suspicious", "methods", "topPaths", "topAgents", "timeline"]) {
        expect(fromFile[key]).toEqual(generated[key]);
      }
    }
  });

  test("a worker's memory does not grow with the file (120 MB file, 1 MiB chunks)", async () => {
    const out = join(dir, "large.log");
    expect((await cli(["generate", "--lines", "700000", "--out", out])).code).toBe(0);
    const doc = await cliJson([out, "--workers", "1"]);
    expect(doc.data.lines.valid).toBe(700_000);
    // Bun itself takes about 50 MB; holding the file would add 120 MB.
    expect(doc.run.workerTimings[0].maxRssMb).toBeLessThan(100);
    rmSync(out);
  });

  test("a classic awk count per client and per status agrees with the engine on a generated file", async () => {
    const out = join(dir, "awk.log");
    expect((await cli(["generate", "--lines", "100000", "--seed", "11", "--out", out])).code).toBe(0);
    const awk = Bun.spawnSync(["awk", "{c[$1]++; s[$9]++} END{for(k in c) print \"c\", k, c[k]; for(k in s) print \"s\", k, s[k]}", out]);
    expect(awk.exitCode).toBe(0);
    const expected = awk.stdout.toString().trim().split("\n").sort();
    const d = (await cliJson([out, "--workers", "2", "--top", "1000"])).data;
    const got = [
      ...d.topClients.map((c: { client: string; requests: number }) => `c ${c.client} ${c.requests}`),
      ...d.status.map((s: { code: number; count: number }) => `s ${s.code} ${s.count}`),
    ].sort();
    expect(got).toEqual(expected);
  });

  test("generate to stdout is the same bytes", async () => {
    const r = await cli(["generate", "--lines", "1000", "--seed", "5"]);
    expect(r.stdout).toBe(generateText(5, 0, 1000));
  });

  test("--since/--until restrict the counts to the window", async () => {
    const d = (await cliJson([fixture("nginx-access.log"), "--since", "2026-11-27T21:14:40Z", "--until", "27/Nov/2026:21:15:00 +0000"])).data;
    const o = oracleCount(readFileSync(fixture("nginx-access.log"), "latin1"), {
      since: Date.UTC(2026, 10, 27, 21, 14, 40) / 1000,
      until: Date.UTC(2026, 10, 27, 21, 15, 0) / 1000,
    });
    expect(d.requests).toBe([...o.clients.values()].reduce((a, b) => a + b, 0));
    expect(d.lines.outOfWindow).toBe(d.lines.valid - d.requests);
    expect(d.window).toEqual({ since: "2026-11-27T21:14:40Z", until: "2026-11-27T21:15:00Z" });
  });
});

/** A file holding `text`, for analyzing it alone. */
function fixtureOf(text: string): string {
  const path = join(dir, `alone-${Bun.hash(text).toString(16)}.log`);
  writeFileSync(path, text);
  return path;
}

/** `data` compressed with `codec`: zlib's for gzip and zstd, the Debian tools for bzip2 and xz (installed by scripts/test-deps.sh). */
function compressWith(codec: "gzip" | "zstd" | "bzip2" | "xz", data: Uint8Array): Uint8Array {
  if (codec === "gzip") return gzipSync(data);
  if (codec === "zstd") return zstdCompressSync(data);
  const r = Bun.spawnSync([codec, "-c"], { stdin: data });
  if (r.exitCode !== 0) throw new Error(`${codec} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

describe("bad input exits 1 with one clear line and no report", () => {
  const expectFailure = (r: { code: number; stdout: string; stderr: string }, mention: string) => {
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(mention);
    expect(r.stderr).not.toContain("    at ");
  };
  test("a missing file", async () => expectFailure(await cli([join(dir, "nope.log")]), "nope.log: no such file"));
  test("an archive format: one line naming it", async () => {
    const path = join(dir, "x.log.7z");
    writeFileSync(path, "7z\xbc\xaf\x27\x1c");
    expectFailure(await cli([path]), `cannot read ${path}: a compressed format other than gzip, zstd, bzip2 and xz`);
  });
  test.each(["gzip", "zstd", "bzip2", "xz"] as const)("a %s file counts like the plain file; a corrupt one names itself and is not retried", async (codec) => {
    const plain = readFileSync(fixture("nginx-access.log"));
    const path = join(dir, `nginx.log.${codec}`);
    writeFileSync(path, compressWith(codec, plain));
    const { input: _, ...data } = (await cliJson([path])).data;
    const { input: __, ...expected } = (await cliJson([fixture("nginx-access.log")])).data;
    expect(data).toEqual(expected);
    const broken = Buffer.from(compressWith(codec, plain));
    broken.fill(0x41, 40, 400);
    const bad = join(dir, `broken.log.${codec}`);
    writeFileSync(bad, broken);
    const r = await cli([bad]);
    expectFailure(r, `${bad} is not a valid ${codec} file`);
    expect(r.stderr).not.toContain("attempt 2");
  });
  test("a decompression bomb (1 GiB of zeros in a few hundred KB) is read as a stream, never held whole", async () => {
    // Sixteen gzip members of 64 MiB of zeros each: one valid gzip file.
    const member = gzipSync(new Uint8Array(64 << 20));
    const path = join(dir, "bomb.log.gz");
    const tail = gzipSync(`\n${generateText(1, 0, 1)}`);
    writeFileSync(path, Buffer.concat([...Array.from({ length: 16 }, () => member), tail]));
    const doc = await cliJson([path, "--max-malformed", "100"]);
    expect(doc.data.lines).toMatchObject({ read: 2, valid: 1, malformed: 1 });
    expect(doc.data.malformedReasons[0].reason).toBe("line too long");
    expect(Math.max(...doc.run.workerTimings.map((w: { maxRssMb: number }) => w.maxRssMb))).toBeLessThan(300);
  });
  test("a corrupt gzip file fails its task, naming the file", async () => {
    const path = join(dir, "corrupt.log.gz");
    const gz = gzipSync(readFileSync(fixture("nginx-access.log")));
    gz.fill(0x41, 100, 200);
    writeFileSync(path, gz);
    const r = await cli([path]);
    expectFailure(r, "corrupt.log.gz is not a valid gzip file");
    // The same bytes would fail again: no retry.
    expect(r.stderr).not.toContain("attempt 2");
  });
  test("a bytes field of 17 digits is one malformed line with its reason, not a failed run", async () => {
    const path = join(dir, "huge-bytes.log");
    writeFileSync(path, `${generateText(1, 0, 50)}1.2.3.4 - - [27/Nov/2026:20:21:04 +0000] "GET / HTTP/1.1" 200 12345678901234567 "-" "UA"\n`);
    const r = await cli([path, "--json"]);
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout).data;
    expect(data.lines).toMatchObject({ read: 51, valid: 50, malformed: 1 });
    expect(data.malformedSamples[0]).toMatchObject({ line: 51, reason: "bytes field longer than 15 digits" });
  });
  test.each<[string, number, string[], number, boolean]>([
    ["9% malformed: no warning, exit 0", 9, [], 0, false],
    ["11% malformed: the report, then the warning and exit 1", 11, [], 1, true],
    ["11% with --max-malformed 100: accepted", 11, ["--max-malformed", "100"], 0, false],
    ["1% with --max-malformed 0 (strict): exit 1", 1, ["--max-malformed", "0"], 1, true],
  ])("a mostly malformed input is loud: %s", async (_, percent, flags, code, warned) => {
    const path = join(dir, `malformed-${percent}.log`);
    const good = generateText(2, 0, 100 - percent).split("\n").slice(0, 100 - percent);
    const bad = Array.from({ length: percent }, (_, k) => `${good[k]} "203.0.113.${k}"`);
    writeFileSync(path, `${[...good, ...bad].join("\n")}\n`);
    const r = await cli([path, ...flags]);
    expect(r.code).toBe(code);
    expect(r.stdout).toContain("Access log report");
    expect(r.stdout).toContain(`${percent} (${percent}.00% of the lines read)`);
    if (warned) expect(r.stderr).toContain(`${path}: ${percent}.0% of its 100 lines are malformed (more than --max-malformed`);
    if (warned) expect(r.stderr).toContain("most of them: junk after the user agent");
    else expect(r.stderr).toBe("");
  });
  test("a folder like RHEL's /var/log/httpd after logrotate (dateext, numbered, every codec): every access log read, the rest named in one line", async () => {
    const logs = join(dir, "httpd");
    mkdirSync(logs);
    const text = (k: number) => generateText(k, 0, 40 + k);
    const files: Array<[string, Uint8Array | string]> = [
      ["access_log", text(1)], ["access_log-20150518", text(2)], ["access_log-20150511.gz", compressWith("gzip", Buffer.from(text(3)))],
      ["access.log.1", text(4)], ["access.log.2.zst", compressWith("zstd", Buffer.from(text(5)))], ["access.log.3.bz2", compressWith("bzip2", Buffer.from(text(6)))],
      ["access.log-20150517.xz", compressWith("xz", Buffer.from(text(7)))], ["ssl_access_log", text(8)],
      ["error_log", "x\n"], ["ssl_error_log-20150518", "x\n"], ["README.txt", "x\n"], [".hidden.log", "x\n"],
    ];
    for (const [name, body] of files) writeFileSync(join(logs, name), body);
    const r = await cli([logs, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.data.input.files.map((f: { path: string }) => f.path.replace(`${logs}/`, ""))).toEqual([
      "access.log.3.bz2", "access.log.2.zst", "access.log.1", "access.log-20150517.xz",
      "access_log-20150511.gz", "access_log-20150518", "access_log", "ssl_access_log",
    ]);
    expect(r.stderr).toContain(`skipped 4 files in ${logs}: .hidden.log (hidden), README.txt (not a log name), error_log (error log), ssl_error_log-20150518 (error log)`);
    // The counts are those of each file analyzed alone, added up.
    const sum = { read: 0, requests: 0, bytes: 0 };
    for (const k of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const alone = (await cliJson([fixtureOf(text(k))])).data;
      sum.read += alone.lines.read;
      sum.requests += alone.requests;
      sum.bytes += alone.bytes;
    }
    expect({ read: doc.data.lines.read, requests: doc.data.requests, bytes: doc.data.bytes }).toEqual(sum);
    const listed = await cli([logs, "--list-inputs"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^read  .*access\.log\.3\.bz2 +bzip2 .*access\.log, rotation 3$/m);
    expect(listed.stdout).toMatch(/^skip  .*error_log +error log$/m);
  });
  test("--skip-unreadable with a corrupt rotated file: listed in the report, the rest counted", async () => {
    const logs = join(dir, "corrupt-folder");
    mkdirSync(logs);
    writeFileSync(join(logs, "access.log"), generateText(1, 0, 30));
    const broken = Buffer.from(gzipSync(generateText(2, 0, 500)));
    broken.fill(0x41, 30, 300);
    writeFileSync(join(logs, "access.log.1.gz"), broken);
    expectFailure(await cli([logs]), "access.log.1.gz is not a valid gzip file");
    const r = await cli([logs, "--skip-unreadable"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/skipped +.*access\.log\.1\.gz is not a valid gzip file/);
    expect(r.stdout).toContain("lines read      30");
    expect(r.stderr).toContain("access.log.1.gz is not a valid gzip file");
  });
  test("a dangling symbolic link or a loop named *.log in a directory: one line naming it; --skip-unreadable leaves it out", async () => {
    const logs = join(dir, "links");
    mkdirSync(logs);
    writeFileSync(join(logs, "access.log"), generateText(1, 0, 20));
    symlinkSync(join(logs, "gone.log.1"), join(logs, "access.log.1"));
    expectFailure(await cli([logs]), `cannot read ${join(logs, "access.log.1")}: a dangling symbolic link`);
    rmSync(join(logs, "access.log.1"));
    symlinkSync(join(logs, "access.log.2"), join(logs, "access.log.2"));
    expectFailure(await cli([logs]), `cannot read ${join(logs, "access.log.2")}: a symbolic link loop`);
    const r = await cli([logs, "--skip-unreadable", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).data.lines.read).toBe(20);
    expect(r.stderr).toContain(`skipped ${join(logs, "access.log.2")}: a symbolic link loop`);
  });
  test("an input with no valid line says what it read", async () => {
    const path = join(dir, "junk.log");
    writeFileSync(path, "junk\nmore junk\n");
    const r = await cli([path]);
    expectFailure(r, "no valid access-log line in 2 lines read");
    expect(r.stderr).toContain("junk.log:1");
  });
  test("an empty file", async () => {
    const path = join(dir, "empty.log");
    writeFileSync(path, "");
    expectFailure(await cli([path]), "no valid access-log line in 0 lines read");
  });
});

describe("a terminal", () => {
  /** The CLI under a pseudo-terminal `cols` wide (stdout and stderr both go to it). */
  async function onTerminal(args: string[], cols: number, env: Record<string, string | undefined> = {}): Promise<string> {
    let out = "";
    const decoder = new TextDecoder();
    const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env },
      terminal: { cols, rows: 50, data: (_t, d) => (out += decoder.decode(d, { stream: true })) },
    });
    expect(await child.exited).toBe(0);
    child.terminal?.close();
    return out;
  }
  // The widest bar is the most frequent status's: min(50, columns - 40) cells.
  const widestBar = (text: string) => Math.max(0, ...[...text.matchAll(/█+/g)].map((m) => m[0].length));

  test.each([
    ["a terminal 70 columns wide: colour, bars fit the width", 70, {}, true, 30],
    ["a terminal 200 columns wide: bars at most 50 cells", 200, {}, true, 50],
    ["NO_COLOR on a terminal: no colour, width still the terminal's", 70, { NO_COLOR: "1" }, false, 30],
  ] as const)("%s", async (_name, cols, env, coloured, bar) => {
    const out = await onTerminal(["--lines", "20000", "--workers", "1", "--quiet"], cols, env);
    expect(out).toContain("Access log report");
    expect(out.includes("\x1b[")).toBe(coloured);
    expect(widestBar(out)).toBe(bar);
  });

  test("through a pipe: no colour, 100 columns (bars of 50 cells)", async () => {
    const r = await cli(["--lines", "20000", "--workers", "1"], { env: { NO_COLOR: "" } });
    expect(r.code).toBe(0);
    expect(r.stdout.includes("\x1b[")).toBe(false);
    expect(widestBar(r.stdout)).toBe(50);
  });

  test("progress is drawn on a terminal's stderr, not with --quiet", async () => {
    // Long enough (about a second) for several redraws, however fast the machine.
    const loud = await onTerminal(["--lines", "2000000", "--workers", "1"], 100, { NO_COLOR: "1" });
    const quiet = await onTerminal(["--lines", "300000", "--workers", "1", "--quiet"], 100, { NO_COLOR: "1" });
    expect(loud).toMatch(/\r\x1b\[K.*lines/);
    expect(quiet.includes("\r\x1b[K")).toBe(false);
  });
});

describe("process hygiene", () => {
  test("piping into head ends quietly", async () => {
    const child = Bun.spawn(["sh", "-c", `"${process.execPath}" analyze.ts --lines 50000 | head -1; echo "status=\${PIPESTATUS:-}"`], {
      cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" },
    });
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(out.split("\n")[0]).toBe("Access log report");
    expect(err).toBe("");
  });

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    test(`${signal} kills every child and exits ${code} without a report`, async () => {
      const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, "--lines", "200000000", "--workers", "2"], {
        cwd: ROOT, stdout: "pipe", stderr: "pipe",
      });
      const out = new Response(child.stdout).text();
      const err = new Response(child.stderr).text();
      let workers: number[] = [];
      for (let k = 0; k < 100 && workers.length < 2; k++) {
        await sleep(50);
        workers = childrenOf(child.pid);
      }
      expect(workers.length).toBe(2);
      child.kill(signal);
      expect(await child.exited).toBe(code);
      expect(await out).toBe("");
      expect(await err).not.toContain("failed");
      for (let k = 0; k < 40 && workers.some(isAlive); k++) await sleep(50);
      expect(workers.filter(isAlive)).toEqual([]);
    });
  }

  test("SIGINT 1 s into generate --lines 20M: exit 130, no file, no temporary file", async () => {
    const out = join(dir, "big.log");
    const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, "generate", "--lines", "20M", "-o", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const err = new Response(child.stderr).text();
    await sleep(1000);
    child.kill("SIGINT");
    const signalled = performance.now();
    expect(await child.exited).toBe(130);
    // Honoured between chunks, not after the whole file (which takes many seconds).
    expect(performance.now() - signalled).toBeLessThan(3000);
    expect(await err).toBe("");
    expect(readdirSync(dir).filter((n) => n.includes("big.log"))).toEqual([]);
  });

  test("a temporary file left by a killed generate is removed by the next one", async () => {
    const out = join(dir, "again.log");
    const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, "generate", "--lines", "20M", "-o", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    for (let k = 0; k < 200 && !readdirSync(dir).some((n) => n.startsWith(".again.log.")); k++) await sleep(10);
    child.kill("SIGKILL");
    await child.exited;
    expect(readdirSync(dir).filter((n) => n.startsWith(".again.log."))).toEqual([`.again.log.${child.pid}.tmp`]);
    expect((await cli(["generate", "--lines", "10", "-o", out])).code).toBe(0);
    expect(readdirSync(dir).filter((n) => n.includes("again.log"))).toEqual(["again.log"]);
  });

  test("SIGINT during a reduce still reading its partials: exit 130, no report", async () => {
    const partials = join(dir, "slow-partials.jsonl");
    const plan = (await cli(["plan", "--lines", "20000", "--workers", "2"])).stdout;
    const worker = Bun.spawn([process.execPath, `${ROOT}src/map/worker.ts`], { stdin: new Blob([plan]), stdout: "pipe" });
    writeFileSync(partials, await new Response(worker.stdout).text());
    const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, "reduce"], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const out = new Response(child.stdout).text();
    // Every partial, but the pipe stays open: the reduce is still reading.
    child.stdin.write(readFileSync(partials));
    child.stdin.flush();
    await sleep(1000);
    child.kill("SIGINT");
    expect(await child.exited).toBe(130);
    expect(await out).toBe("");
  });
});
