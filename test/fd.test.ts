import { describe, expect, test } from "bun:test";
import { ROOT } from "./helpers.ts";

/** Runs a script in a child whose stdin is a pipe the test writes to, a piece at a time. */
async function throughPipe(script: string, pieces: readonly Uint8Array[], pauseMs: number): Promise<Uint8Array> {
  const child = Bun.spawn([process.execPath, "-e", script], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const out = new Response(child.stdout).arrayBuffer();
  const err = new Response(child.stderr).text();
  for (const piece of pieces) {
    child.stdin.write(piece);
    await child.stdin.flush();
    await Bun.sleep(pauseMs);
  }
  await child.stdin.end();
  const [bytes, stderr, code] = await Promise.all([out, err, child.exited]);
  if (code !== 0) throw new Error(`child exited ${code}: ${stderr}`);
  return new Uint8Array(bytes);
}

const pieceOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, k) => (k * 31 + seed) & 0xff);

describe("readSome", () => {
  // The child copies its stdin to stdout with readSome/writeAll, 4 KiB at a time.
  const copy = `
    import { readSome, writeAll } from "./src/core/fd.ts";
    const buf = new Uint8Array(4096);
    for (let n = readSome(0, buf); n > 0; n = readSome(0, buf)) writeAll(1, buf.subarray(0, n));
  `;
  test.each([
    ["pieces with pauses between them (an empty pipe is not the end)", [pieceOf(10, 1), pieceOf(5000, 2), pieceOf(1, 3)], 60],
    ["one piece larger than the buffer", [pieceOf(100_000, 4)], 0],
    ["nothing at all", [], 0],
  ] as const)("%s", async (_name, pieces, pause) => {
    const got = await throughPipe(copy, pieces, pause);
    const want = new Uint8Array(pieces.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of pieces) {
      want.set(p, at);
      at += p.length;
    }
    expect(got.length).toBe(want.length);
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
  });
});

describe("writeAll", () => {
  test("3 MiB to a pipe arrive whole", async () => {
    const got = await throughPipe(
      `
      import { writeAll } from "./src/core/fd.ts";
      const big = Uint8Array.from({ length: 3 << 20 }, (_, k) => (k * 7) & 0xff);
      writeAll(1, big);
    `,
      [],
      0,
    );
    expect(got.length).toBe(3 << 20);
    let wrong = 0;
    for (let k = 0; k < got.length; k++) if (got[k] !== ((k * 7) & 0xff)) wrong++;
    expect(wrong).toBe(0);
  });
});

/** Runs a script in a child and returns what it printed; under a pseudo-terminal when `pty`. */
async function run(script: string, options: { pty?: boolean; stdin?: "pipe" | "ignore" | Bun.BunFile; stdout?: "pipe" | Bun.BunFile; env?: Record<string, string> } = {}): Promise<string> {
  const env = { ...process.env, ...options.env };
  if (options.pty) {
    let out = "";
    const decoder = new TextDecoder();
    const child = Bun.spawn([process.execPath, "-e", script], { cwd: ROOT, env, terminal: { cols: 123, rows: 40, data: (_t, d) => (out += decoder.decode(d, { stream: true })) } });
    const code = await child.exited;
    child.terminal?.close();
    if (code !== 0) throw new Error(`child exited ${code}: ${out}`);
    return out;
  }
  const child = Bun.spawn([process.execPath, "-e", script], { cwd: ROOT, env, stdin: options.stdin ?? "pipe", stdout: options.stdout ?? "pipe", stderr: "pipe" });
  if (options.stdin === undefined || options.stdin === "pipe") (child.stdin as import("bun").FileSink).end();
  const [out, err, code] = await Promise.all([options.stdout && options.stdout !== "pipe" ? "" : new Response(child.stdout as ReadableStream).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`child exited ${code}: ${err}`);
  return out;
}

describe("isTerminal", () => {
  const probe = `import { isTerminal } from "./src/core/fd.ts"; process.stdout.write(JSON.stringify([isTerminal(0), isTerminal(1), isTerminal(2)]));`;

  test("pipes are not terminals", async () => {
    expect(JSON.parse(await run(probe))).toEqual([false, false, false]);
  });

  test("a file and /dev/null are not terminals", async () => {
    const path = `${await Bun.$`mktemp`.text()}`.trim();
    try {
      await run(probe, { stdin: Bun.file("/dev/null"), stdout: Bun.file(path) });
      expect(JSON.parse(await Bun.file(path).text())).toEqual([false, false, false]);
    } finally {
      await Bun.$`rm -f ${path}`;
    }
  });

  test("a pseudo-terminal is a terminal on 0, 1 and 2", async () => {
    const out = await run(probe, { pty: true });
    expect(JSON.parse(out.slice(out.indexOf("[")))).toEqual([true, true, true]);
  });
});
