// --follow: a log written to while it is followed. The last document must be
// what a fresh run over the final file reports, no document may count a line
// before its newline, and Ctrl-C must end it with exit 0 and no child left.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childrenOf, cli, cliJson, isAlive, ROOT, rng, sleep } from "./helpers.ts";

setDefaultTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), "logmr-follow-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (async () => {
  const gen = await cli(["generate", "--lines", "30000", "--seed", "3"]);
  expect(gen.code).toBe(0);
  return Buffer.from(gen.stdout, "latin1");
})();

interface Follow {
  pid: number;
  /** The documents written so far. */
  docs: () => Array<{ data: { lines: { read: number; malformed: number } } & Record<string, unknown> }>;
  /** Waits until a document shows `read` lines (or more). */
  until: (read: number) => Promise<void>;
  /** SIGINT, then the exit code, the documents and the children it had. */
  stop: () => Promise<{ code: number; stderr: string; children: number[] }>;
}

function follow(args: string[], env: Record<string, string> = {}): Follow {
  const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, ...args, "--follow", "--json", "--interval", "0.3"], {
    cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...env },
  });
  let out = "";
  const reading = (async () => {
    for await (const chunk of child.stdout) out += new TextDecoder().decode(chunk);
  })();
  const stderr = new Response(child.stderr).text();
  const docs = () => out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  const seen = new Set<number>();
  return {
    pid: child.pid,
    docs,
    async until(read) {
      for (let k = 0; k < 200; k++) {
        for (const c of childrenOf(child.pid)) seen.add(c);
        if (docs().some((d) => d.data.lines.read >= read)) return;
        await sleep(50);
      }
      throw new Error(`no document with ${read} lines: ${docs().map((d) => d.data.lines.read).join(", ")}`);
    },
    async stop() {
      for (const c of childrenOf(child.pid)) seen.add(c);
      child.kill("SIGINT");
      const code = await child.exited;
      await reading;
      return { code, stderr: await stderr, children: [...seen] };
    },
  };
}

const countLines = (b: Buffer) => b.reduce((n, c) => n + (c === 10 ? 1 : 0), 0);

describe("--follow", () => {
  test("bursts cut mid-line: every document counts whole lines only, the last equals a fresh run, SIGINT exits 0 with no child left", async () => {
    const all = await lines;
    const log = join(dir, "burst.log");
    const random = rng(8);
    let at = all.indexOf(10, 200_000) + 1;
    writeFileSync(log, all.subarray(0, at));
    const f = follow([log]);
    await f.until(countLines(all.subarray(0, at)));
    // Ten bursts, most ending inside a line; the last one ends the file on a line end.
    for (let k = 0; k < 10; k++) {
      const next = k === 9 ? all.indexOf(10, at + 100_000) + 1 : at + 20_000 + Math.floor(random() * 200_000);
      appendFileSync(log, all.subarray(at, next));
      at = next;
      await sleep(120);
    }
    const final = readFileSync(log);
    await f.until(countLines(final));
    const { code, children } = await f.stop();
    expect(code).toBe(0);
    const docs = f.docs();
    expect(docs.length).toBeGreaterThan(2);
    // A line counted before its newline would be malformed: none is.
    expect(docs.map((d) => d.data.lines.malformed)).toEqual(docs.map(() => 0));
    const reads = docs.map((d) => d.data.lines.read);
    expect(reads).toEqual([...reads].sort((a, b) => a - b));
    expect(docs.at(-1)!.data).toEqual((await cliJson([log])).data);
    for (const c of children) expect(isAlive(c)).toBe(false);
  });

  test("a rotation (rename, then a new file under the name) is followed: both files' lines, once each", async () => {
    const all = await lines;
    const log = join(dir, "access.log");
    const cut1 = all.indexOf(10, 100_000) + 1;
    const cut2 = all.indexOf(10, 150_000) + 1;
    const cut3 = all.indexOf(10, 260_000) + 1;
    writeFileSync(log, all.subarray(0, cut1));
    // Every new stretch on a worker here (small ones are counted in the follower itself otherwise).
    const f = follow([log], { LOGMR_FOLLOW_IN_PROCESS_BYTES: "0" });
    await f.until(countLines(all.subarray(0, cut1)));
    // Written after the rename, before the server reopens its log: still the old file's.
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, all.subarray(cut1, cut2));
    await sleep(300);
    writeFileSync(log, all.subarray(cut2, cut3));
    await f.until(countLines(all.subarray(0, cut3)));
    const { code, stderr } = await f.stop();
    expect(code).toBe(0);
    expect(stderr).toContain("was rotated");
    const last = f.docs().at(-1)!.data as Record<string, unknown>;
    const fresh = (await cliJson([`${log}.1`, log])).data as Record<string, unknown>;
    for (const key of ["lines", "requests", "status", "topClients", "topPaths", "timeline"]) expect({ key, value: last[key] }).toEqual({ key, value: fresh[key] });
  });

  test("truncated in place (copytruncate): the lines counted stay, the file is read again from its start", async () => {
    const all = await lines;
    const log = join(dir, "trunc.log");
    const cut1 = all.indexOf(10, 80_000) + 1;
    const cut2 = all.indexOf(10, 120_000) + 1;
    writeFileSync(log, all.subarray(0, cut1));
    const f = follow([log]);
    await f.until(countLines(all.subarray(0, cut1)));
    truncateSync(log, 0);
    appendFileSync(log, all.subarray(cut1, cut2));
    await f.until(countLines(all.subarray(0, cut2)));
    const { code, stderr } = await f.stop();
    expect(code).toBe(0);
    expect(stderr).toContain("was truncated");
    const last = f.docs().at(-1)!.data as { lines: { read: number } };
    expect(last.lines.read).toBe(countLines(all.subarray(0, cut2)));
  });

  test("with --state the lines counted while following are not read again by the next run", async () => {
    const all = await lines;
    const log = join(dir, "stateful.log");
    const state = join(dir, "follow.db");
    const cut1 = all.indexOf(10, 100_000) + 1;
    writeFileSync(log, all.subarray(0, cut1));
    const f = follow([log, "--state", state], { LOGMR_FOLLOW_IN_PROCESS_BYTES: "0" });
    await f.until(countLines(all.subarray(0, cut1)));
    appendFileSync(log, all.subarray(cut1, all.length));
    await f.until(countLines(all));
    expect((await f.stop()).code).toBe(0);
    const next = await cli([log, "--state", state, "--json"]);
    expect(next.code).toBe(0);
    const doc = JSON.parse(next.stdout);
    expect(doc.run.state).toMatchObject({ bytesMapped: 0, bytesFromState: all.length });
    expect(doc.data).toEqual((await cliJson([log])).data);
  });

  test.each([
    [["--follow"], "--follow watches log files"],
    [["-", "--follow"], "standard input"],
    [["x.log", "--interval", "1"], "--interval goes with --follow"],
  ])("%j is a usage error", async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
