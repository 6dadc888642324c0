import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseJoblog } from "../src/cluster/cluster.ts";
import { cli, cliJson, fixture, ROOT } from "./helpers.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "logmr-cluster-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the standalone worker on a tasks file. */
async function worker(tasksFile: string, env: Record<string, string> = {}): Promise<string> {
  const child = Bun.spawn([process.execPath, `${ROOT}src/map/worker.ts`], { stdin: Bun.file(tasksFile), stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`worker exit ${code}: ${err}`);
  expect(err).toBe(""); // standalone: no progress noise
  return out;
}

describe("plan -> worker -> reduce equals a local run", () => {
  test("generated traffic, tasks run one by one and all at once", async () => {
    const plan = join(dir, "tasks.jsonl");
    const r = await cli(["plan", "--lines", "150000", "--workers", "3", "--seed", "7"]);
    expect(r.code).toBe(0);
    writeFileSync(plan, r.stdout);
    const tasks = r.stdout.trim().split("\n");
    expect(tasks.length).toBeGreaterThanOrEqual(3); // at least one per worker
    // each task alone, as a batch scheduler would run them
    const parts: string[] = [];
    for (const [k, line] of tasks.entries()) {
      const one = join(dir, `task-${k}.json`);
      writeFileSync(one, `${line}\n`);
      parts.push(join(dir, `partial-${k}.json`));
      writeFileSync(parts[k]!, await worker(one));
    }
    const reduced = await cliJson(["reduce", ...parts, "--plan", plan, "--top", "50"]);
    const local = await cliJson(["--lines", "150000", "--seed", "7", "--workers", "2", "--top", "50"]);
    expect(reduced.data).toEqual(local.data);
    expect(reduced.run).toBeNull();
    // and the many-tasks mode, partials on stdin
    const all = await worker(plan);
    const fromStdin = await cliJson(["reduce", "--plan", plan, "--top", "50"], { stdin: all });
    expect(fromStdin.data).toEqual(local.data);
  });

  test("log files (with malformed lines: their line numbers come out global)", async () => {
    const plan = join(dir, "files.jsonl");
    writeFileSync(plan, (await cli(["plan", fixture("mixed-garbage.log"), fixture("nginx-access.log.gz"), "--workers", "2"])).stdout);
    const partials = join(dir, "files-partials.jsonl");
    writeFileSync(partials, await worker(plan));
    const reduced = (await cliJson(["reduce", partials, "--plan", plan])).data;
    const local = (await cliJson([fixture("mixed-garbage.log"), fixture("nginx-access.log.gz"), "--workers", "2"])).data;
    expect(reduced.lines).toEqual(local.lines);
    expect(reduced.topClients).toEqual(local.topClients);
    expect(reduced.malformedSamples.map((m: { line: number }) => m.line)).toEqual(local.malformedSamples.map((m: { line: number }) => m.line));
  });

  test("the raw mode of the worker analyzes log lines on stdin", async () => {
    const child = Bun.spawn([process.execPath, `${ROOT}src/map/worker.ts`, "--raw", "--id", "4"], { stdin: Bun.file(fixture("nginx-access.log")), stdout: "pipe" });
    const partial = JSON.parse(await new Response(child.stdout).text());
    const truth = JSON.parse(readFileSync(fixture("nginx-access.log.truth.json"), "utf8"));
    expect(partial.taskId).toBe(4);
    expect(partial.lines.valid).toBe(truth.valid_lines);
  });
});

describe("reduce refuses what would give a wrong answer", () => {
  test.each([
    ["a duplicated partial", (lines: string[]) => [...lines, lines[0]!], "a second partial for task 0"],
    ["a missing partial", (lines: string[]) => lines.slice(1), "no partial for task 0 of the plan"],
    ["a partial that does not add up", (lines: string[]) => [lines[0]!.replace('"read":', '"read":1'), ...lines.slice(1)], "lines read != valid + malformed"],
    ["garbage", (lines: string[]) => ["hello", ...lines], "not JSON"],
  ])("%s", async (_, mutate, message) => {
    const plan = join(dir, "r.jsonl");
    writeFileSync(plan, (await cli(["plan", "--lines", "20000", "--workers", "2"])).stdout);
    const lines = (await worker(plan)).trim().split("\n");
    const r = await cli(["reduce", "--plan", plan], { stdin: `${mutate(lines).join("\n")}\n` });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(message);
  });
});

describe("reduce refuses hostile partials: exit 1, one line naming the problem, never a crash", () => {
  let plan = "";
  let planSmall = "";
  let lines: string[] = [];
  let fileLines: string[] = [];
  beforeAll(async () => {
    plan = join(dir, "h.jsonl");
    writeFileSync(plan, (await cli(["plan", "--lines", "5000", "--workers", "2"])).stdout);
    planSmall = join(dir, "h-small.jsonl");
    writeFileSync(planSmall, (await cli(["plan", "--lines", "1000", "--workers", "2"])).stdout);
    lines = (await worker(plan)).trim().split("\n");
    const filePlan = join(dir, "h-file.jsonl");
    writeFileSync(filePlan, (await cli(["plan", fixture("mixed-garbage.log")])).stdout);
    fileLines = (await worker(filePlan)).trim().split("\n");
  });
  const edit = (line: string, f: (p: any) => void) => {
    const p = JSON.parse(line);
    f(p);
    return JSON.stringify(p);
  };
  const deep = (n: number): unknown => (n === 0 ? "x" : [deep(n - 1)]);
  test.each<[string, () => string[], string, boolean]>([
    ["a client with more 4xx than requests", () => [edit(lines[0]!, (p) => {
      const x = p.clients.reduce((m: any, c: any) => (c[1] < m[1] ? c : m));
      const y = p.clients.reduce((m: any, c: any) => (c[2] > m[2] ? c : m));
      const moved = x[1] - x[2] + 1;
      x[2] += moved; y[2] -= moved;
    })], "more 4xx, 5xx or 404 responses than requests", false],
    ["404 paths that disagree with the 404 count", () => [edit(lines[0]!, (p) => p.notFoundPaths.push(["/x", 1_000_000]))], "more 404 paths", false],
    ["firstTime after lastTime", () => [edit(lines[0]!, (p) => ([p.firstTime, p.lastTime] = [p.lastTime, p.firstTime]))], "is after lastTime", false],
    ["a time that is no date", () => [edit(lines[0]!, (p) => (p.lastTime = 1e15))], "not a time of years 0 to 9999", false],
    ["a partial of another plan (5,000 lines for a plan of 1,000)", () => lines, "answers another task", true],
    ["task id -1", () => [...lines, edit(lines[0]!, (p) => (p.taskId = -1))], "taskId -1 is not a task id", false],
    ["task id 0.5", () => [...lines, edit(lines[0]!, (p) => (p.taskId = 0.5))], "taskId 0.5 is not a task id", false],
    ["task id 1e300", () => [...lines, edit(lines[0]!, (p) => (p.taskId = 1e300))], "is not a task id", false],
    ["the same lines under another task id", () => [...lines, edit(lines[0]!, (p) => (p.taskId = p.task.id = 77))], "overlap", false],
    ["a 5,000-deep reason", () => [edit(fileLines[0]!, (p) => (p.malformedSamples[0].reason = deep(5000)))], "reason is not a string", false],
    ["JSON nested 100,000 deep", () => ["[".repeat(100_000) + "]".repeat(100_000)], "not a JSON object", false],
    ["a count above 2^53", () => [edit(lines[0]!, (p) => (p.bytes = 2 ** 60))], "above 2^53", false],
    ["a file's partial without its covered bytes", () => [edit(fileLines[0]!, (p) => delete p.covered)], "no covered range", false],
  ])("%s", async (_, make, message, withSmallPlan) => {
    const r = await cli(["reduce", ...(withSmallPlan ? ["--plan", planSmall] : [])], { stdin: `${make().join("\n")}\n` });
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n").length).toBe(1);
    expect(r.stderr).not.toContain("internal error");
  });

  test("without a plan the report describes the partials' own tasks", async () => {
    const r = await cli(["reduce", "--json"], { stdin: `${lines.join("\n")}\n` });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).data.input).toMatchObject({ kind: "generated", lines: 5000 });
  });
});

