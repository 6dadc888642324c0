import { describe, expect, test } from "bun:test";
import { parseArgs, type ArgsDef } from "citty";
import { checkArgs, parseCount, parseFlags, parseTime, UsageError } from "../src/cli/args.ts";

describe("parseCount", () => {
  test.each([
    ["5000000", 5_000_000], ["5_000_000", 5_000_000], ["5,000,000", 5_000_000], ["5e6", 5_000_000], ["5M", 5_000_000],
    ["5m", 5_000_000], ["1.5k", 1500], ["2G", 2_000_000_000], ["1", 1], [" 7 ", 7],
  ])("%s is %i", (text, value) => expect(parseCount(text, "lines")).toBe(value));

  test.each(["", "abc", "-1", "0", "1.5", "5e-1", "5MB", "1e400", "0x10", "9007199254740993", "5__0"])("rejects %j", (text) => {
    expect(() => parseCount(text, "lines")).toThrow(UsageError);
  });
  test("the message names the flag and the value", () => {
    expect(() => parseCount("abc", "workers")).toThrow('--workers must be a whole number, got "abc"');
  });
  test("0 is allowed where the minimum says so", () => expect(parseCount("0", "seed", 0)).toBe(0));
});

describe("parseTime", () => {
  test.each([
    ["2026-11-27", Date.UTC(2026, 10, 27)],
    ["2026-11-27T10:00", Date.UTC(2026, 10, 27, 10)],
    ["2026-11-27T10:00:05Z", Date.UTC(2026, 10, 27, 10, 0, 5)],
    ["2026-11-27 10:00:00+01:00", Date.UTC(2026, 10, 27, 9)],
    ["2026-11-27T10:00:00-0530", Date.UTC(2026, 10, 27, 15, 30)],
    ["27/Nov/2026:10:00:00 +0000", Date.UTC(2026, 10, 27, 10)],
    ["27/Nov/2026:10:00:00 +0200", Date.UTC(2026, 10, 27, 8)],
  ])("%s", (text, ms) => expect(parseTime(text, "since")).toBe(ms / 1000));
  test.each(["yesterday", "2026-02-30", "2026-13-01", "2026-11-27T25:00", "27/Foo/2026:10:00:00 +0000", ""])("rejects %j", (text) => {
    expect(() => parseTime(text, "since")).toThrow(UsageError);
  });
});

describe("checkArgs", () => {
  const def = {
    files: { type: "positional" as const },
    lines: { type: "string" as const },
    workers: { type: "string" as const, alias: "w" },
    json: { type: "boolean" as const },
    taskTimeout: { type: "string" as const },
  };
  test("returns positionals and accepts every spelling", () => {
    expect(checkArgs(["a.log", "--lines", "5", "-w", "2", "--json", "--no-json", "--lines=7", "--task-timeout", "3", "-", "b.log"], def)).toEqual(["a.log", "-", "b.log"]);
    expect(checkArgs(["--", "--weird-name"], def)).toEqual(["--weird-name"]);
  });
  test.each([
    [["--nope"], "unknown option --nope"],
    [["--lines"], "--lines needs a value"],
    [["--lines", "--json"], "--lines needs a value"],
    [["--no-lines"], "unknown option --no-lines"],
    [["-x"], "unknown option -x"],
    [["--jsn=1"], "unknown option --jsn"],
  ])("%j fails with %s", (args, message) => {
    expect(() => checkArgs(args, def)).toThrow(message);
  });
  test("too many positionals", () => expect(() => checkArgs(["a", "b"], def, 1)).toThrow('unexpected argument "b"'));
});

describe("parseFlags gives what citty's parseArgs gives", () => {
  const def = {
    files: { type: "positional", required: false },
    workers: { type: "string", alias: "w" },
    "format-file": { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean", alias: "q" },
    yardsticks: { type: "boolean", default: true },
    counters: { type: "enum", options: ["full", "minimal"] },
  } as const satisfies ArgsDef;
  const names = Object.keys(def);
  test.each([
    [[]],
    [["a.log", "b.log"]],
    [["-w", "2", "a.log", "--json"]],
    [["--workers=3", "--format-file", "nginx.conf"]],
    [["--formatFile", "x.conf"]],
    [["-q", "--no-yardsticks", "a.log"]],
    [["--yardsticks", "--counters", "minimal"]],
    [["--", "--json", "-"]],
    [["-", "--quiet"]],
    [["--json=false", "--workers", "-1"]],
  ])("%j", (argv) => {
    const ours = parseFlags(argv, def) as Record<string, unknown>;
    const theirs = parseArgs(argv, def) as Record<string, unknown>;
    for (const name of names) expect({ name, value: ours[name] }).toEqual({ name, value: theirs[name] });
    expect(ours._).toEqual(theirs._);
  });
  test("an enum value out of its options is a usage error naming them", () => {
    expect(() => parseFlags(["--counters", "some"], def)).toThrow("--counters must be one of full, minimal");
  });
});
