import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { FastCombinedCounter } from "../src/count/fast/combined.ts";
import { JsonLinesCounter } from "../src/count/json-lines.ts";
import type { LineCounter } from "../src/count/counter.ts";
import { LineAssembler } from "../src/map/read-input.ts";
import { fixture } from "./helpers.ts";

function feed(counter: LineCounter, text: string) {
  const lines = new LineAssembler(counter);
  lines.push(new TextEncoder().encode(text));
  lines.end();
  return counter.toCounts();
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const LINE = /^(\S+) \S+ \S+ \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/;

/** The fixture's Combined lines with a method and a path, and the same requests as Caddy and as Traefik would log them. */
function converted() {
  const combined: string[] = [];
  const caddy: string[] = [];
  const traefik: string[] = [];
  for (const line of readFileSync(fixture("nginx-access.log"), "latin1").split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, host, d, mon, y, h, mi, s, sign, zh, zm, method, uri, status, size, referer, agent] = m as unknown as string[];
    const epoch = Date.UTC(Number(y), MONTHS.indexOf(mon!), Number(d), Number(h), Number(mi), Number(s)) / 1000 - (sign === "-" ? -1 : 1) * (Number(zh) * 3600 + Number(zm) * 60);
    combined.push(line);
    const headers: Record<string, string[]> = { "User-Agent": [agent!] };
    if (referer !== "-") headers.Referer = [referer!];
    caddy.push(JSON.stringify({ level: "info", ts: epoch + 0.25, request: { client_ip: host, method, uri, headers }, duration: 0.0012, size: size === "-" ? 0 : Number(size), status: Number(status) }));
    traefik.push(JSON.stringify({ ClientHost: host, RequestMethod: method, RequestPath: uri, DownstreamStatus: Number(status), DownstreamContentSize: size === "-" ? 0 : Number(size), Duration: 1200000, StartUTC: new Date(epoch * 1000 + 250).toISOString(), "request_User-Agent": agent, ...(referer !== "-" ? { "request_Referer": referer } : {}) }));
  }
  return { combined: `${combined.join("\n")}\n`, caddy: `${caddy.join("\n")}\n`, traefik: `${traefik.join("\n")}\n`, n: combined.length };
}

describe("JSON access logs (--format json)", () => {
  const { combined, caddy, traefik, n } = converted();
  test.each([["Caddy", caddy], ["Traefik", traefik]])("%s lines count like the Combined lines of the same requests", (_, json) => {
    expect(n).toBeGreaterThan(1000);
    const want = feed(new FastCombinedCounter(), combined);
    const { latency, ...got } = feed(new JsonLinesCounter(), json);
    expect(got).toEqual(want);
    expect(latency?.all.count).toBe(n);
    expect(latency?.all.max).toBeCloseTo(0.0012, 6);
  });

  test.each<[string, string, string]>([
    ["not JSON", "GET / 200", "not a JSON object"],
    ["an array", "[1,2]", "not a JSON object"],
    ["no client", '{"request":{"method":"GET","uri":"/"},"status":200,"ts":1}', "no client field"],
    ["no request", '{"request":{"client_ip":"1.2.3.4"},"status":200,"ts":1}', "no request fields (method and URI, or the request line)"],
    ["a status of two digits", '{"request":{"client_ip":"1.2.3.4","method":"GET","uri":"/"},"status":20,"ts":1}', "status is not 3 digits"],
    ["no time", '{"request":{"client_ip":"1.2.3.4","method":"GET","uri":"/"},"status":200}', "invalid date"],
  ])("refuses %s, with the reason", (_, line, reason) => {
    const counts = feed(new JsonLinesCounter(), `${line}\n`);
    expect(counts.lines.malformed).toBe(1);
    expect(counts.malformedReasons[0]![0]).toBe(reason);
  });

  test("nginx escape=json with its own key names and string values", () => {
    const line = '{"remote_addr":"1.2.3.4","time_iso8601":"2026-11-27T20:21:04+00:00","request_method":"GET","request_uri":"/a?b","status":"404","body_bytes_sent":"12","http_referer":"","http_user_agent":"UA","request_time":"0.005"}';
    const counts = feed(new JsonLinesCounter(), `${line}\n`);
    expect(counts.lines.valid).toBe(1);
    expect(counts.status).toEqual([["404", 1]]);
    expect(counts.paths).toEqual([["/a", 1]]);
    // Fields as written: nginx's escape=json writes an empty referer as "", not "-".
    expect(counts.referrers).toEqual([["", 1]]);
    expect(counts.firstTime).toBe(Date.UTC(2026, 10, 27, 20, 21, 4) / 1000);
    expect(counts.latency?.all.count).toBe(1);
  });
});