describe("GNU parallel over ssh (a throwaway sshd on 127.0.0.1, two host names)", () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => await sshd?.stop());

  test("more tasks than slots, one failing attempt: the local counts, both hosts used, the retry reported", async () => {
    const args = ["--lines", "240000", "--workers", "8", "--top", "60"];
    const local = await cliJson(args);
    const remote = await cliJson([...args, "--hosts", "127.0.0.1,localhost", "--ssh", sshd.ssh, "--jobs-per-host", "2"], {
      env: { LOGMR_FAULTS: "crash@3" },
    });
    expect(remote.data).toEqual(local.data);
    const hosts = new Set(remote.run.workerTimings.map((w: { host: string }) => w.host));
    expect([...hosts].sort()).toEqual(["127.0.0.1", "localhost"]);
    expect(remote.run.retries.length).toBe(1);
    expect(remote.run.retries[0].task).toContain("task 3 ");
    expect(remote.run.retries[0].causes[0]).toMatch(/attempt 1: exited with code 70 on (127\.0\.0\.1|localhost)/);
  });

  test("a host that is down costs time, not correctness", async () => {
    const args = ["--lines", "60000", "--workers", "4"];
    const local = await cliJson(args);
    const remote = await cliJson([...args, "--hosts", "127.0.0.1,host-that-is-down.invalid", "--ssh", sshd.ssh]);
    expect(remote.data).toEqual(local.data);
    for (const r of remote.run.retries) expect(r.causes[0]).toContain("ssh to host-that-is-down.invalid failed");
  });

  test("a task that keeps failing, or no host at all, ends the run with one line", async () => {
    const r = await cli(["--lines", "20000", "--workers", "2", "--retries", "1", "--hosts", "127.0.0.1", "--ssh", sshd.ssh], { env: { LOGMR_FAULTS: "garbage@1:1,silent@1:2" } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("task 1 (generated lines 10000..20000");
    expect(r.stderr).toContain("attempt 2: printed no valid partial on 127.0.0.1");
    const down = await cli(["--lines", "20000", "--hosts", "host-that-is-down.invalid", "--ssh", sshd.ssh]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("every host is down: host-that-is-down.invalid");
  });
});

describe("what cannot run elsewhere", () => {
  test("standard input in a plan or on other hosts", async () => {
    expect((await cli(["plan", "-"])).code).toBe(2);
    const r = await cli(["-", "--hosts", "a"], { stdin: "x" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("standard input (-) cannot be analyzed on other hosts");
  });
});

describe("without GNU parallel", () => {
  test("a clear message naming the Debian package", async () => {
    const r = await cli(["--lines", "1000", "--hosts", "a,b"], { env: { PATH: "/nonexistent" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("GNU parallel is not installed (Debian package: parallel");
  });
  test("the joblog is read by column", () => {
    const rows = parseJoblog("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n2\tlocalhost\t1.0\t0.5\t10\t20\t70\t0\tx\n");
    expect(rows).toEqual([{ seq: 2, host: "localhost", exitval: 70, signal: 0 }]);
  });
});
