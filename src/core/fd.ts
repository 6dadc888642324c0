// Reading and writing file descriptors that may be pipes, synchronously.

import { readSync, writeSync } from "node:fs";

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `bytes` to `fd`, whatever kind of file it is: a pipe may take part of a write or say EAGAIN. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) {
    try {
      at += writeSync(fd, bytes, at, bytes.length - at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

/**
 * Reads what `fd` has into `buf`, waiting until it has something: the number
 * of bytes read, 0 at the end of input. A non-blocking pipe's EAGAIN is
 * waited out. Blocking like this wakes within a fraction of a millisecond of
 * the data's arrival, where an async read of a worker's stdin woke 2 to 9 ms
 * late (the worker idles that long between tasks).
 */
export function readSome(fd: number, buf: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/**
 * Whether `fd` is a terminal, asked of the runtime's tty binding (isatty)
 * rather than of process.stdout or process.stderr: the first use of either
 * loads Node's stream modules, 18 to 22 ms of a run on Bun 1.4.5 (before the
 * workers start, when it decides on a progress line; after they end, when it
 * decides on colour).
 */
export function isTerminal(fd: number): boolean {
  try {
    const tty = process.binding("tty_wrap") as { isTTY?: (fd: number) => unknown };
    if (typeof tty.isTTY === "function") return tty.isTTY(fd) === true;
  } catch {
    // a runtime without the binding: node:tty below
  }
  return (require("node:tty") as typeof import("node:tty")).isatty(fd);
}
