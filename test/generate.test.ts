import { describe, expect, test } from "bun:test";
import {
  BYTES_RANGE, DEFAULT_GENERATOR, generateText, LineGenerator, STANDARD_CLIENTS, STANDARD_STATUS, SUSPICIOUS_CLIENTS, SUSPICIOUS_SHARE,
} from "../src/map/generate.ts";
import { oracleCount } from "./oracle.ts";

describe("generated traffic", () => {
  test("is deterministic: same seed and range give byte-identical text", () => {
    expect(generateText(42, 0, 2000)).toBe(generateText(42, 0, 2000));
    expect(generateText(42, 0, 2000)).not.toBe(generateText(43, 0, 2000));
  });

  test("line i depends only on (seed, i): any split concatenates to the whole", () => {
    const whole = generateText(7, 0, 5000);
    for (const cuts of [[1], [2499, 2500], [1, 2, 3, 4999], [1234, 3333]]) {
      const bounds = [0, ...cuts, 5000];
      const parts = bounds.slice(1).map((end, k) => generateText(7, bounds[k]!, end));
      expect(parts.join("")).toBe(whole);
    }
  });

  test("small buffers split the same lines across fills", () => {
    const gen = new LineGenerator(9, DEFAULT_GENERATOR);
    const buf = new Uint8Array(1024);
    const dec = new TextDecoder();
    let text = "";
    for (let i = 0; i < 300; i = gen.next) text += dec.decode(buf.subarray(0, gen.fill(buf, i, 300)));
    expect(text).toBe(generateText(9, 0, 300));
  });

  test("every line is valid Combined Log Format with the planted clients and statuses", () => {
    const o = oracleCount(generateText(1, 0, 50_000));
    expect(o.read).toBe(50_000);
    expect(o.malformed).toBe(0);
    expect(o.combined).toBe(50_000);
    const clients = new Set([...STANDARD_CLIENTS, ...SUSPICIOUS_CLIENTS]);
    for (const c of o.clients.keys()) expect(clients.has(c)).toBe(true);
    expect([...o.status.keys()].sort()).toEqual(STANDARD_STATUS.map(([s]) => String(s)).sort());
    // the suspicious clients send a clearly larger share each
    const suspicious = SUSPICIOUS_CLIENTS.reduce((a, c) => a + (o.clients.get(c) ?? 0), 0) / 50_000;
    expect(Math.abs(suspicious - SUSPICIOUS_SHARE)).toBeLessThan(0.01);
    const perStandard = (1 - suspicious) / STANDARD_CLIENTS.length;
    for (const c of SUSPICIOUS_CLIENTS) expect(o.clients.get(c)! / 50_000).toBeGreaterThan(2 * perStandard);
  });

  test("numbers are plain decimal, in their ranges, of every length from 1 to 5 digits", () => {
    const lengths = new Set<number>();
    const line = /" (\d{3}) (\S+) "/;
    for (const text of generateText(5, 0, 50_000).trimEnd().split("\n")) {
      const [, status, bytes] = line.exec(text)!;
      expect(bytes).toMatch(/^(0|[1-9][0-9]*)$/);
      const [least, most] = BYTES_RANGE[Number(status)]!;
      expect(Number(bytes)).toBeGreaterThanOrEqual(least);
      expect(Number(bytes)).toBeLessThanOrEqual(most);
      lengths.add(bytes!.length);
      const id = /\?id=([^ ]*) /.exec(text)?.[1];
      if (id !== undefined) {
        expect(id).toMatch(/^[1-9][0-9]{0,3}$/);
        lengths.add(id.length);
      }
    }
    expect([...lengths].sort()).toEqual([1, 2, 3, 4, 5]);
  });

  test("timestamps advance with i from the fixed start", () => {
    const perSecond = DEFAULT_GENERATOR.linesPerSecond;
    const lines = generateText(1, 0, 3 * perSecond).split("\n");
    expect(lines[0]).toContain("[27/Nov/2026:00:00:00 +0000]");
    expect(lines[perSecond - 1]).toContain("[27/Nov/2026:00:00:00 +0000]");
    expect(lines[perSecond]).toContain("[27/Nov/2026:00:00:01 +0000]");
    expect(generateText(1, 86_400 * perSecond, 86_400 * perSecond + 1)).toContain("[28/Nov/2026:00:00:00 +0000]");
  });

  test("line numbers above 2^32 work", () => {
    const i = 2 ** 33 + 5;
    expect(generateText(3, i, i + 1)).toBe(generateText(3, i, i + 2).split("\n")[0] + "\n");
    expect(oracleCount(generateText(3, i, i + 10)).valid).toBe(10);
  });
});

describe("generate --cardinality high", () => {
  test("every line its own client, every two lines their own path, the rest of each line as generated, all valid", async () => {
    const { cli } = await import("./helpers.ts");
    const [normal, high] = await Promise.all([
      cli(["generate", "--lines", "3000", "--seed", "5"]),
      cli(["generate", "--lines", "3000", "--seed", "5", "--cardinality", "high"]),
    ]);
    expect(normal.code).toBe(0);
    expect(high.code).toBe(0);
    const a = normal.stdout.trimEnd().split("\n");
    const b = high.stdout.trimEnd().split("\n");
    expect(b.length).toBe(3000);
    // The line without its client and its path is the same line.
    const rest = (line: string) => line.replace(/^\S+/, "").replace(/^([^"]*"\S+ )\S+/, "$1");
    expect(b.map(rest)).toEqual(a.map(rest));
    const clients = b.map((l) => l.split(" ")[0]);
    expect(clients.slice(0, 3)).toEqual(["10.0.0.0", "10.0.0.1", "10.0.0.2"]);
    expect(new Set(clients).size).toBe(3000);
    expect(new Set(b.map((l) => l.split(" ")[6])).size).toBe(1500);
    const counts = oracleCount(high.stdout);
    expect(counts.valid).toBe(3000);
    expect(counts.clients.size).toBe(3000);
  });
  test("the client of a line past 2^24 moves to the next /8", async () => {
    const { clientOf, pathOf } = await import("../src/map/high-cardinality.ts");
    expect(clientOf(2 ** 24 + 258)).toBe("11.0.1.2");
    expect(clientOf(2 ** 24 - 1)).toBe("10.255.255.255");
    expect(pathOf(9_999_999)).toBe("/item/4999999");
  });
});
