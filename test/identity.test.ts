import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkInputsAfterMap } from "../src/engine.ts";
import { compareIdentity, readIdentity } from "../src/map/identity.ts";
import { closeInputs, resolveInputs } from "../src/plan/resolve-inputs.ts";
import { generateText } from "../src/map/generate.ts";
import { cli, ROOT, sleep } from "./helpers.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "logmr-identity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("compareIdentity", () => {
  const path = join(dir, "id.log");
  const base = "x".repeat(10_000);
  const identityOf = () => {
    const fd = openSync(path, "r");
    try {
      return readIdentity(fd, 10_000);
    } finally {
      closeSync(fd);
    }
  };
  test.each<[string, () => void, string | number]>([
    ["unchanged", () => {}, 0],
    ["grown", () => appendFileSync(path, "more\n"), 5],
    ["truncated", () => truncateSync(path, 4000), "was truncated during the analysis: 10,000 -> 4,000 bytes"],
    ["a byte of its first 4 KiB changed", () => writeAt(path, 10, "y"), "was modified during the analysis"],
    ["a byte of its last 4 KiB changed", () => writeAt(path, 9_990, "y"), "was modified during the analysis"],
    ["a byte in the middle changed (same size, new mtime)", () => writeAt(path, 5_000, "y"), "same size, new modification time"],
    ["replaced by another file of the same bytes", () => {
      writeFileSync(`${path}.new`, base);
      renameSync(`${path}.new`, path);
    }, "was replaced during the analysis"],
  ])("%s", async (_, change, expected) => {
    writeFileSync(path, base);
    const planned = identityOf();
    await sleep(5); // a later mtime, whatever the filesystem's clock granularity
    change();
    const check = compareIdentity(path, planned, identityOf());
    if (typeof expected === "number") expect(check).toEqual({ ok: true, grewBy: expected });
    else expect(check.ok ? "" : check.message).toContain(expected);
  });
});

function writeAt(path: string, at: number, text: string): void {
  const fd = openSync(path, "r+");
  writeSync(fd, text, at);
  closeSync(fd);
}

describe("checkInputsAfterMap: what the parent checks when the map is done", () => {
  test("a file truncated after its last task fails the run; one that grew gives a note", () => {
    const path = join(dir, "after.log");
    writeFileSync(path, generateText(1, 0, 100));
    const { inputs } = resolveInputs([path]);
    try {
      appendFileSync(path, generateText(1, 100, 101));
      const notes = checkInputsAfterMap(inputs, [], [], 0);
      expect(notes.join("\n")).toContain(`${path} grew by`);
      truncateSync(path, 100);
      expect(() => checkInputsAfterMap(inputs, [], [], 0)).toThrow(`${path} was truncated during the analysis`);
    } finally {
      closeInputs(inputs);
    }
  });
});

/**
 * A run whose workers all wait, before their first task, until `change` has
 * been applied to the input (the "pause" fault and its gate file), so the
 * file changes between planning and the map, deterministically.
 */
async function runWhileChanging(args: string[], change: () => void) {
  const gate = join(dir, `gate-${Math.random().toString(36).slice(2)}`);
  const run = cli([...args, "--json", "--workers", "2"], { env: { LOGMR_FAULTS: "pause@*", LOGMR_FAULT_GATE: gate } });
  for (let k = 0; !existsSync(`${gate}.waiting`); k++) {
    if (k > 3000) throw new Error("no worker reached the gate");
    await sleep(5);
  }
  change();
  writeFileSync(gate, "");
  return run;
}

describe("an input that changes between planning and the map (logrotate, copytruncate, a live log)", () => {
  const path = join(dir, "rot.log");
  const original = generateText(7, 0, 30_000); // about 6 MB: several tasks per worker
  let expected: unknown;
  beforeAll(async () => {
    writeFileSync(path, original);
    const r = await cli([path, "--json", "--workers", "2"]);
    expect(r.code).toBe(0);
    expected = JSON.parse(r.stdout).data;
  });
  const dataOf = (stdout: string) => JSON.parse(stdout).data;

  test("renamed away and replaced by a new file of the same size (200s made 404s): the planned file is counted, whole, with a note", async () => {
    writeFileSync(path, original);
    const r = await runWhileChanging([path], () => {
      renameSync(path, `${path}.1`);
      writeFileSync(path, original.replaceAll('" 200 ', '" 404 '));
    });
    expect(r.code).toBe(0);
    expect(dataOf(r.stdout)).toEqual(expected);
    expect(r.stderr).toContain(`${path} was replaced during the analysis (rotated?)`);
  });

  test("truncated (copytruncate): the run fails with one line, no report", async () => {
    writeFileSync(path, original);
    const r = await runWhileChanging([path], () => truncateSync(path, 1_000_037));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const size = Buffer.byteLength(original).toLocaleString("en-US");
    expect(r.stderr).toContain(`${path} was truncated during the analysis: ${size} -> 1,000,037 bytes`);
    expect(r.stderr.trim().split("\n").filter((l) => !l.includes("injected fault")).length).toBe(1);
  });

  test("rewritten in place, same size: the run fails, no report", async () => {
    writeFileSync(path, original);
    const r = await runWhileChanging([path], () => writeFileSync(path, original.replaceAll('" 200 ', '" 404 ')));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${path} was modified during the analysis`);
  });

  test("grown (a live log caught mid-line): exactly the planned bytes are counted, with a note", async () => {
    // The server had written half a line when the run was planned.
    const next = generateText(8, 0, 5_000);
    const half = next.indexOf("\n") >> 1;
    writeFileSync(path, original + next.slice(0, half));
    const clean = await cli([path, "--json", "--workers", "2"]);
    const r = await runWhileChanging([path], () => appendFileSync(path, next.slice(half)));
    expect(r.code).toBe(0);
    expect(dataOf(r.stdout)).toEqual(dataOf(clean.stdout));
    expect(dataOf(r.stdout).lines.malformed).toBe(1); // the half line, as it was
    expect(r.stderr).toContain(`${path} grew by`);
  });

  test("a gzip file truncated under the run fails it", async () => {
    const gz = join(dir, "rot.log.gz");
    writeFileSync(gz, Bun.gzipSync(original));
    const r = await runWhileChanging([gz], () => truncateSync(gz, 1000));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${gz} was truncated during the analysis`);
  });

  test("a plan run elsewhere checks the file by name: replaced after planning, the worker refuses it", async () => {
    writeFileSync(path, original);
    const plan = await cli(["plan", path]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).not.toContain('"fd"');
    writeFileSync(path, original.slice(0, 1000));
    const worker = Bun.spawn([process.execPath, `${ROOT}src/map/worker.ts`], { stdin: new Blob([plan.stdout]), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(worker.stdout).text(), new Response(worker.stderr).text(), worker.exited]);
    expect(code).toBe(65);
    expect(out).toBe("");
    expect(err).toContain(`${path} was truncated during the analysis`);
    expect(readFileSync(path, "utf8").length).toBe(1000);
  });
});
