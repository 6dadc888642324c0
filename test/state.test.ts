// --state: a run that remembers what it counted must report exactly what a
// fresh run over the same bytes reports, read only the bytes no earlier run
// counted, and survive being killed at any point.

import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { appendFileSync, closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { settingsKey } from "../src/state/incremental.ts";
import { lastLineEnd } from "../src/plan/resolve-inputs.ts";
import { cli, fixture, rng, sleep } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "logmr-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `case-${++n}`);

/** Generated Combined lines, then a fixture with malformed lines: several tasks, samples whose line numbers must survive merging. */
async function content(): Promise<Buffer> {
  const gen = await cli(["generate", "--lines", "25000", "--seed", "11"]);
  expect(gen.code).toBe(0);
  return Buffer.concat([Buffer.from(gen.stdout, "latin1"), readFileSync(fixture("mixed-garbage.log"))]);
}
const bytes = content();

async function run(args: string[], env: Record<string, string> = {}) {
  const r = await cli([...args, "--json", "--quiet", "--max-malformed", "100"], { env });
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { data: unknown; run: { state?: { bytesMapped: number; bytesFromState: number; bypassed: boolean } } };
}
async function stateRun(files: string[], state: string, extra: string[] = []) {
  const r = await cli([...files, "--state", state, "--json", "--max-malformed", "100", ...extra]);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as Awaited<ReturnType<typeof run>>), stderr: r.stderr };
}

describe("a log that grows", () => {
  test("after each of ten random steps the state run equals a fresh run, reading only the new bytes", async () => {
    const all = await bytes;
    const base = fresh();
    const log = `${base}.log`;
    const state = `${base}.db`;
    const random = rng(21);
    const cuts = Array.from({ length: 9 }, () => Math.floor(random() * all.length)).sort((a, b) => a - b);
    // One step ends in the middle of a line for sure.
    const mid = all.indexOf(10, cuts[4]!) - 5;
    cuts[4] = mid;
    cuts.sort((a, b) => a - b).push(all.length);
    writeFileSync(log, "");
    let at = 0;
    let stored = 0;
    for (const cut of cuts) {
      appendFileSync(log, all.subarray(at, cut));
      at = cut;
      const s = await stateRun([log], state, ["--workers", "2"]);
      const f = await run([log]);
      expect(s.data).toEqual(f.data);
      // Only what no earlier run stored: the new bytes, and a last line without its newline again.
      expect(s.run.state).toMatchObject({ bytesFromState: stored, bytesMapped: cut - stored, bypassed: false });
      stored = all.lastIndexOf(10, cut - 1) + 1;
    }
    expect(cuts).toContain(mid);
    // The fixture at the end has no newline after its last line: only that line is read again.
    const again = await stateRun([log], state);
    expect(again.run.state).toMatchObject({ bytesMapped: all.length - stored, bytesFromState: stored });
  });
});

