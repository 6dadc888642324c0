// Resolving the user's input arguments (files, directories, "-") into inputs,
// and cutting them into map tasks.

import { closeSync, lstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TimeWindow } from "../core/task.ts";
import { codecOf, MAGIC_BYTES, pipeCommand, READABLE_CODECS } from "../core/codecs.ts";
import { readIdentity } from "../map/identity.ts";
import type { InputFormat } from "../report/report.ts";
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
}

export interface ResolvedInputs {
  inputs: LogInput[];
  /** Files left out with --skip-unreadable, each with the reason. */
  skipped: string[];
}


/** A plain file is cut into ranges of at least this many bytes. */
export const MIN_SPLIT_BYTES = 1 << 20;

const UNSUPPORTED_EXT = /\.(zst|bz2|xz|lz4|lzma|zip|7z)$/i;

/** Rotated access logs in a directory: *.log, *.log.N, *.log.gz, *.log.N.gz (not error logs). */
const LOG_NAME = /\.log(\.\d+)?(\.gz)?$/;

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

/** Sort key putting rotated logs oldest first: access.log.3.gz, access.log.2, access.log.1, access.log. */
function rotationOrder(a: string, b: string): number {
  const parse = (name: string) => {
    const m = /^(.*?\.log)(?:\.(\d+))?(?:\.gz)?$/.exec(name);
    return { base: m?.[1] ?? name, n: m?.[2] === undefined ? 0 : Number(m[2]) };
  };
  const pa = parse(a);
  const pb = parse(b);
  return pa.base < pb.base ? -1 : pa.base > pb.base ? 1 : pb.n - pa.n;
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
        add(arg);
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(arg).filter((n) => !n.startsWith(".") && LOG_NAME.test(n) && !/error/i.test(n));
      } catch (err) {
        throw new InputError(`cannot read directory ${arg}: ${reason(err, arg)}`);
      }
      const found = inputs.length + skipped.length;
      for (const name of names.sort(rotationOrder)) {
        const path = join(arg, name);
        let isFile: boolean;
        try {
          isFile = statSync(path).isFile();
        } catch (err) {
          if (!options.skipUnreadable) throw new InputError(`cannot read ${path}: ${reason(err, path)} (--skip-unreadable leaves such files out)`);
          skipped.push(`${path}: ${reason(err, path)}`);
          continue;
        }
        if (isFile) add(path);
      }
      if (inputs.length + skipped.length === found) throw new InputError(`${arg} holds no access logs (files named *.log, *.log.N, *.log.gz or *.log.N.gz)`);
    }
  } catch (err) {
    closeInputs(inputs);
    throw err;
  }
  return { inputs, skipped };
}

function pinned(input: LogInput): { identity?: FileIdentity; fd?: number } {
  return { ...(input.identity ? { identity: input.identity } : {}), ...(input.fd !== undefined ? { fd: input.fd } : {}) };
}

/** Cuts inputs into tasks: plain files into byte ranges (a few per worker when large), others whole. */
export function planFileTasks(inputs: readonly LogInput[], workers: number, window?: TimeWindow): Task[] {
  const tasks: Task[] = [];
  const base = { version: TASK_VERSION, ...(window ? { window } : {}) };
  inputs.forEach((input, k) => {
    if (input.format === "stdin") {
      // Its tasks come as it is read (see StdinSegments).
    } else if (input.format !== "plain") {
      tasks.push({ ...base, id: tasks.length, input: k, kind: "compressed", codec: input.format, path: input.path, bytes: input.bytes ?? 0, ...pinned(input) });
    } else {
      const size = input.bytes ?? 0;
      // Ranges shrinking with the bytes left, fed largest first as workers
      // finish (see splitGuided); the smallest about 1/32 of a worker's share.
      const minPart = Math.max(MIN_SPLIT_BYTES, Math.ceil(size / (workers * 32)));
      for (const [start, end] of size === 0 ? [[0, 0] as [number, number]] : splitGuided(size, workers, minPart)) {
        tasks.push({ ...base, id: tasks.length, input: k, kind: "file", path: input.path, start, end, ...pinned(input) });
      }
    }
  });
  return tasks;
}
