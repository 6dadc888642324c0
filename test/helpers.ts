// Running the real CLI in tests.

import { readdirSync, readFileSync } from "node:fs";

export const ROOT = new URL("..", import.meta.url).pathname;
export const fixture = (name: string) => `${ROOT}test/fixtures/${name}`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bun analyze.ts ...args` and waits for it. */
export async function cli(args: string[], options: { stdin?: Uint8Array | string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const child = Bun.spawn([process.execPath, `${ROOT}analyze.ts`, ...args], {
    cwd: ROOT,
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...options.env },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

/** Runs the CLI with --json and returns the parsed document (failing loudly otherwise). */
export async function cliJson(args: string[], options: Parameters<typeof cli>[1] = {}) {
  const r = await cli([...args, "--json"], options);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Pids whose parent is `pid` (from /proc, by pid, not by name). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small seeded generator (mulberry32), so a failure reproduces. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