describe("rotation", () => {
  const lines = async () => (await bytes).toString("latin1").split("\n").slice(0, 20000).map((l) => `${l}\n`);
  const write = (path: string, rows: string[]) => writeFileSync(path, Buffer.from(rows.join(""), "latin1"));
  const add = (path: string, rows: string[]) => appendFileSync(path, Buffer.from(rows.join(""), "latin1"));

  test("rename plus a new file, then the old one gzipped: no line counted twice", async () => {
    const rows = await lines();
    const d = fresh();
    const state = `${d}.db`;
    const live = `${d}-access.log`;
    write(live, rows.slice(0, 6000));
    await stateRun([live], state);
    // Rotated (same inode, new name), lines written to it before the server reopened, and a new live file.
    add(live, rows.slice(6000, 7000));
    renameSync(live, `${live}.1`);
    write(live, rows.slice(7000, 9000));
    const files = [`${live}.1`, live];
    const s = await stateRun(files, state);
    expect(s.data).toEqual((await run(files)).data);
    const size1 = readFileSync(`${live}.1`).length;
    const size0 = readFileSync(live).length;
    expect(s.run.state!.bytesMapped).toBe(size1 - Buffer.byteLength(rows.slice(0, 6000).join(""), "latin1") + size0);
    // The next rotation compresses the old one: known by its first bytes and size, not read at all.
    renameSync(`${live}.1`, `${live}.2`);
    writeFileSync(`${live}.2.gz`, gzipSync(readFileSync(`${live}.2`)));
    rmSync(`${live}.2`);
    renameSync(live, `${live}.1`);
    write(live, rows.slice(9000, 9500));
    const files2 = [`${live}.2.gz`, `${live}.1`, live];
    const s2 = await stateRun(files2, state);
    expect(s2.data).toEqual((await run(files2)).data);
    expect(s2.stderr).toContain("not counted again");
    expect(s2.run.state!.bytesMapped).toBe(readFileSync(live).length);
  });

  test("a gzipped rotation that holds lines written after the last run is counted whole, the stale counts dropped", async () => {
    const rows = await lines();
    const d = fresh();
    const state = `${d}.db`;
    const old = `${d}-access.log.1`;
    write(old, rows.slice(0, 3000));
    await stateRun([old], state);
    add(old, rows.slice(3000, 3100));
    writeFileSync(`${old}.gz`, gzipSync(readFileSync(old)));
    rmSync(old);
    const s = await stateRun([`${old}.gz`], state);
    expect(s.data).toEqual((await run([`${old}.gz`])).data);
    expect(s.stderr).toContain("holds more: counted whole");
  });

  test("copytruncate: the copy keeps the counts, the emptied file counts from its start", async () => {
    const rows = await lines();
    const d = fresh();
    const state = `${d}.db`;
    const live = `${d}-access.log`;
    write(live, rows.slice(0, 5000));
    await stateRun([live], state);
    add(live, rows.slice(5000, 5500));
    copyFileSync(live, `${live}.1`);
    truncateSync(live, 0);
    add(live, rows.slice(5500, 6000));
    const files = [`${live}.1`, live];
    const s = await stateRun(files, state);
    expect(s.data).toEqual((await run(files)).data);
    expect(s.stderr).toContain("shrank");
    // The copy's first 5,000 lines came from the state.
    expect(s.run.state!.bytesFromState).toBe(Buffer.byteLength(rows.slice(0, 5000).join(""), "latin1"));
    // And the same again reads nothing.
    const again = await stateRun(files, state);
    expect(again.data).toEqual(s.data);
    expect(again.run.state!.bytesMapped).toBe(0);
  });

  test("a file rewritten under the same name and size is counted again", async () => {
    const rows = await lines();
    const d = fresh();
    const state = `${d}.db`;
    const log = `${d}.log`;
    write(log, rows.slice(0, 2000));
    await stateRun([log], state);
    // Same length, other bytes near its end (a 200 becomes a 404), same inode.
    const text = readFileSync(log, "latin1");
    const at = text.lastIndexOf("\" 200 ");
    expect(at).toBeGreaterThan(text.length - 4000);
    const fd = openSync(log, "r+");
    writeSync(fd, "\" 404 ", at, "latin1");
    closeSync(fd);
    const s = await stateRun([log], state);
    expect(s.data).toEqual((await run([log])).data);
    expect(s.stderr).toContain("was rewritten");
  });
});

describe("crash safety", () => {
  test("killed inside and between state writes, again and again: the final counts are the clean run's", async () => {
    const all = await bytes;
    const d = fresh();
    const log = `${d}.log`;
    const state = `${d}.db`;
    writeFileSync(log, all);
    const clean = await run([log]);
    const random = rng(5);
    let killed = 0;
    // Each run dies at its 1st to 3rd write (a partial or the merge of them) until one has nothing left to write.
    for (let k = 0; k < 40; k++) {
      const fault = `${random() < 0.5 ? "write" : "after"}:${1 + Math.floor(random() * 3)}`;
      const r = await cli([log, "--state", state, "--workers", "2", "--json", "--max-malformed", "100"], { env: { LOGMR_STATE_FAULT: fault } });
      if (r.code !== 0) {
        expect(r.stdout).toBe("");
        killed++;
        continue;
      }
      expect(JSON.parse(r.stdout).data).toEqual(clean.data);
      break;
    }
    expect(killed).toBeGreaterThanOrEqual(2);
    const s = await stateRun([log], state);
    expect(s.data).toEqual(clean.data);
  }, 120_000);
});

