import { afterAll, describe, expect, test } from "bun:test";
import { fstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { InputError } from "../src/core/errors.ts";
import { closeInputs, MAX_HELD_FILES, MIN_SPLIT_BYTES, planFileTasks, resolveInputs } from "../src/plan/resolve-inputs.ts";

const dir = mkdtempSync(join(tmpdir(), "logmr-inputs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("resolveInputs", () => {
  test("a directory gives its access logs, oldest rotation first, gzip by content", () => {
    const logs = join(dir, "logs");
    mkdirSync(logs);
    for (const name of ["access.log", "access.log.1", "access.log.10", "access.log.2", "error.log", ".hidden.log", "notes.txt"]) writeFileSync(join(logs, name), "x\n");
    writeFileSync(join(logs, "access.log.3.gz"), gzipSync("x\n"));
    writeFileSync(join(logs, "other.log"), "x\n");
    const { inputs } = resolveInputs([logs]);
    closeInputs(inputs);
    expect(inputs.map((i) => i.path.replace(`${logs}/`, ""))).toEqual(["access.log.10", "access.log.3.gz", "access.log.2", "access.log.1", "access.log", "other.log"]);
    expect(inputs.find((i) => i.path.endsWith(".gz"))?.format).toBe("gzip");
  });

  test("each file is pinned: its size, inode and fingerprints, and an open descriptor", () => {
    const path = join(dir, "pinned.log");
    writeFileSync(path, "a".repeat(10_000));
    const { inputs } = resolveInputs([path]);
    const [input] = inputs;
    try {
      expect(input?.identity?.size).toBe(10_000);
      expect(input?.identity?.ino).toBe(statSync(path).ino);
      expect(fstatSync(input!.fd!).ino).toBe(statSync(path).ino);
      // Same first and last 4 KiB: same fingerprints.
      expect(input?.identity?.head).toBe(input!.identity!.tail);
    } finally {
      closeInputs(inputs);
    }
  });

  test(`at most ${MAX_HELD_FILES} descriptors are held; later files are pinned by identity alone`, () => {
    const many = join(dir, "many");
    mkdirSync(many);
    for (let k = 0; k < MAX_HELD_FILES + 3; k++) writeFileSync(join(many, `access.log.${k}`), "x\n");
    const { inputs } = resolveInputs([many]);
    try {
      expect(inputs.length).toBe(MAX_HELD_FILES + 3);
      expect(inputs.filter((i) => i.fd !== undefined).length).toBe(MAX_HELD_FILES);
      expect(inputs.every((i) => i.identity?.size === 2)).toBe(true);
    } finally {
      closeInputs(inputs);
    }
  });

  test("unreadable entries of a directory are named, or skipped with skipUnreadable", () => {
    const logs = join(dir, "broken");
    mkdirSync(logs);
    writeFileSync(join(logs, "good.log"), "x\n");
    symlinkSync(join(logs, "nowhere"), join(logs, "dangling.log"));
    symlinkSync(join(logs, "loop.log"), join(logs, "loop.log"));
    expect(() => resolveInputs([logs])).toThrow(`cannot read ${join(logs, "dangling.log")}: a dangling symbolic link`);
    rmSync(join(logs, "dangling.log"));
    expect(() => resolveInputs([logs])).toThrow(`cannot read ${join(logs, "loop.log")}: a symbolic link loop`);
    symlinkSync(join(logs, "nowhere"), join(logs, "dangling.log"));
    const { inputs, skipped } = resolveInputs([logs], { skipUnreadable: true });
    closeInputs(inputs);
    expect(inputs.map((i) => i.path)).toEqual([join(logs, "good.log")]);
    expect(skipped).toEqual([`${join(logs, "dangling.log")}: a dangling symbolic link`, `${join(logs, "loop.log")}: a symbolic link loop`]);
  });

  test.each([
    ["a missing file", () => resolveInputs([join(dir, "missing.log")]), "missing.log: no such file or directory"],
    ["stdin twice", () => resolveInputs(["-", "-"]), "can be given only once"],
    ["a directory without logs", () => {
      const empty = join(dir, "empty");
      mkdirSync(empty, { recursive: true });
      return resolveInputs([empty]);
    }, "holds no access logs"],
    ["xz content", () => {
      writeFileSync(join(dir, "a.log"), Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1]));
      return resolveInputs([join(dir, "a.log")]);
    }, "xz-compressed, which this runtime does not decompress (pipe it in: xzcat"],
    ["bzip2 content", () => {
      writeFileSync(join(dir, "b.log"), "BZh91AY&SY");
      return resolveInputs([join(dir, "b.log")]);
    }, "bzip2-compressed"],
  ])("%s is refused with one clear message", (_, run, message) => {
    expect(run).toThrow(InputError);
    expect(run).toThrow(message);
  });
});

describe("planFileTasks", () => {
  test("large plain files are cut into ranges that tile them; gzip stays whole", () => {
    const tasks = planFileTasks(
      [
        { path: "big.log", format: "plain", bytes: 20 * MIN_SPLIT_BYTES + 7 },
        { path: "small.log", format: "plain", bytes: 100 },
        { path: "x.gz", format: "gzip", bytes: 5 },
        { path: "-", format: "stdin", bytes: null },
      ],
      2,
    );
    const big = tasks.filter((t) => t.kind === "file" && t.path === "big.log");
    expect(big.length).toBeGreaterThanOrEqual(4); // shrinking ranges, several per worker
    expect(big.map((t) => (t.kind === "file" ? [t.start, t.end] : [])).flat()[0]).toBe(0);
    let at = 0;
    for (const t of big) {
      if (t.kind !== "file") continue;
      expect(t.start).toBe(at);
      at = t.end;
    }
    expect(at).toBe(20 * MIN_SPLIT_BYTES + 7);
    expect(tasks.filter((t) => t.input === 1).length).toBe(1);
    expect(tasks.find((t) => t.input === 2)).toMatchObject({ kind: "compressed", codec: "gzip" });
    // Standard input has no planned task: it is cut into segments as it is read.
    expect(tasks.filter((t) => t.input === 3)).toEqual([]);
    expect(new Set(tasks.map((t) => t.id)).size).toBe(tasks.length);
  });
});
