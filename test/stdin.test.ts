import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { zstdCompressSync } from "node:zlib";
import { generateText } from "../src/map/generate.ts";
import { StdinSegments } from "../src/map/stdin-segments.ts";
import type { SegmentTask, Task } from "../src/core/task.ts";
import { cli, ROOT } from "./helpers.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "logmr-stdin-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A run's data without what names its input: the same bytes read from a file or from stdin differ only there. */
const dataOf = (stdout: string) => {
  const { input: _, ...data } = JSON.parse(stdout).data;
  for (const s of data.malformedSamples) s.input = "?";
  return data;
};

async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length]!;
    yield bytes.slice(at, at + n);
    at += n;
  }
}

async function drain(source: StdinSegments): Promise<SegmentTask[]> {
  const tasks: SegmentTask[] = [];
  for (let t = await source.next(); t; t = await source.next()) tasks.push(t as SegmentTask);
  return tasks;
}

describe("StdinSegments", () => {
  const text = new TextEncoder().encode(`${generateText(3, 0, 400)}a last line without LF`);
  test.each([
    ["one byte at a time", [1]],
    ["odd chunks", [7, 300, 4096, 13]],
    ["chunks larger than a segment", [50_000]],
  ])("%s: segments tile the input, each cut after a line end", async (_, sizes) => {
    const source = new StdinSegments(chunked(text, sizes), { input: 2, firstId: 5, segmentBytes: 10_000, maxPending: 1000 });
    const tasks = await drain(source);
    expect(tasks.length).toBeGreaterThan(5);
    expect(tasks.map((t) => t.id)).toEqual(tasks.map((_, k) => 5 + k));
    let at = 0;
    for (const [k, t] of tasks.entries()) {
      expect(t).toMatchObject({ kind: "segment", input: 2, start: at });
      const saved = new Uint8Array(readFileSync(t.path));
      expect(saved).toEqual(text.subarray(t.start, t.end));
      if (k < tasks.length - 1) expect(saved[saved.length - 1]).toBe(10);
      at = t.end;
    }
    expect(at).toBe(text.length);
    expect(source.bytes).toBe(text.length);
    source.accepted(tasks[0]!);
    expect(existsSync(tasks[0]!.path)).toBe(false);
    source.close();
    expect(existsSync(dirname(tasks[1]!.path))).toBe(false);
  });

  test("a line longer than a segment stays whole", async () => {
    const long = new TextEncoder().encode(`short\n${"x".repeat(25_000)}\nshort\n`);
    const source = new StdinSegments(chunked(long, [999]), { input: 0, firstId: 0, segmentBytes: 10_000 });
    const tasks = await drain(source);
    expect(tasks.map((t) => [t.start, t.end])).toEqual([[0, 25_007], [25_007, 25_013]]);
    source.close();
  });

  test("reading waits while too many segments wait for their partial", async () => {
    const source = new StdinSegments(chunked(text, [1000]), { input: 0, firstId: 0, segmentBytes: 5_000, maxPending: 2 });
    const first = [await source.next(), await source.next()] as Task[];
    await Bun.sleep(50);
    const readSoFar = source.bytes;
    expect(readSoFar).toBeLessThan(16_000); // two segments and the chunk that opened a third, at most
    source.accepted(first[0]!);
    const third = await source.next();
    expect(third?.id).toBe(2);
    source.close();
  });
});