describe("the state file", () => {
  test("a second run on a state in use exits 1 with one line", async () => {
    const d = fresh();
    const log = `${d}.log`;
    const state = `${d}.db`;
    const gate = `${d}.gate`;
    writeFileSync(log, readFileSync(fixture("nginx-access.log")));
    const first = Bun.spawn([process.execPath, "analyze.ts", log, "--state", state, "--json"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { ...process.env, LOGMR_FAULTS: "pause@0", LOGMR_FAULT_GATE: gate },
      stdout: "pipe",
      stderr: "pipe",
    });
    const firstOut = new Response(first.stdout).text();
    void new Response(first.stderr).text();
    // The first holds the state once it is paused at its task.
    for (let k = 0; k < 100; k++) {
      await sleep(50);
      const db = Bun.file(state);
      if ((await db.exists()) && new Database(state, { readonly: true }).query("SELECT count(*) AS n FROM sqlite_master WHERE name = 'run_lock'").get()) {
        const held = new Database(state, { readonly: true }).query("SELECT count(*) AS n FROM run_lock").get() as { n: number };
        if (held.n > 0) break;
      }
    }
    const second = await cli([log, "--state", state]);
    writeFileSync(gate, "");
    expect(await first.exited).toBe(0);
    expect(JSON.parse(await firstOut).data.lines.read).toBeGreaterThan(0);
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split("\n")).toHaveLength(1);
    expect(second.stderr).toContain("in use by another run");
  }, 30_000);

  test("a state of another partial version is refused with exit 1 and one line", async () => {
    const d = fresh();
    const log = `${d}.log`;
    const state = `${d}.db`;
    writeFileSync(log, readFileSync(fixture("nginx-access.log")));
    await stateRun([log], state);
    const db = new Database(state);
    db.run("UPDATE meta SET value = '2' WHERE key = 'partialVersion'");
    db.close();
    const r = await cli([log, "--state", state]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("partials v2");
  });

  test.each([
    ["a text file", "not a state\n", "not a database"],
    ["another program's database", null, "something else"],
  ])("%s given as the state is refused with exit 1 and one line", async (_what, text, message) => {
    const d = fresh();
    const state = `${d}.db`;
    if (text !== null) writeFileSync(state, text.repeat(200));
    else {
      const db = new Database(state);
      db.run("CREATE TABLE photos (id INTEGER)");
      db.close();
    }
    const r = await cli([fixture("nginx-access.log"), "--state", state]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(message);
  });

  test("a window or a filter the state was not made with is read afresh, the state left alone", async () => {
    const d = fresh();
    const log = `${d}.log`;
    const state = `${d}.db`;
    writeFileSync(log, readFileSync(fixture("nginx-access.log")));
    await stateRun([log], state);
    const before = readFileSync(state);
    const window = ["--since", "2026-11-27T10:20:00Z"];
    const s = await stateRun([log], state, window);
    expect(s.data).toEqual((await run([log, ...window])).data);
    expect(s.run.state!.bypassed).toBe(true);
    expect(s.stderr).toContain("--since/--until");
    const info = await cli(["state", "info", state, "--json"]);
    expect(JSON.parse(info.stdout).settings).toEqual({});
    expect(before.length).toBeGreaterThan(0);
  });

  test.each([
    [["--lines", "1000"], "--state remembers log files"],
    [["-"], "cannot remember standard input"],
  ])("--state with %j is a usage error", async (args, message) => {
    const r = await cli([...args, "--state", join(dir, "never.db")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

describe("state info and forget", () => {
  test("info lists each input with its bytes; forget makes the next run read it again", async () => {
    const d = fresh();
    const a = `${d}-a.log`;
    const b = `${d}-b.log`;
    const state = `${d}.db`;
    writeFileSync(a, readFileSync(fixture("nginx-access.log")));
    writeFileSync(b, readFileSync(fixture("apache-access.log")));
    await stateRun([a, b], state);
    const info = JSON.parse((await cli(["state", "info", state, "--json"])).stdout);
    expect(info.inputs.map((i: { path: string; bytes: number; now: string }) => [i.path, i.bytes, i.now])).toEqual([
      [a, readFileSync(a).length, "present"],
      [b, readFileSync(b).length, "present"],
    ]);
    const text = await cli(["state", "info", state]);
    expect(text.stdout).toContain("2 inputs, 2 partials");
    const forget = await cli(["state", "forget", state, a]);
    expect(forget.code).toBe(0);
    const s = await stateRun([a, b], state);
    expect(s.run.state).toMatchObject({ bytesMapped: readFileSync(a).length, bytesFromState: readFileSync(b).length });
    expect((await cli(["state", "forget", state, `${d}-none.log`])).code).toBe(2);
    expect((await cli(["state", "info", join(dir, "missing.db")])).code).toBe(1);
  });
});

describe("lastLineEnd", () => {
  test.each([
    ["a\nb\n", 0, 4],
    ["a\nbc", 0, 2],
    ["abc", 0, 0],
    ["a\nbc", 2, 2],
    ["", 0, 0],
  ])("%j from %d: %d", (text, from, want) => {
    const path = join(dir, "lle.txt");
    writeFileSync(path, text);
    const fd = openSync(path, "r");
    try {
      expect(lastLineEnd(fd, from, text.length)).toBe(want);
    } finally {
      closeSync(fd);
    }
  });

  test("finds a line end far behind a long unfinished line", () => {
    const path = join(dir, "lle-long.txt");
    writeFileSync(path, `x\n${"y".repeat(200_000)}`);
    const fd = openSync(path, "r");
    try {
      expect(lastLineEnd(fd, 0, 200_002)).toBe(2);
    } finally {
      closeSync(fd);
    }
  });
});

test("settingsKey is the same for the same settings in any order, and differs for others", () => {
  expect(settingsKey({ where: "status >= 500", by: "path" })).toBe(settingsKey({ by: "path", where: "status >= 500" }));
  expect(settingsKey({})).not.toBe(settingsKey({ window: { since: 1 } }));
  expect(settingsKey({ window: { since: 1 } })).not.toBe(settingsKey({ window: { until: 1 } }));
});
