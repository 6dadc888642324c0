#!/usr/bin/env bun
// Soak test of --state: a log that grows (sometimes mid-line) and rotates
// (renamed, later gzipped) between runs, each run killed at a random point:
// by its own fault switch inside or after a state write, by SIGKILL from
// outside after a random delay, or by a failing worker. After each one a
// clean --state run must report exactly what a fresh run over the same files
// reports: nothing lost, nothing counted twice. Seeded, so a failure reproduces.
// Usage: bun scripts/soak-state.ts [--runs 50] [--seed 1]

import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { numberFlag } from "./flags.ts";
import { rng } from "../test/helpers.ts";

const RUNS = numberFlag("runs", 50);
const random = rng(numberFlag("seed", 1));

const ENTRY = new URL("../analyze.ts", import.meta.url).pathname;
const FIXTURE = new URL("../test/fixtures/mixed-garbage.log", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "logmr-soak-state-"));
const live = join(dir, "access.log");
const state = join(dir, "state.db");

const generated = Bun.spawnSync([process.execPath, ENTRY, "generate", "--lines", "120000", "--seed", "9"], { stdout: "pipe" }).stdout;
const source = Buffer.concat([generated, readFileSync(FIXTURE), generated]);
let at = 0;

async function cli(args: string[], env: Record<string, string> = {}, killAfterMs?: number) {
  const child = Bun.spawn([process.execPath, ENTRY, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...env } });
  const timer = killAfterMs === undefined ? null : setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (timer) clearTimeout(timer);
  return { stdout, stderr, code };
}

/** The files as a run sees them: rotations oldest first, then the live log. */
function files(): string[] {
  return [`${live}.2.gz`, `${live}.1`, live].filter((f) => existsSync(f));
}

function grow(): string {
  const roll = random();
  if (roll < 0.15 && existsSync(live)) {
    // logrotate: .1 compressed to .2.gz (an older .2.gz dropped), the live log renamed to .1, a new live log.
    if (existsSync(`${live}.1`)) {
      writeFileSync(`${live}.2.gz`, gzipSync(readFileSync(`${live}.1`)));
      rmSync(`${live}.1`);
    }
    renameSync(live, `${live}.1`);
    writeFileSync(live, "");
    return "rotated";
  }
  const n = Math.floor(random() * 400_000);
  const next = Math.min(source.length, at + n);
  appendFileSync(live, source.subarray(at, next));
  at = next;
  return `grew by ${n} bytes${source[next - 1] === 10 ? "" : " (mid-line)"}`;
}

let failures = 0;
let killed = 0;
writeFileSync(live, "");
for (let k = 1; k <= RUNS && at < source.length; k++) {
  const what = grow();
  const roll = random();
  const fault: { env: Record<string, string>; kill?: number; name: string } = roll < 0.35
    ? { env: { LOGMR_STATE_FAULT: `${random() < 0.5 ? "write" : "after"}:${1 + Math.floor(random() * 2)}` }, name: "" }
    : roll < 0.6
      ? { env: {}, kill: 30 + Math.floor(random() * 150), name: "" }
      : roll < 0.8
        ? { env: { LOGMR_FAULTS: `${random() < 0.5 ? "crash" : "kill"}@${Math.floor(random() * 3)}` }, name: "" }
        : { env: {}, name: "none" };
  fault.name ||= Object.entries(fault.env).map(([key, v]) => `${key}=${v}`).join(" ") || `SIGKILL after ${fault.kill} ms`;
  const args = [...files(), "--state", state, "--json", "--max-malformed", "100", "--workers", "2"];
  const faulted = await cli(args, fault.env, fault.kill);
  if (faulted.code !== 0) killed++;
  const clean = await cli(args);
  const fresh = await cli([...files(), "--json", "--max-malformed", "100"]);
  const same = clean.code === 0 && fresh.code === 0 && JSON.stringify(JSON.parse(clean.stdout).data) === JSON.stringify(JSON.parse(fresh.stdout).data);
  const faultedSame = faulted.code !== 0 || (fresh.code === 0 && JSON.stringify(JSON.parse(faulted.stdout).data) === JSON.stringify(JSON.parse(fresh.stdout).data));
  if (!same || !faultedSame) {
    failures++;
    console.log(`run ${k}: FAILED (${what}; ${fault.name}; exit ${faulted.code}): ${same ? "the faulted run's report differs" : `after it: ${clean.stderr.trim() || "the counts differ from a fresh run"}`}`);
  } else {
    console.log(`run ${k}: ok (${what}; ${fault.name}; ${faulted.code === 0 ? "completed" : `exit ${faulted.code}`})`);
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(`${RUNS} runs, ${killed} of them ended by a fault, ${failures} failed`);
process.exit(failures > 0 ? 1 : 0);
