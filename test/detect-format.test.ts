import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { detectFormat } from "../src/plan/detect-format.ts";
import { fixture } from "./helpers.ts";

const text = (name: string) => readFileSync(fixture(name), "latin1");
const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const eachLine = (s: string, f: (l: string) => string) => s.split("\n").map((l) => (l === "" ? l : f(l))).join("\n");

describe("detectFormat: the format the first lines fit", () => {
  test.each<[string, () => string, string | undefined]>([
    ["nginx's Combined fixture", () => text("nginx-access.log"), undefined],
    ["Apache's Combined fixture", () => text("apache-access.log"), undefined],
    ["the fixture with garbage spliced in", () => text("mixed-garbage.log"), undefined],
    ["Apache vhost_combined", () => eachLine(text("apache-access.log"), (l) => `www.example.com:443 ${l}`), "vhost_combined"],
    ["Caddy's JSON", () => eachLine(text("nginx-access.log"), (l) => JSON.stringify({ ts: 1, request: { client_ip: l.split(" ")[0], method: "GET", uri: "/" }, status: 200 })), "json"],
    ["nothing known (stays Combined, whose reasons then say why)", () => "hello\nworld\n", undefined],
  ])("%s", (_, make, format) => {
    expect(detectFormat(bytes(make()))).toBe(format);
  });
});
