// Resolving the user's input arguments (files, directories, "-") into inputs,
// and cutting them into map tasks.

import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TimeWindow } from "./count.ts";
import type { Task } from "./task.ts";
import { splitGuided, TASK_VERSION } from "./task.ts";

export interface LogInput {
  path: string;
  format: "plain" | "gzip" | "stdin";
  /** Size on disk (compressed size for gzip); null for stdin. */
  bytes: number | null;
}

export class InputError extends Error {}

/** A plain file is cut into ranges of at least this many bytes. */
export const MIN_SPLIT_BYTES = 1 << 20;

const UNSUPPORTED_MAGIC: Array<[number[], string]> = [
  [[0x28, 0xb5, 0x2f, 0xfd], "zstd"],
  [[0x42, 0x5a, 0x68], "bzip2"],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], "xz"],
];
const UNSUPPORTED_EXT = /\.(zst|bz2|xz|lz4|lzma|zip|7z)$/i;

/** Rotated access logs in a directory: *.log, *.log.N, *.log.gz, *.log.N.gz (not error logs). */
const LOG_NAME = /\.log(\.\d+)?(\.gz)?$/;

function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return code ?? (err instanceof Error ? err.message : String(err));
}

function sniff(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${reason(err)}`);
  }
  try {
    const head = new Uint8Array(6);
    const n = readSync(fd, head, 0, 6, 0);
    return head.subarray(0, n);
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${reason(err)}`);
  } finally {
    closeSync(fd);
  }
}

function fileInput(path: string): LogInput {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new InputError(`cannot read ${path}: not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${path}: ${reason(err)}`);
  }
  const head = sniff(path);
  for (const [magic, name] of UNSUPPORTED_MAGIC) {
    if (magic.every((b, k) => head[k] === b)) {
      throw new InputError(`${path} is ${name}-compressed, which is not supported: decompress it and pass "-" (e.g. ${name === "zstd" ? "zstdcat" : name === "xz" ? "xzcat" : "bzcat"} ${path} | bun analyze.ts -)`);
    }
  }
  if (UNSUPPORTED_EXT.test(path) && !(head[0] === 0x1f && head[1] === 0x8b)) {
    throw new InputError(`${path}: compressed files other than gzip are not supported`);
  }
  return { path, format: head[0] === 0x1f && head[1] === 0x8b ? "gzip" : "plain", bytes: size };
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

/** Turns the positional arguments into inputs; "-" is stdin (at most once). */
export function resolveInputs(args: readonly string[]): LogInput[] {
  const inputs: LogInput[] = [];
  let stdin = false;
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
      throw new InputError(`cannot read ${arg}: ${reason(err)}`);
    }
    if (!isDir) {
      inputs.push(fileInput(arg));
      continue;
    }
    let names: string[];
    try {
      names = readdirSync(arg).filter((n) => !n.startsWith(".") && LOG_NAME.test(n) && !/error/i.test(n));
    } catch (err) {
      throw new InputError(`cannot read directory ${arg}: ${reason(err)}`);
    }
    const files = names.sort(rotationOrder).map((n) => join(arg, n)).filter((p) => statSync(p).isFile());
    if (files.length === 0) throw new InputError(`${arg} holds no access logs (files named *.log, *.log.N, *.log.gz or *.log.N.gz)`);
    inputs.push(...files.map(fileInput));
  }
  return inputs;
}

/** Cuts inputs into tasks: plain files into byte ranges (a few per worker when large), others whole. */
export function planFileTasks(inputs: readonly LogInput[], workers: number, window?: TimeWindow): Task[] {
  const tasks: Task[] = [];
  const base = { version: TASK_VERSION, ...(window ? { window } : {}) };
  inputs.forEach((input, k) => {
    if (input.format === "stdin") {
      tasks.push({ ...base, id: tasks.length, input: k, kind: "stdin" });
    } else if (input.format === "gzip") {
      tasks.push({ ...base, id: tasks.length, input: k, kind: "gzip", path: input.path, bytes: input.bytes ?? 0 });
    } else {
      const size = input.bytes ?? 0;
      // Ranges shrinking with the bytes left, fed largest first as workers
      // finish (see splitGuided); the smallest about 1/32 of a worker's share.
      const minPart = Math.max(MIN_SPLIT_BYTES, Math.ceil(size / (workers * 32)));
      for (const [start, end] of size === 0 ? [[0, 0] as [number, number]] : splitGuided(size, workers, minPart)) {
        tasks.push({ ...base, id: tasks.length, input: k, kind: "file", path: input.path, start, end });
      }
    }
  });
  return tasks;
}
