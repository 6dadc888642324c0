// A file's identity, pinned when the run is planned and checked by every
// worker that opens it and by the parent when the map is done: a log rotated,
// truncated or rewritten during the run must never give a report that mixes
// two files or leaves lines out without saying so.

import { fstatSync, readSync } from "node:fs";
import { FINGERPRINT_BYTES, type FileIdentity } from "../core/task.ts";

/** A hash of bytes [from, from + n) of fd, as hex. */
export function hashRange(fd: number, from: number, n: number): string {
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, got, n - got, from + got);
    if (r === 0) break;
    got += r;
  }
  return Bun.hash(buf.subarray(0, got)).toString(16);
}

/** The identity of the open file fd, its fingerprints taken over its first `size` bytes (default: its whole size). */
export function readIdentity(fd: number, size?: number): FileIdentity {
  const st = fstatSync(fd, { bigint: true });
  const planned = size ?? Number(st.size);
  const n = Math.min(FINGERPRINT_BYTES, planned);
  return {
    dev: Number(st.dev),
    ino: Number(st.ino),
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    head: hashRange(fd, 0, n),
    tail: hashRange(fd, planned - n, n),
  };
}

const count = (n: number) => n.toLocaleString("en-US");

export type IdentityCheck = { ok: true; grewBy: number } | { ok: false; message: string };

/**
 * Compares what the file is now with what was planned. A file that only grew
 * is fine: the run reads exactly the planned bytes.
 */
export function compareIdentity(path: string, planned: FileIdentity, now: FileIdentity): IdentityCheck {
  if (now.dev !== planned.dev || now.ino !== planned.ino) {
    return { ok: false, message: `${path} was replaced during the analysis (another file now has its name)` };
  }
  if (now.size < planned.size) {
    return { ok: false, message: `${path} was truncated during the analysis: ${count(planned.size)} -> ${count(now.size)} bytes` };
  }
  if (now.head !== planned.head || now.tail !== planned.tail) {
    return { ok: false, message: `${path} was modified during the analysis (the bytes it had when the run started changed)` };
  }
  if (now.size === planned.size && now.mtimeNs !== planned.mtimeNs) {
    return { ok: false, message: `${path} was modified during the analysis (same size, new modification time)` };
  }
  return { ok: true, grewBy: now.size - planned.size };
}

/** Checks the open file fd against its planned identity; the message of what changed, or null. */
export function identityProblem(fd: number, path: string, planned: FileIdentity): string | null {
  const check = compareIdentity(path, planned, readIdentity(fd, planned.size));
  return check.ok ? null : check.message;
}
