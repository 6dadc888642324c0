// Logs written by real nginx, Apache and Caddy (scripts/fixtures/make-format-fixtures.sh)
// against truth files from an independent Python parser (scripts/fixtures/format-truth.py).

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { SEGMENT_BYTES_ENV } from "../src/core/protocol.ts";
import { cliJson, fixture } from "./helpers.ts";

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
