// Resolving the user's input arguments (files, directories, "-") into inputs,
// and cutting them into map tasks.

import { closeSync, lstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TimeWindow } from "../core/task.ts";
import { codecOf, type InputFormat, MAGIC_BYTES, pipeCommand, READABLE_CODECS } from "../core/codecs.ts";
import { readIdentity } from "../map/identity.ts";
import type { FileIdentity, Task } from "../core/task.ts";
import { splitGuided, TASK_VERSION } from "../core/task.ts";
import { InputError } from "../core/errors.ts";

export interface LogInput {
  path: string;
  format: InputFormat;
  /** Size on disk (compressed size for gzip); null for stdin. */
  bytes: number | null;
  /** What the file was when planned (not for stdin). */
  identity?: FileIdentity;
  /** The parent's descriptor of the file, open until the run ends (closeInputs). */
  fd?: number;
  /** Its log format, when not Common/Combined (given, or detected from its first lines). */
  logFormat?: string;
  /** The byte ranges to read, when not all of it (--state: what no stored partial covers); empty: none (a compressed file: none). */
  ranges?: Array<[number, number]>;
  /** Where the counted bytes end when not at its planned size (--follow: after its last complete line). */
  countedEnd?: number;
}

export interface ResolvedInputs {
  inputs: LogInput[];
  /** Files left out with --skip-unreadable, each with the reason. */
  skipped: string[];
  /** One line per directory that held files a scan leaves out (error logs, other names). */
  leftOut: string[];
  /** Every file considered, read or not, and why (for --list-inputs). */
  listing: ListedInput[];
}

export interface ListedInput {
  path: string;
  read: boolean;
  why: string;
}


/** A plain file is cut into ranges of at least this many bytes. */
export const MIN_SPLIT_BYTES = 1 << 20;

const UNSUPPORTED_EXT = /\.(zst|bz2|xz|lz4|lzma|zip|7z)$/i;


function reason(err: unknown, path?: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") {
    try {
      if (path !== undefined && lstatSync(path).isSymbolicLink()) return "a dangling symbolic link";
    } catch {
      // gone altogether
    }
    return "no such file or directory";
  }
  if (code === "ELOOP") return "a symbolic link loop";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return code ?? (err instanceof Error ? err.message : String(err));
}

/**
 * Opens a log file for the run: its format from its first bytes, its identity
 * pinned. The descriptor stays open (the workers read the file through it).
 */
