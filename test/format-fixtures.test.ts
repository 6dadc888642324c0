// Logs written by real nginx, Apache and Caddy (scripts/fixtures/make-format-fixtures.sh)
// against truth files from an independent Python parser (scripts/fixtures/format-truth.py).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { SEGMENT_BYTES_ENV } from "../src/core/protocol.ts";
import { cli, cliJson, fixture } from "./helpers.ts";

const APACHE_TIMED = 'apache:%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D';

interface Summary {
  count: number;
  mean: number;
  max: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
}

/** The sketch's bound (1% relative) plus the last-digit noise of a float. */
function expectWithinBound(got: Record<string, number>, want: Summary) {
  expect(got.count).toBe(want.count);
  expect(got.max).toBeCloseTo(want.max, 9);
  // Sums are kept in whole microseconds: one rounding a value at most.
  expect(Math.abs(got.mean! - want.mean)).toBeLessThanOrEqual(0.5e-6 + 1e-12);
  for (const q of ["p50", "p90", "p95", "p99"] as const) {
    if (want[q] === 0) expect(got[q]).toBe(0);
    else expect(Math.abs(got[q]! - want[q]) / want[q]).toBeLessThanOrEqual(0.01 + 1e-9);
  }
}

// The format each is read in: detected from the file (apache's %D only when named), given for stdin.
describe.each<[string, string[], string]>([
  ["nginx-timed.log", [], "nginx-timed"],
  ["nginx-json.log", [], "json"],
  ["caddy-json.log", [], "json"],
  ["apache-vhost-timed.log", ["--format", APACHE_TIMED], APACHE_TIMED],
])("%s equals its truth file", (name, flags, format) => {
  const truth = JSON.parse(readFileSync(fixture(`${name}.truth.json`), "utf8"));

  // From stdin in 8 KiB segments, many partials are merged.
  test.each([["the file, 1 worker", false], ["stdin in 8 KiB tasks, 3 workers", true]])("%s", async (_, piped) => {
    const args = piped ? ["-", "--format", format, "--workers", "3"] : [fixture(name), ...flags, "--workers", "1"];
    const { data, run } = await cliJson([...args, "--top", "1000"], piped ? { stdin: readFileSync(fixture(name)), env: { [SEGMENT_BYTES_ENV]: "8192" } } : {});
    expect(run.tasks).toBeGreaterThan(piped ? 5 : 0);
    expect(data.lines).toMatchObject({ read: truth.total_lines, valid: truth.valid_lines, malformed: truth.malformed_lines });
    expect(data.malformedSamples.map((s: { line: number }) => s.line)).toEqual(truth.malformed_line_numbers.slice(0, 5));
    expect(data.bytes).toBe(truth.total_bytes);
    expect(data.uniqueClients).toBe(truth.unique_clients);
    expect(Object.fromEntries(data.topClients.map((c: { client: string; requests: number }) => [c.client, c.requests]))).toEqual(truth.clients);
    expect(Object.fromEntries(data.status.map((s: { code: number; count: number }) => [String(s.code), s.count]))).toEqual(truth.status);
    expect(Object.fromEntries(data.methods.map((m: { key: string; count: number }) => [m.key, m.count]))).toEqual(truth.methods);
    if (!truth.top_paths_tie_at_cutoff) {
      expect(data.topPaths.slice(0, 5).map((p: { key: string; count: number }) => ({ path: p.key, count: p.count }))).toEqual(truth.top_paths);
    }
    expect(Date.parse(data.firstTime) / 1000).toBe(truth.first_epoch);
    expect(Date.parse(data.lastTime) / 1000).toBe(truth.last_epoch);

    const hosts = Object.entries(truth.hosts as Record<string, { requests: number; errors: number }>);
    if (hosts.length === 0) expect(data.topHosts).toBeNull();
    else {
      const got = Object.fromEntries(data.topHosts.map((h: { host: string; requests: number; errorRate: number }) => [h.host, h]));
      expect(Object.keys(got).sort()).toEqual(hosts.map(([h]) => h).sort());
      for (const [host, want] of hosts) {
        expect(got[host].requests).toBe(want.requests);
        expect(got[host].errorRate).toBeCloseTo(want.errors / want.requests, 12);
      }
    }

    expectWithinBound(data.latency.all, truth.latency.all);
    const byClass = Object.fromEntries(data.latency.byClass.map((c: { class: string }) => [c.class, c]));
    expect(Object.keys(byClass).sort()).toEqual(Object.keys(truth.latency.by_class).sort());
    for (const [cls, want] of Object.entries(truth.latency.by_class as Record<string, Summary>)) expectWithinBound(byClass[cls], want);
  });
});

// --vhost against an oracle: the same engine on a file holding only that host's lines (cut out here by a regex or JSON.parse).
describe.each<[string, string[], (line: string) => string]>([
  ["nginx-json.log", [], (l) => JSON.parse(l).host],
  ["caddy-json.log", [], (l) => JSON.parse(l).request.host],
  ["apache-vhost-timed.log", ["--format", APACHE_TIMED], (l) => l.slice(0, l.indexOf(":"))],
])("--vhost on %s counts what a log of that host's lines alone counts", (name, flags, hostOf) => {
  const lines = readFileSync(fixture(name), "latin1").split("\n").filter(Boolean);
  const hosts = [...new Set(lines.map(hostOf))];
  const dir = mkdtempSync(join(tmpdir(), "logmr-vhost-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // What two runs of different inputs must differ in; everything else equal.
  const counted = ({ input: _, vhosts: __, lines: ___, malformedSamples: ____, timeline: _____, ...rest }: Record<string, unknown>) => rest;

  test.each(hosts.map((h) => [h]))("%s", async (host) => {
    const mine = lines.filter((l) => hostOf(l) === host);
    const alone = join(dir, `${host}.log`);
    writeFileSync(alone, `${mine.join("\n")}\n`, "latin1");
    // Caddy writes the port: the name without it matches too.
    const wanted = host.replace(/:\d+$/, "");
    const [want, got] = await Promise.all([
      cliJson([alone, ...flags, "--top", "1000"]),
      cliJson(["-", ...flags, "--format", flags[1] ?? "json", "--vhost", wanted, "--workers", "3", "--top", "1000"], { stdin: readFileSync(fixture(name)), env: { [SEGMENT_BYTES_ENV]: "8192" } }),
    ]);
    expect(got.data.vhosts).toEqual([wanted]);
    expect(got.data.lines.filtered).toBe(lines.length - mine.length);
    expect(got.data.requests).toBe(mine.length);
    expect(counted(got.data)).toEqual(counted(want.data));
    expect(got.data.topHosts.map((h: { host: string }) => h.host)).toEqual([host]);
  });
});

test("rotated logs, plain and gzipped, each detected: twice the truth of one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "logmr-rotated-"));
  try {
    const log = readFileSync(fixture("nginx-timed.log"));
    writeFileSync(join(dir, "access.log"), log);
    writeFileSync(join(dir, "access.log.1.gz"), gzipSync(log));
    const truth = JSON.parse(readFileSync(fixture("nginx-timed.log.truth.json"), "utf8"));
    const r = await cli([dir, "--json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("access.log.1.gz: read as nginx-timed");
    const { data } = JSON.parse(r.stdout);
    expect(data.lines.valid).toBe(2 * truth.valid_lines);
    expect(data.latency.all.count).toBe(2 * truth.latency.all.count);
    expect(data.latency.all.max).toBe(truth.latency.all.max);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
