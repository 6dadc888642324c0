import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { FORMAT_PRESETS } from "../src/count/format.ts";
import { compressedSamplesOf, detectedNote, detectFormat, gzipSampleOf } from "../src/plan/detect-format.ts";
import { cli, fixture } from "./helpers.ts";

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
    // Logs written by the real servers (scripts/fixtures/make-format-fixtures.sh).
    ["nginx with $request_time $upstream_response_time", () => text("nginx-timed.log"), "nginx-timed"],
    ["nginx escape=json", () => text("nginx-json.log"), "json"],
    ["Caddy's JSON access log", () => text("caddy-json.log"), "json"],
    ["Apache vhost_combined with %D: the number read as an opaque field, not guessed", () => text("apache-vhost-timed.log"), `${FORMAT_PRESETS.vhost_combined} %{extra_1}e`],
    ["Combined with a request id and a label appended", () => eachLine(text("nginx-access.log"), (l) => `${l} req-42 rt=0.1`), `${FORMAT_PRESETS.combined} $extra_1 $extra_2`],
    ["appended fields on too few lines: not taken", () => eachLine(text("nginx-access.log"), (l) => (l.length % 3 ? `${l} x` : l)), undefined],
  ])("%s", (_, make, format) => {
    expect(detectFormat(bytes(make()))).toBe(format);
  });
});

describe("detectedNote: what stderr says of a detected format", () => {
  test.each<[string, string[]]>([
    ["json", ["a.log: read as json, which its first lines fit (--format to choose)"]],
    [`${FORMAT_PRESETS.vhost_combined} %{extra_1}e`, ["vhost_combined", "1 more field after the user agent, not counted", `--format '${FORMAT_PRESETS.vhost_combined} %D'`]],
    [`${FORMAT_PRESETS.combined} $extra_1 $extra_2`, ["read as combined", "2 more fields", `--format '${FORMAT_PRESETS.combined} $request_time $extra_2'`]],
  ])("%s", (format, words) => {
    const note = detectedNote("a.log", format);
    for (const w of words) expect(note).toContain(w);
  });
});

describe("gzipSampleOf: a rotated, gzipped log's start, to detect its format", () => {
  const dir = mkdtempSync(join(tmpdir(), "logmr-gzsample-"));
  const plain = readFileSync(fixture("caddy-json.log"));
  const write = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };
  test("the first 16 KiB of what it expands to, from its first 8 KiB (the stream cut there)", () => {
    const sample = gzipSampleOf(write("a.log.gz", gzipSync(plain, { level: 9 })))!;
    expect(Buffer.from(sample)).toEqual(plain.subarray(0, 16 << 10));
    expect(detectFormat(sample)).toBe("json");
  });
  test("a file that is not gzip inside: null, so detection leaves it to the read to say why", () => {
    expect(gzipSampleOf(write("b.log.gz", new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4, 5])))).toBeNull();
  });
  test("cleanup", () => rmSync(dir, { recursive: true, force: true }));
});

describe("compressedSamplesOf: zstd, bzip2 and xz logs' starts, in one child", () => {
  const dir = mkdtempSync(join(tmpdir(), "logmr-csample-"));
  const timed = readFileSync(fixture("nginx-timed.log"));
  const json = readFileSync(fixture("caddy-json.log"));
  /** zlib's zstd; the Debian tools for bzip2 and xz (installed by scripts/test-deps.sh). */
  const compress = (codec: string, data: Uint8Array): Uint8Array => (codec === "zstd" ? zstdCompressSync(data) : Bun.spawnSync([codec, "-c"], { stdin: data }).stdout);
  const write = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };
  test("each file's first 16 KiB expanded, in order; a corrupt one gives null and the others still come", () => {
    const files = [
      { path: write("a.log.zst", compress("zstd", json)), codec: "zstd" },
      { path: write("b.log.bz2", compress("bzip2", timed)), codec: "bzip2" },
      { path: write("c.log.xz", new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 9, 9, 9, 9])), codec: "xz" },
      { path: write("d.log.xz", compress("xz", json)), codec: "xz" },
    ];
    const samples = compressedSamplesOf(files);
    expect(samples.length).toBe(4);
    expect(Buffer.from(samples[0]!)).toEqual(json.subarray(0, 16 << 10));
    expect(Buffer.from(samples[1]!)).toEqual(timed.subarray(0, 16 << 10));
    expect(samples[2]).toBeNull();
    expect(Buffer.from(samples[3]!)).toEqual(json.subarray(0, 16 << 10));
  });
  test("a folder of them without --format: each read in its own format, with the plain files' counts", async () => {
    const folder = join(dir, "logs");
    mkdirSync(folder);
    writeFileSync(join(folder, "access.log.2.zst"), compress("zstd", timed));
    writeFileSync(join(folder, "access.log.3.bz2"), compress("bzip2", timed));
    writeFileSync(join(folder, "access.log.4.xz"), compress("xz", timed));
    const r = await cli([folder, "--json"]);
    expect(r.code).toBe(0);
    for (const name of ["access.log.2.zst", "access.log.3.bz2", "access.log.4.xz"]) expect(r.stderr).toContain(`${name}: read as nginx-timed`);
    const plain = JSON.parse((await cli([fixture("nginx-timed.log"), "--json"])).stdout).data;
    const data = JSON.parse(r.stdout).data;
    expect(data.lines.valid).toBe(3 * plain.lines.valid);
    expect(data.latency.all.count).toBe(3 * plain.latency.all.count);
  });
  test("cleanup", () => rmSync(dir, { recursive: true, force: true }));
});
