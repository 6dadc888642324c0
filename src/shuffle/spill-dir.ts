// The run's spill directory under --tmp: named at the start (by the
// parent's pid, so a later run can tell a dead run's left-overs, and a
// random part no one else can guess), made by the first process that
// spills, removed however the run ends. Left-overs of killed runs go at the
// next start.

import { lstatSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRunning, whileRunning } from "../core/cleanup.ts";
import { LogmrError } from "../core/errors.ts";

const PREFIX = "logmr-spill-";
const NAME = /^logmr-spill-(\d+)-[0-9a-f]+$/;

export class SpillError extends LogmrError {}

export interface SpillDir {
  path: string;
  /** Removes the directory and everything in it (idempotent). */
  remove(): void;
}

/** Removes spill directories under `parent` whose run (pid) is dead; returns how many. */
export function removeStaleSpills(parent: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || isRunning(Number(m[1]))) continue;
    try {
      rmSync(join(parent, name), { recursive: true, force: true });
      removed++;
    } catch {
      // another user's, or going away already: not ours to worry about
    }
  }
  return removed;
}

/** Explains a system error on the spill directory in one line. */
export function spillProblem(err: unknown, where: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === "ENOSPC" ? "no space left on the device" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EROFS" ? "read-only file system" : code === "ENOENT" ? "no such directory" : (err as Error).message;
  return `cannot write spill files to ${where}: ${why}${code ? ` (${code})` : ""} (give another directory with --tmp)`;
}

/** Names this run's spill directory under `parent` (default: the OS temporary directory), after removing dead runs' ones. */
export function makeSpillDir(parent: string = tmpdir()): SpillDir {
  removeStaleSpills(parent);
  const random = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16).padStart(8, "0");
  const path = join(parent, `${PREFIX}${process.pid}-${random}`);
  const release = whileRunning(() => rmSync(path, { recursive: true, force: true }));
  return { path, remove: release };
}

/**
 * Makes the spill directory if no process of the run has yet: private to
 * this user; one that is there already must be a directory of this user
 * (never a link someone planted).
 */
export function ensureSpillDir(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const st = lstatSync(path);
    if (!st.isDirectory() || st.uid !== process.getuid?.()) throw Object.assign(new Error(`${path} is not this run's directory`), { code: "EEXIST" });
  }
}
