import { afterAll, describe, expect, test } from "bun:test";
import { fstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { InputError } from "../src/core/errors.ts";
import { closeInputs, MAX_HELD_FILES, MIN_SPLIT_BYTES, planFileTasks, resolveInputs, scanNames } from "../src/plan/resolve-inputs.ts";

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
    ["a zip archive", () => {
      writeFileSync(join(dir, "a.log.zip"), "PK\x03\x04");
      return resolveInputs([join(dir, "a.log.zip")]);
    }, "a compressed format other than gzip, zstd, bzip2 and xz"],
  ])("%s is refused with one clear message", (_, run, message) => {
    expect(run).toThrow(InputError);
    expect(run).toThrow(message);
  });

  test.each([
    ["gzip", [0x1f, 0x8b, 8]],
    ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
    ["bzip2", [0x42, 0x5a, 0x68, 0x39]],
    ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
    ["plain", [0x31, 0x2e, 0x32]],
  ])("%s is told by its first bytes, whatever the name", (format, magic) => {
    const path = join(dir, `named-wrong-${format}.log`);
    writeFileSync(path, Buffer.from(magic));
    const { inputs } = resolveInputs([path]);
    closeInputs(inputs);
    expect(String(inputs[0]?.format)).toBe(format);
  });
});

describe("scanNames: what a directory scan reads, oldest first, and what it leaves out", () => {
  test("RHEL's /var/log/httpd and Debian's /var/log/nginx after a few logrotate runs", () => {
    const names = [
      "access_log", "access_log-20150518", "access_log-20150511.gz", "ssl_access_log", "error_log", "ssl_error_log-20150518",
      "access.log", "access.log.1", "access.log.2.gz", "access.log.10.zst", "access.log-20150517.bz2", "access.log.3.xz",
      "error.log", "error.log.1", ".hidden.log", "README.txt", "x.bak", "old",
    ];
    const { logs, left } = scanNames(names, (n) => n === "old");
    expect(logs.map((f) => f.name)).toEqual([
      "access.log.10.zst", "access.log.3.xz", "access.log.2.gz", "access.log.1", "access.log-20150517.bz2", "access.log",
      "access_log-20150511.gz", "access_log-20150518", "access_log",
      "ssl_access_log",
    ]);
    expect(logs.find((f) => f.name === "access_log-20150518")?.why).toBe("access_log, rotated on 2015-05-18");
    expect(logs.find((f) => f.name === "access.log.10.zst")?.why).toBe("access.log, rotation 10");
    expect(left).toEqual([
      { name: ".hidden.log", why: "hidden" }, { name: "README.txt", why: "not a log name" }, { name: "error.log", why: "error log" },
      { name: "error.log.1", why: "error log" }, { name: "error_log", why: "error log" }, { name: "old", why: "a directory" },
      { name: "ssl_error_log-20150518", why: "error log" }, { name: "x.bak", why: "not a log name" },
    ]);
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
