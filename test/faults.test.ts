import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { FAILURE_KINDS, faultFor, parseFaults, pausesAt } from "../src/core/faults.ts";
import { childrenOf, cli, cliJson, isAlive, ROOT, sleep } from "./helpers.ts";

// These tests start real processes on a shared 2-core machine.
setDefaultTimeout(60_000);

describe("parseFaults", () => {
  test("reads kind@task[:attempt] lists", () => {
    const faults = parseFaults("crash@0, hang@*:2,garbage@3:1");
    expect(faults).toEqual([
      { kind: "crash", task: 0, attempt: 1 },
      { kind: "hang", task: "*", attempt: 2 },
      { kind: "garbage", task: 3, attempt: 1 },
    ]);
    expect(faultFor(faults, 0, 1)).toBe("crash");
    expect(faultFor(faults, 0, 2)).toBe("hang");
    expect(faultFor(faults, 1, 1)).toBeUndefined();
    expect(parseFaults(undefined)).toEqual([]);
  });
  test("a pause goes with a failure of the same attempt", () => {
    const faults = parseFaults("crash@0,pause@*");
    expect(faultFor(faults, 0, 1)).toBe("crash");
    expect(pausesAt(faults, 0, 1)).toBe(true);
    expect(pausesAt(faults, 5, 1)).toBe(true);
    expect(pausesAt(faults, 0, 2)).toBe(false);
    expect(faultFor(parseFaults("pause@0"), 0, 1)).toBeUndefined();
  });
  test.each(["explode@0", "crash", "crash@x", "crash@0:y"])("rejects %j", (spec) => expect(() => parseFaults(spec)).toThrow());
});

describe("a failed map task is run again and the answer does not change", () => {
  const ARGS = ["--lines", "120000", "--workers", "2", "--task-timeout", "1.5"];
  let clean: unknown;
  test.each(FAILURE_KINDS.map((k) => [k]))("%s on one task's first attempt", async (kind) => {
    clean ??= (await cliJson(ARGS)).data;
    const doc = await cliJson(ARGS, { env: { LOGMR_FAULTS: `${kind}@1` } });
    expect(doc.data).toEqual(clean);
    expect(doc.run.retries.length).toBe(1);
    expect(doc.run.retries[0].task).toContain("task 1 ");
    expect(doc.run.retries[0].failedAttempts).toBe(1);
  });

  test("faults in several tasks of a file run, and on a retry too", async () => {
    const file = `${ROOT}test/fixtures/mixed-garbage.log`;
    const base = (await cliJson([file, "--workers", "2"])).data;
    const doc = await cliJson([file, "--workers", "2", "--task-timeout", "1.5"], { env: { LOGMR_FAULTS: "garbage@0,shape@0:2" } });
    expect(doc.data).toEqual(base);
    expect(doc.run.retries[0].failedAttempts).toBe(2);
  });

  test("garbage from every first attempt: each task still counted once", async () => {
    // A child that printed garbage still returns the task it was sent before
    // its output was checked; no task may be dropped on the way.
    clean ??= (await cliJson(ARGS)).data;
    const doc = await cliJson(ARGS, { env: { LOGMR_FAULTS: "garbage@*:1" } });
    expect(doc.data).toEqual(clean);
    expect(doc.run.retries.length).toBeGreaterThan(0);
  });

  test("the human report lists the retry", async () => {
    const r = await cli(ARGS, { env: { LOGMR_FAULTS: "crash@0" } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Retries");
    expect(r.stdout).toContain("attempt 1: the worker exited with code 70");
  });
});

describe("a task that keeps failing ends the run", () => {
  test("exit 1, one line naming the task, its input and each attempt, no report", async () => {
    const r = await cli(["--lines", "50000", "--workers", "2", "--retries", "2"], {
      env: { LOGMR_FAULTS: "crash@0:1,garbage@0:2,kill@0:3" },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("task 0 (generated lines 0..25000");
    expect(lines[0]).toContain("attempt 1: the worker exited with code 70");
    expect(lines[0]).toContain("attempt 2: the worker's output is not valid JSON");
    expect(lines[0]).toContain("attempt 3: the worker was killed by SIGKILL");
    expect(lines[0]).toContain("injected fault: kill");
  });
  test("--retries 0 gives up at once", async () => {
    const r = await cli(["--lines", "50000", "--workers", "2", "--retries", "0"], { env: { LOGMR_FAULTS: "silent@1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("failed 1 time, giving up: attempt 1: the worker printed nothing");
  });
});

describe("orphans", () => {
  test("after SIGKILL of the parent its workers exit by themselves", async () => {
    const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, "--lines", "200000000", "--workers", "2"], {
      cwd: ROOT, stdout: "ignore", stderr: "ignore",
    });
    let workers: number[] = [];
    for (let k = 0; k < 100 && workers.length < 2; k++) {
      await sleep(50);
      workers = childrenOf(child.pid);
    }
    expect(workers.length).toBe(2);
    child.kill("SIGKILL");
    await child.exited;
    for (let k = 0; k < 60 && workers.some(isAlive); k++) await sleep(50);
    expect(workers.filter(isAlive)).toEqual([]);
  });

  test("a worker waiting for its next task exits when its parent dies", async () => {
    // The worker blocks in a read of its stdin; the parent's end closes when it dies.
    const parent = Bun.spawn(
      [process.execPath, "-e", `
        const w = Bun.spawn([process.execPath, "${ROOT}src/map/worker.ts"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, LOGMR_PARENT_PID: String(process.pid) } });
        console.log(w.pid);
        await Bun.sleep(400);
        process.kill(process.pid, "SIGKILL");
      `],
      { cwd: ROOT, stdout: "pipe", stderr: "ignore" },
    );
    const [out] = await Promise.all([new Response(parent.stdout).text(), parent.exited]);
    const worker = Number(out.trim());
    expect(worker).toBeGreaterThan(0);
    for (let k = 0; k < 60 && isAlive(worker); k++) await sleep(50);
    expect(isAlive(worker)).toBe(false);
  });

  test("a hung worker is also ended when its parent dies", async () => {
    const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, "--lines", "100000", "--workers", "1", "--task-timeout", "0"], {
      cwd: ROOT, stdout: "ignore", stderr: "ignore", env: { ...process.env, LOGMR_FAULTS: "hang@0" },
    });
    let workers: number[] = [];
    for (let k = 0; k < 100 && workers.length < 1; k++) {
      await sleep(50);
      workers = childrenOf(child.pid);
    }
    await sleep(500);
    child.kill("SIGKILL");
    await child.exited;
    for (let k = 0; k < 60 && workers.some(isAlive); k++) await sleep(50);
    expect(workers.filter(isAlive)).toEqual([]);
  });
});