function fileInput(path: string): LogInput {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${reason(err, path)}`);
  }
  try {
    let identity: FileIdentity;
    let head: Uint8Array;
    try {
      if (!statSync(path).isFile()) throw new InputError(`cannot read ${path}: not a regular file`);
      identity = readIdentity(fd);
      head = new Uint8Array(MAGIC_BYTES);
      head = head.subarray(0, readSync(fd, head, 0, MAGIC_BYTES, 0));
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`cannot read ${path}: ${reason(err, path)}`);
    }
    const codec = codecOf(head);
    if (codec && !READABLE_CODECS.includes(codec)) {
      throw new InputError(`cannot read ${path}: it is ${codec}-compressed, which this runtime does not decompress (pipe it in: ${pipeCommand(codec)} ${path} | bun analyze.ts -)`);
    }
    if (!codec && UNSUPPORTED_EXT.test(path)) {
      throw new InputError(`cannot read ${path}: a compressed format other than gzip, zstd, bzip2 and xz`);
    }
    return { path, format: codec ?? "plain", bytes: identity.size, identity, fd };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Closes the descriptors fileInput left open. */
export function closeInputs(inputs: readonly LogInput[]): void {
  for (const input of inputs) {
    if (input.fd === undefined) continue;
    try {
      closeSync(input.fd);
    } catch {
      // already closed
    }
    input.fd = undefined;
  }
}

/**
 * Access-log names as distributions and logrotate write them: `access.log`,
 * Apache's `access_log` (RHEL), numbered rotations `access.log.3`, dateext
 * ones `access.log-20150517` and `access_log-20150518`, each maybe
 * compressed.
 */
const LOG_NAME = /^(.+?(?:\.log|_log))(?:\.(\d+)|-(\d{8}))?(?:\.(gz|zst|bz2|xz))?$/;

export interface ScannedFile {
  name: string;
  /** Why it is read (which log, which rotation) or left out. */
  why: string;
}

/**
 * Which names of a directory's entries are access logs, oldest first (per
 * log: numbered rotations from the highest number, then dated ones from the
 * oldest date, then the live file), and the others, each with the reason it
 * is left out. `isDirectory` says which entries are folders.
 */
export function scanNames(names: readonly string[], isDirectory: (name: string) => boolean = () => false): { logs: ScannedFile[]; left: ScannedFile[] } {
  const logs: Array<ScannedFile & { stem: string; rank: number }> = [];
  const left: ScannedFile[] = [];
  for (const name of names) {
    const m = LOG_NAME.exec(name);
    if (name.startsWith(".")) left.push({ name, why: "hidden" });
    else if (!m) left.push({ name, why: isDirectory(name) ? "a directory" : "not a log name" });
    else if (/error/i.test(m[1]!)) left.push({ name, why: "error log" });
    else if (isDirectory(name)) left.push({ name, why: "a directory" });
    else {
      const [, stem, n, date] = m;
      // Numbered rotations first (the highest number is the oldest), then dated ones, then the live file.
      const rank = n !== undefined ? -1e9 - Number(n) : date !== undefined ? -1e8 + dateRank(date) : 0;
      const why = n !== undefined ? `${stem}, rotation ${n}` : date !== undefined ? `${stem}, rotated on ${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}` : `${stem}, the live file`;
      logs.push({ name, why, stem: stem!, rank });
    }
  }
  logs.sort((a, b) => (a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : a.rank - b.rank || (a.name < b.name ? -1 : 1)));
  left.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { logs: logs.map(({ name, why }) => ({ name, why })), left };
}

/** A YYYYMMDD date as a number that orders like it (below 1e8, so dated files sort between numbered ones and the live file). */
function dateRank(date: string): number {
  return Number(date.slice(0, 4)) * 372 + Number(date.slice(4, 6)) * 31 + Number(date.slice(6));
}

/** A directory's entries, sorted into access logs and the rest (see scanNames). */
function scanDirectory(dir: string): { logs: ScannedFile[]; left: ScannedFile[] } {
  try {
    const entries = readdirSync(dir, { withFileTypes: true });
    const folders = new Set(entries.filter((d) => d.isDirectory()).map((d) => d.name));
    return scanNames(entries.map((d) => d.name), (n) => folders.has(n));
  } catch (err) {
    throw new InputError(`cannot read directory ${dir}: ${reason(err, dir)}`);
  }
}

/** The one line that names what a directory scan left out. */
function leftOutLine(dir: string, left: readonly ScannedFile[]): string {
  const shown = left.slice(0, 12).map((f) => `${f.name} (${f.why})`).join(", ");
  return `skipped ${left.length} file${left.length === 1 ? "" : "s"} in ${dir}: ${shown}${left.length > 12 ? `, and ${left.length - 12} more` : ""}`;
}

/**
 * Descriptors held open for a run, at most: past them (a folder of thousands
 * of rotated logs) a file is pinned by identity alone, and workers open it by
 * name and check it, so a rename is then caught rather than followed.
 */
export const MAX_HELD_FILES = 512;

/**
 * Turns the positional arguments into inputs; "-" is stdin (at most once). A
 * file that cannot be read fails the run with one line naming it, or, with
 * `skipUnreadable`, is left out and listed in `skipped`.
 */
export function resolveInputs(args: readonly string[], options: { skipUnreadable?: boolean } = {}): ResolvedInputs {
  const inputs: LogInput[] = [];
  const skipped: string[] = [];
  const leftOut: string[] = [];
  const listing: ListedInput[] = [];
  let stdin = false;
  let held = 0;
  const add = (path: string) => {
    try {
      const input = fileInput(path);
      if (held < MAX_HELD_FILES) held++;
      else closeInputs([input]);
      inputs.push(input);
    } catch (err) {
      // Only unreadable files are skipped: a compressed format we cannot read is a usage matter.
      if (!options.skipUnreadable || !(err instanceof InputError) || !err.message.startsWith("cannot read ")) throw err;
      skipped.push(err.message.slice("cannot read ".length));
    }
  };
  try {
    for (const arg of args) {
      if (arg === "-") {
        if (stdin) throw new InputError(`"-" (standard input) can be given only once`);
        stdin = true;
        inputs.push({ path: "-", format: "stdin", bytes: null });
        listing.push({ path: "-", read: true, why: "standard input" });
        continue;
      }
      let isDir = false;
      try {
        isDir = statSync(arg).isDirectory();
      } catch (err) {
        if (!options.skipUnreadable) throw new InputError(`cannot read ${arg}: ${reason(err, arg)}`);
        skipped.push(`${arg}: ${reason(err, arg)}`);
        continue;
      }
      if (!isDir) {
        const before = inputs.length;
        add(arg);
        if (inputs.length > before) listing.push({ path: arg, read: true, why: "named" });
        continue;
      }
      const scan = scanDirectory(arg);
      const found = inputs.length + skipped.length;
      for (const { name, why } of scan.logs) {
        const path = join(arg, name);
        let isFile: boolean;
        try {
          isFile = statSync(path).isFile();
        } catch (err) {
          if (!options.skipUnreadable) throw new InputError(`cannot read ${path}: ${reason(err, path)} (--skip-unreadable leaves such files out)`);
          skipped.push(`${path}: ${reason(err, path)}`);
          continue;
        }
        if (!isFile) {
          scan.left.push({ name, why: "not a regular file" });
          continue;
        }
        const before = inputs.length;
        add(path);
        if (inputs.length > before) listing.push({ path, read: true, why });
      }
      if (scan.left.length > 0) leftOut.push(leftOutLine(arg, scan.left));
      for (const f of scan.left) listing.push({ path: join(arg, f.name), read: false, why: f.why });
      if (inputs.length + skipped.length === found) throw new InputError(`${arg} holds no access logs (files named *.log, *_log, with .N or -YYYYMMDD rotations, maybe compressed)`);
    }
  } catch (err) {
    closeInputs(inputs);
    throw err;
  }
  for (const s of skipped) listing.push({ path: s.slice(0, s.indexOf(": ")), read: false, why: s.slice(s.indexOf(": ") + 2) });
  return { inputs, skipped, leftOut, listing };
}

function formatOf(input: LogInput): { format?: string } {
  return input.logFormat === undefined ? {} : { format: input.logFormat };
}

function pinned(input: LogInput): { identity?: FileIdentity; fd?: number } {
  return { ...(input.identity ? { identity: input.identity } : {}), ...(input.fd !== undefined ? { fd: input.fd } : {}) };
}

/** Cuts inputs into tasks: plain files into byte ranges (a few per worker when large), others whole. */
/** `maxTaskBytes`: the largest range a task may get (--memory: a worker holds one task's keys at a time). */
export function planFileTasks(inputs: readonly LogInput[], workers: number, window?: TimeWindow, maxTaskBytes = Number.POSITIVE_INFINITY): Task[] {
  const tasks: Task[] = [];
  const base = { version: TASK_VERSION, ...(window ? { window } : {}) };
  inputs.forEach((input, k) => {
    if (input.format === "stdin") {
      // Its tasks come as it is read (see StdinSegments).
    } else if (input.format !== "plain") {
      if (input.ranges?.length === 0) return;
      tasks.push({ ...base, id: tasks.length, input: k, kind: "compressed", codec: input.format, path: input.path, bytes: input.bytes ?? 0, ...pinned(input), ...formatOf(input) });
    } else {
      const size = input.bytes ?? 0;
      const wanted = input.ranges ?? [[0, size] as [number, number]];
      const bytes = wanted.reduce((a, [s, e]) => a + e - s, 0);
      // Ranges shrinking with the bytes left, fed largest first as workers
      // finish (see splitGuided); the smallest about 1/32 of a worker's share.
      const minPart = Math.min(Math.max(MIN_SPLIT_BYTES, Math.ceil(bytes / (workers * 32))), maxTaskBytes);
      for (const [from, to] of wanted) {
        for (const [start, end] of to === from ? [[0, 0] as [number, number]] : splitGuided(to - from, workers, minPart, maxTaskBytes)) {
          tasks.push({ ...base, id: tasks.length, input: k, kind: "file", path: input.path, start: from + start, end: from + end, ...pinned(input), ...formatOf(input) });
        }
      }
    }
  });
  return tasks;
}

/** Just past the last line end in bytes [from, size) of fd; `from` when no line ends there. */
export function lastLineEnd(fd: number, from: number, size: number): number {
  const buf = new Uint8Array(1 << 16);
  for (let end = size; end > from; ) {
    const start = Math.max(from, end - buf.length);
    let got = 0;
    while (got < end - start) {
      const n = readSync(fd, buf, got, end - start - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const lf = buf.subarray(0, got).lastIndexOf(10);
    if (lf >= 0) return start + lf + 1;
    end = start;
  }
  return from;
}
