import { describe, expect, test } from "bun:test";
import { FastCombinedCounter as LogCounter } from "../src/count/fast/combined.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import { bar, buildReport, printable, rankRows, renderJson, renderReport } from "../src/report/report.ts";

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
      { start: "2026-11-27T10:00:00Z", count: 1 }, { start: "2026-11-27T11:00:00Z", count: 0 },
      { start: "2026-11-27T12:00:00Z", count: 0 }, { start: "2026-11-27T13:00:00Z", count: 1 },
    ]);
    const hours = report(line("a", "/", 200, "27/Nov/2026:10:00:00 +0000") + line("a", "/", 200, "27/Nov/2026:13:30:00 +0000"));
    expect(hours.timeline.unit).toBe("5 minutes");
    expect(hours.timeline.buckets.length).toBe(43);
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
    expect(doc.schema).toBe(1);
    expect(doc.data.requests).toBe(1);
  });

  test("bars scale to the maximum", () => {
    expect(bar(10, 10, 5)).toBe("█████");
    expect(bar(0, 10, 5)).toBe("");
    expect(bar(5, 10, 4)).toBe("██");
  });
});
