import { describe, expect, test } from "bun:test";
import { FastCombinedCounter as LogCounter } from "../src/count/fast/combined.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import { bar, buildReport, MAX_ASKED_BUCKETS, printable, rankRows, renderJson, renderReport, timeline, type TimelineBucket } from "../src/report/report.ts";

function report(text: string, top = 3) {
  const counter = new LogCounter();
  const lines = new LineAssembler(counter);
  lines.push(new TextEncoder().encode(text));
  lines.end();
  return buildReport(counter.toCounts(), { input: { kind: "files", files: [{ path: "x.log", format: "plain", bytes: text.length }] }, inputNames: ["x.log"], top });
}
const line = (client: string, path: string, status: number, time = "27/Nov/2026:10:00:00 +0000") =>
  `${client} - - [${time}] "GET ${path} HTTP/1.1" ${status} 100 "-" "UA"\n`;

describe("buildReport", () => {
  test("top lists rank by count, then key in byte order", () => {
    expect(rankRows([["b", 2], ["a", 2], ["c", 5], ["d", 1]], 3, 10).map((r) => r.key)).toEqual(["c", "a", "b"]);
  });

  test("shares, classes and error rates come from the counts", () => {
    const r = report(line("1.1.1.1", "/", 200) + line("1.1.1.1", "/x", 404) + line("2.2.2.2", "/", 500) + line("2.2.2.2", "/", 503));
    expect(r.requests).toBe(4);
    expect(r.status.map((s) => [s.code, s.count])).toEqual([[200, 1], [404, 1], [500, 1], [503, 1]]);
    expect(r.classes.map((c) => [c.class, c.count])).toEqual([["2xx", 1], ["4xx", 1], ["5xx", 2]]);
    expect(r.errorRates).toEqual({ server500: 0.25, server5xx: 0.5, client4xx: 0.25 });
    expect(r.topNotFoundPaths).toEqual([{ key: "/x", count: 1, share: 1 }]);
    expect(r.topClients.map((c) => [c.client, c.requests, c.errors4xx, c.errors5xx])).toEqual([["1.1.1.1", 2, 1, 0], ["2.2.2.2", 2, 0, 2]]);
  });

  test("the timeline fills gaps and takes the finest buckets that give at most 60 bars", () => {
    const short = report(line("a", "/", 200, "27/Nov/2026:10:00:00 +0000") + line("a", "/", 200, "27/Nov/2026:10:02:30 +0000"));
    expect(short.timeline.unit).toBe("minute");
    expect(short.timeline.buckets.map((b) => b.count)).toEqual([1, 0, 1]);
    const day = report(line("a", "/", 200, "27/Nov/2026:10:00:00 +0000") + line("a", "/", 200, "27/Nov/2026:13:30:00 +0000") + line("a", "/", 200, "28/Nov/2026:09:59:00 +0000"));
    expect(day.timeline.unit).toBe("hour");
    expect(day.timeline.buckets.length).toBe(24);
    expect(day.timeline.buckets.slice(0, 4)).toEqual([
      { start: "2026-11-27T10:00:00Z", count: 1, errors4xx: 0, errors5xx: 0 }, { start: "2026-11-27T11:00:00Z", count: 0, errors4xx: 0, errors5xx: 0 },
      { start: "2026-11-27T12:00:00Z", count: 0, errors4xx: 0, errors5xx: 0 }, { start: "2026-11-27T13:00:00Z", count: 1, errors4xx: 0, errors5xx: 0 },
    ]);
    const hours = report(line("a", "/", 200, "27/Nov/2026:10:00:00 +0000") + line("a", "/", 200, "27/Nov/2026:13:30:00 +0000"));
    expect(hours.timeline.unit).toBe("5 minutes");
    expect(hours.timeline.buckets.length).toBe(43);
  });

  test("each bucket counts its 4xx and 5xx responses (hand-counted)", () => {
    const at = (hm: string) => `27/Nov/2026:${hm}:00 +0000`;
    const r = report(
      line("a", "/", 404, at("10:00")) + line("a", "/", 200, at("10:00")) + line("b", "/", 503, at("10:00")) +
      line("a", "/", 500, at("10:02")) + line("a", "/", 502, at("10:02")) + line("c", "/", 301, at("10:02")) + line("c", "/", 410, at("10:03")),
    );
    expect(r.timeline.buckets.map((b) => [b.count, b.errors4xx, b.errors5xx])).toEqual([[3, 1, 1], [0, 0, 0], [3, 0, 2], [1, 1, 0]]);
  });

  // Minutes since the epoch of hand-picked times (UTC), and each bucket's first minute as ISO.
  const at = (iso: string) => Date.parse(iso) / 60_000;
  const bucketCases: Array<[TimelineBucket, Array<[string, number]>, Array<[string, number]>]> = [
    ["minute", [["2026-11-27T10:00:00Z", 2], ["2026-11-27T10:02:00Z", 1]], [["2026-11-27T10:00:00Z", 2], ["2026-11-27T10:01:00Z", 0], ["2026-11-27T10:02:00Z", 1]]],
    ["hour", [["2026-11-27T10:59:00Z", 1], ["2026-11-27T11:00:00Z", 4]], [["2026-11-27T10:00:00Z", 1], ["2026-11-27T11:00:00Z", 4]]],
    ["day", [["2026-11-27T23:59:00Z", 1], ["2026-11-29T00:00:00Z", 2]], [["2026-11-27T00:00:00Z", 1], ["2026-11-28T00:00:00Z", 0], ["2026-11-29T00:00:00Z", 2]]],
    // 2026-11-29 is a Sunday, 2026-11-30 a Monday: weeks start on Monday.
    ["week", [["2026-11-29T23:59:00Z", 1], ["2026-11-30T00:00:00Z", 3], ["2026-12-06T23:59:00Z", 1]], [["2026-11-23T00:00:00Z", 1], ["2026-11-30T00:00:00Z", 4]]],
    // Calendar months of 31, 28 (2027) and 31 days; a month with no request stays, with 0.
    ["month", [["2026-12-31T23:59:00Z", 1], ["2027-02-01T00:00:00Z", 2], ["2027-02-28T23:59:00Z", 1], ["2027-03-01T00:00:00Z", 5]], [["2026-12-01T00:00:00Z", 1], ["2027-01-01T00:00:00Z", 0], ["2027-02-01T00:00:00Z", 3], ["2027-03-01T00:00:00Z", 5]]],
    // Before 1970 too.
    ["week", [["1969-12-31T12:00:00Z", 1]], [["1969-12-29T00:00:00Z", 1]]],
    ["month", [["1969-12-31T12:00:00Z", 1], ["1970-01-01T00:00:00Z", 1]], [["1969-12-01T00:00:00Z", 1], ["1970-01-01T00:00:00Z", 1]]],
  ];
  test.each(bucketCases)("--bucket %s", (bucket, minutes, expected) => {
    const t = timeline(minutes.map(([iso, n]) => [at(iso), n, n >> 1, n >> 2]), bucket);
    expect(t.unit).toBe(bucket);
    expect(t.bucketMinutes).toBe(({ minute: 1, hour: 60, day: 1440, week: 10080, month: null } as const)[bucket]);
    expect(t.buckets.map((b) => [b.start, b.count])).toEqual(expected);
    // Errors are summed into the same buckets as the requests.
    const bucketOfMinute = (iso: string) => expected.findLastIndex(([start]) => start <= iso);
    const errors = expected.map(() => [0, 0]);
    for (const [iso, n] of minutes) {
      errors[bucketOfMinute(iso)]![0]! += n >> 1;
      errors[bucketOfMinute(iso)]![1]! += n >> 2;
    }
    expect(t.buckets.map((b) => [b.errors4xx, b.errors5xx])).toEqual(errors);
  });

  test("--bucket with more buckets than a timeline can show is refused with a way out", () => {
    const minutes: Array<[number, number, number, number]> = [[0, 1, 0, 0], [MAX_ASKED_BUCKETS, 1, 0, 0]];
    expect(() => timeline(minutes, "minute")).toThrow(/--bucket minute makes 100,001 buckets.*--since\/--until/);
    expect(timeline(minutes, "hour").buckets.length).toBe(Math.floor(MAX_ASKED_BUCKETS / 60) + 1);
  });

  test("a long --bucket timeline shows its empty stretches as one row each", () => {
    const r = { ...report(line("a", "/", 200)), timeline: timeline([[at("2026-11-27T10:00:00Z"), 1, 0, 0], [at("2026-11-27T10:01:00Z"), 2, 0, 0], [at("2026-11-27T12:00:00Z"), 3, 0, 0]], "minute") };
    const text = renderReport(r, null, { color: false, width: 100 });
    const rows = text.slice(text.indexOf("Requests per minute")).split("\n").slice(1, 5);
    expect(rows[0]).toMatch(/^  2026-11-27 10:00 +1 /);
    expect(rows[1]).toMatch(/^  2026-11-27 10:01 +2 /);
    expect(rows[2]).toMatch(/^  2026-11-27 10:02 +0 +\(118 empty minutes, to 2026-11-27 11:59\)$/);
    expect(rows[3]).toMatch(/^  2026-11-27 12:00 +3 /);
  });

  test("a hostile log spanning millennia still gives a short timeline", () => {
    const r = report(line("a", "/", 200, "01/Jan/0001:00:00:00 +0000") + line("a", "/", 200, "31/Dec/9999:23:59:59 +0000"));
    expect(r.timeline.buckets.length).toBeLessThanOrEqual(60);
    expect(r.timeline.buckets.reduce((a, b) => a + b.count, 0)).toBe(2);
    expect(r.timeline.buckets[0]!.count).toBe(1);
  });

  test("keys with control characters cannot reach the terminal raw", () => {
    expect(printable("a\x1b[31mb\x07")).toBe("a\\x1B[31mb\\x07");
    const text = renderReport(report(line("1.1.1.1", "/\x1b[2J", 200)), null, { color: false, width: 100 });
    expect(text).not.toContain("\x1b");
    expect(text).toContain("/\\x1B[2J");
  });

  test("colour only when asked", () => {
    const r = report(line("1.1.1.1", "/", 200));
    expect(renderReport(r, null, { color: false, width: 100 })).not.toContain("\x1b[");
    expect(renderReport(r, null, { color: true, width: 100 })).toContain("\x1b[");
  });

  test("JSON keeps data apart from run, with a schema version", () => {
    const doc = JSON.parse(renderJson(report(line("1.1.1.1", "/", 200)), null));
    expect(Object.keys(doc)).toEqual(["schema", "engine", "data", "run"]);
    expect(doc.schema).toBe(2);
    expect(doc.data.requests).toBe(1);
  });

  test("bars scale to the maximum", () => {
    expect(bar(10, 10, 5)).toBe("█████");
    expect(bar(0, 10, 5)).toBe("");
    expect(bar(5, 10, 4)).toBe("██");
  });
});
