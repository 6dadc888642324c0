// Standard input, read once by the parent: saved in segments of whole lines
// to temporary files, each a map task of its own. A retried task re-reads the
// very bytes its first attempt had (a pipe cannot be read twice), several
// workers share a large input, and a pipe that pauses leaves no worker
// waiting on it, so a pause is never mistaken for a stuck worker. A segment's
// file is removed when its partial is accepted; reading pauses while too
// many segments wait, so the disk holds a bounded amount.

import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { whileRunning } from "../core/cleanup.ts";
import type { Counters, TimeWindow } from "../core/task.ts";
import { writeAll } from "../core/fd.ts";
import { codecOf, decompress, DecompressError, MAGIC_BYTES, pipeCommand, READABLE_CODECS } from "../core/codecs.ts";
import { InputError } from "../core/errors.ts";
import type { TaskSource } from "./run-tasks.ts";
import { type SegmentTask, type Task, TASK_VERSION } from "../core/task.ts";
import { LF } from "../core/text.ts";
import { detectedNote, detectFormat, SAMPLE_BYTES } from "../plan/detect-format.ts";

/** A segment is cut at the first line end past this size. */
export const SEGMENT_BYTES = 32 << 20;

export interface StdinOptions {
  input: number;
  firstId: number;
  window?: TimeWindow;
  counters?: Counters;
  segmentBytes?: number;
  format?: string;
  hosts?: string[];
  where?: string;
  pathGroups?: string[];
  by?: string;
  /** Segments saved and not yet accepted, at most (then reading waits). */
  maxPending?: number;
  /** No --format given: the format is the one the first lines fit, as for a file (detectFormat). */
  detect?: boolean;
}

/**
 * Standard input as plain text: a compressed stream (told by its first
 * bytes) is decompressed on the way, as a stream; a codec this runtime does
 * not read is refused with the command to pipe it through.
 */
export async function* plainText(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = stream[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let got = 0;
  while (got < MAGIC_BYTES) {
    const r = await it.next();
    if (r.done) break;
    head.push(r.value);
    got += r.value.length;
  }
  const first = Buffer.concat(head);
  const rest = async function* (): AsyncGenerator<Uint8Array> {
    if (first.length > 0) yield first;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  };
  const codec = codecOf(first);
  if (!codec) {
    yield* rest();
    return;
  }
  if (!READABLE_CODECS.includes(codec)) {
    throw new InputError(`standard input is ${codec}-compressed, which this runtime does not decompress: pipe it through ${pipeCommand(codec)} first`);
  }
  try {
    yield* decompress(codec, rest());
  } catch (err) {
    if (err instanceof DecompressError) throw new InputError(`standard input is not a valid ${codec} stream (${err.message})`);
    throw err;
  }
}

export class StdinSegments implements TaskSource {
  /** Bytes read so far. */
  bytes = 0;
  private readonly dir = mkdtempSync(join(tmpdir(), "logmr-stdin-"));
  private readonly release = whileRunning(() => rmSync(this.dir, { recursive: true, force: true }));
  private readonly ready: SegmentTask[] = [];
  private readonly waiters: Array<{ resolve: (t: Task | undefined) => void; reject: (e: Error) => void }> = [];
  private ended = false;
  private error: Error | null = null;
  private pending = 0;
  private resume: (() => void) | null = null;
  private nextId: number;
  private readonly segmentBytes: number;
  private readonly maxPending: number;
  /** The format every segment is read in: the one given, or the one detected from the first bytes before the first segment is cut. */
  private format: string | undefined;
  private settled: boolean;
  private readonly sample: Uint8Array[] = [];
  private sampled = 0;
  /** What stderr should say of the format detected, if it is not the default. */
  note: string | undefined;

  constructor(stream: AsyncIterable<Uint8Array>, private readonly options: StdinOptions) {
    this.nextId = options.firstId;
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
    this.maxPending = options.maxPending ?? 8;
    this.format = options.format;
    this.settled = !options.detect || options.format !== undefined;
    this.pump(plainText(stream)).catch((err: unknown) => {
      this.error = err instanceof InputError ? err : new InputError(`cannot read standard input: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      this.finish();
    });
  }

  next(): Promise<Task | undefined> {
    const task = this.ready.shift();
    if (task) return Promise.resolve(task);
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  accepted(task: Task): void {
    if (task.kind !== "segment") return;
    rmSync(task.path, { force: true });
    this.pending--;
    this.resume?.();
  }

  /** Removes every saved segment. */
  close(): void {
    this.release();
  }

  private async pump(stream: AsyncIterable<Uint8Array>): Promise<void> {
    let path = "";
    let fd = -1;
    let start = 0;
    const open = () => {
      path = join(this.dir, `segment-${this.nextId}`);
      fd = openSync(path, "w");
    };
    const cut = () => {
      this.settleFormat();
      closeSync(fd);
      fd = -1;
      this.emit({ version: TASK_VERSION, id: this.nextId++, input: this.options.input, kind: "segment", path, start, end: this.bytes, ...this.extra() });
      start = this.bytes;
    };
    for await (const chunk of stream) {
      let at = 0;
      while (at < chunk.length) {
        if (fd < 0) {
          while (this.pending >= this.maxPending) await new Promise<void>((r) => (this.resume = r));
          this.resume = null;
          open();
        }
        // Where the segment reaches its size, in this chunk: cut after the
        // last line end before it, or else after the first one past it.
        const limit = at + this.segmentBytes - (this.bytes - start);
        let lf = -1;
        if (limit <= chunk.length) {
          lf = limit > at ? chunk.lastIndexOf(LF, limit - 1) : -1;
          if (lf < at) lf = chunk.indexOf(LF, Math.max(at, limit));
        }
        const take = lf >= 0 ? lf + 1 - at : chunk.length - at;
        if (!this.settled && this.sampled < SAMPLE_BYTES) {
          this.sample.push(chunk.slice(at, at + Math.min(take, SAMPLE_BYTES - this.sampled)));
          this.sampled += this.sample.at(-1)!.length;
        }
        writeAll(fd, chunk.subarray(at, at + take));
        at += take;
        this.bytes += take;
        if (lf >= 0) cut();
      }
    }
    if (fd >= 0) {
      if (this.bytes > start) cut();
      else closeSync(fd);
    }
    this.finish();
  }

  /** Detects the format from the sample, once, before the first segment is handed out. */
  private settleFormat(): void {
    if (this.settled) return;
    this.settled = true;
    this.format = detectFormat(Buffer.concat(this.sample));
    this.sample.length = 0;
    if (this.format !== undefined) this.note = detectedNote("standard input", this.format);
  }

  private extra(): Partial<SegmentTask> {
    return {
      ...(this.options.window ? { window: this.options.window } : {}),
      ...(this.options.counters === "minimal" ? { counters: "minimal" as const } : {}),
      ...(this.format !== undefined ? { format: this.format } : {}),
      ...(this.options.hosts !== undefined ? { hosts: this.options.hosts } : {}),
      ...(this.options.where !== undefined ? { where: this.options.where } : {}),
      ...(this.options.pathGroups !== undefined ? { pathGroups: this.options.pathGroups } : {}),
      ...(this.options.by !== undefined ? { by: this.options.by } : {}),
    };
  }

  private emit(task: SegmentTask): void {
    this.pending++;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(task);
    else this.ready.push(task);
  }

  private finish(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) {
      if (this.error) w.reject(this.error);
      else w.resolve(undefined);
    }
  }
}