describe("standard input is read once: retries and pauses count every line once", () => {
  const path = join(dir, "in.log");
  // About 40 MB: two segments, so two tasks.
  const lines = 200_000;
  writeFileSync(path, generateText(4, 0, lines));

  test("a worker killed mid-task: its retry reads the same bytes", async () => {
    const clean = await cli([path, "--json"]);
    const r = await cli(["-", "--json", "--workers", "2"], { stdin: readFileSync(path), env: { LOGMR_FAULTS: "kill@0" } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.run.retries.length).toBe(1);
    expect(doc.run.tasks).toBeGreaterThanOrEqual(2);
    expect(doc.data.lines.read).toBe(lines);
    expect(dataOf(r.stdout)).toEqual(dataOf(clean.stdout));
  });

  test("a pipe that pauses longer than --task-timeout: no retry, every line once", async () => {
    const child = Bun.spawn(["sh", "-c", `(head -n 1000 "${path}"; sleep 2.5; sed -n '1001,2000p' "${path}") | "${process.execPath}" analyze.ts - --json --task-timeout 1`], {
      cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" },
    });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    const doc = JSON.parse(out);
    expect(doc.data.lines.read).toBe(2000);
    expect(doc.data.lines.valid).toBe(2000);
    expect(doc.run.retries).toEqual([]);
  });

  test("far more segments than may wait at once (each released when its partial is accepted), faults on two of them", async () => {
    const text = readFileSync(path).subarray(0, 2_000_000);
    const file = join(dir, "part.log");
    writeFileSync(file, text);
    const clean = await cli([file, "--json"]);
    const r = await cli(["-", "--json", "--workers", "2"], { stdin: text, env: { LOGMR_SEGMENT_BYTES: "20000", LOGMR_FAULTS: "crash@3,garbage@40" } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.run.tasks).toBeGreaterThan(90);
    expect(doc.run.retries.length).toBe(2);
    expect(dataOf(r.stdout)).toEqual(dataOf(clean.stdout));
  });

  test("a worker that keeps failing on stdin ends the run with one line, no report", async () => {
    const r = await cli(["-", "--retries", "1"], { stdin: generateText(4, 0, 100), env: { LOGMR_FAULTS: "crash@0,crash@0:2" } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("task 0 (standard input bytes 0..");
  });
});

describe("compressed standard input is told by its first bytes", () => {
  const plain = readFileSync(new URL("./fixtures/nginx-access.log", import.meta.url).pathname);
  /** zlib's gzip and zstd; the Debian tools for bzip2 and xz (installed by scripts/test-deps.sh). */
  const compress = (codec: string, data: Uint8Array): Uint8Array => {
    if (codec === "gzip") return Bun.gzipSync(data as Uint8Array<ArrayBuffer>);
    if (codec === "zstd") return zstdCompressSync(data);
    return Bun.spawnSync([codec, "-c"], { stdin: data }).stdout;
  };
  test.each(["gzip", "zstd", "bzip2", "xz"])("%s on stdin counts like the plain text; a corrupt stream is one line, no report", async (codec) => {
    const clean = await cli(["-", "--json"], { stdin: plain });
    const r = await cli(["-", "--json"], { stdin: compress(codec, plain) });
    expect(r.code).toBe(0);
    expect(dataOf(r.stdout)).toEqual(dataOf(clean.stdout));
    const broken = Buffer.from(compress(codec, plain));
    broken.fill(0x41, 40, 400);
    const bad = await cli(["-"], { stdin: broken });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toContain(`standard input is not a valid ${codec} stream`);
  });
});

describe("standard input without --format is read in the format its first lines fit, as a file is", () => {
  const fixturePath = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
  test.each<[string, string, boolean]>([
    // name, what stderr says the lines were read as (none: Combined), gzipped on the way in
    ["nginx-timed.log", "read as nginx-timed", false],
    ["caddy-json.log", "read as json", false],
    ["nginx-json.log", "read as json", true],
    ["apache-vhost-timed.log", "read as vhost_combined, which its first lines fit, and 1 more field", false],
    ["nginx-access.log", "", false],
  ])("%s", async (name, note, gzipped) => {
    const bytes = readFileSync(fixturePath(name));
    const file = await cli([fixturePath(name), "--json"]);
    expect(file.code).toBe(0);
    // Segments smaller than the sample (detected from the first one alone) and the default ones.
    for (const env of [{}, { LOGMR_SEGMENT_BYTES: "4000" }] as Array<Record<string, string>>) {
      const r = await cli(["-", "--json", "--workers", "2"], { stdin: gzipped ? Bun.gzipSync(bytes) : bytes, env });
      expect(r.code).toBe(0);
      expect(dataOf(r.stdout)).toEqual(dataOf(file.stdout));
      if (note) expect(r.stderr).toContain(`standard input: ${note}`);
      else expect(r.stderr).not.toContain("standard input: read as");
    }
  });
  test("a --format given is kept: no detection", async () => {
    const r = await cli(["-", "--format", "combined"], { stdin: readFileSync(fixturePath("nginx-timed.log")) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("junk after the user agent");
    expect(r.stderr).not.toContain("read as");
  });
});
