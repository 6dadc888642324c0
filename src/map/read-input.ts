// Turns every kind of input into byte chunks for the one LineCounter: a byte
// range of a plain file, a gzip stream, stdin, or generated lines. Memory is
// bounded by one buffer, whatever the input size.

import { fstatSync, readSync } from "node:fs";
import { createReadStream } from "node:fs";
import type { LineCounter } from "../count/counter.ts";
import type { LineGenerator } from "./generate.ts";
import type { GenerateTask } from "../core/task.ts";
import { LogmrError } from "../core/errors.ts";
import { type Codec, decompress, DecompressError } from "../core/codecs.ts";
import { LF } from "../core/text.ts";

/** Largest chunk buffer; also the longest line kept whole (longer ones are counted malformed). */
export const CHUNK_BYTES = 1 << 20;
/**
 * Buffer size for large file ranges: a chunk that stays in a core's L2 cache
 * (512 KiB here) while it is parsed. 1 MiB chunks measured about 5% slower
 * (2 workers, 899 MB file, 6 alternating runs). Longer lines still grow the
 * buffer up to CHUNK_BYTES.
 */
const READ_BYTES = 1 << 18;
/** First buffer size: small inputs (many small files, stdin) do not pay for the largest. */
const FIRST_CHUNK_BYTES = 1 << 16;
const OVERSIZED_SAMPLE = 240;

/**
 * Assembles arbitrary chunks into whole lines for a LineCounter. Owns the lines
 * that start before `startLimit` (absolute offset); with `skipFirst`, the
 * bytes up to and including the first LF belong to the previous range.
 */
export class LineAssembler {
  buf: Uint8Array;
  private readonly maxBytes: number;
  /** Bytes of buf in use (a pending partial line after each commit). */
  len = 0;
  /** Absolute offset of buf[0]. */
  offset: number;
  done = false;
  private skipping: boolean;
  /** Where the first line it owns starts and where the last one it counted ends (absolute offsets), once done. */
  coveredFrom: number | null = null;
  coveredTo = 0;

  constructor(
    private readonly counter: LineCounter,
    options: { startOffset?: number; startLimit?: number; skipFirst?: boolean; bufferBytes?: number; firstBytes?: number } = {},
  ) {
    this.maxBytes = options.bufferBytes ?? CHUNK_BYTES;
    this.buf = new Uint8Array(Math.min(options.firstBytes ?? FIRST_CHUNK_BYTES, this.maxBytes));
    this.offset = options.startOffset ?? 0;
    this.startLimit = options.startLimit ?? Number.POSITIVE_INFINITY;
    this.skipping = options.skipFirst ?? false;
    if (!this.skipping) this.coveredFrom = this.offset;
  }

  private finish(at: number): void {
    this.done = true;
    this.coveredTo = at;
    this.coveredFrom ??= at;
  }
  private readonly startLimit: number;

  private sentinel(): void {
    if (this.len === this.buf.length) {
      const bigger = new Uint8Array(this.len + 1);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.len] = LF;
  }

  /** Free space to read into (then call commit with the count written). */
  get space(): Uint8Array {
    return this.buf.subarray(this.len);
  }

  /** Counts what `n` newly written bytes complete; `eof` ends the input. */
  commit(n: number, eof: boolean): void {
    if (this.done) return;
    this.len += n;
    const buf = this.buf;
    let p = 0;
    if (this.skipping) {
      const lf = buf.indexOf(LF);
      if (lf < 0 || lf >= this.len) {
        this.offset += this.len;
        this.len = 0;
        if (eof) this.finish(this.offset);
        return;
      }
      p = lf + 1;
      this.skipping = false;
      this.coveredFrom ??= this.offset + p;
    }
    const limit = this.startLimit - this.offset;
    // A last line without its newline: the parsers may look one byte past a line, and must see
    // a line end there, not what an earlier read left in the buffer.
    if (eof && this.len > p && buf[this.len - 1] !== LF) this.sentinel();
    const q = p >= limit ? p : this.counter.countBlock(this.buf, p, this.len, eof, this.offset, limit);
    if (q >= limit || eof) {
      this.finish(this.offset + q);
      return;
    }
    if (q === 0 && this.len === buf.length && buf.length < this.maxBytes) {
      // One line fills the buffer: make room for it, up to the largest buffer.
      const bigger = new Uint8Array(Math.min(buf.length * 4, this.maxBytes));
      bigger.set(buf);
      this.buf = bigger;
      return;
    }
    if (q === 0 && this.len === buf.length) {
      // One line fills the largest buffer: count it malformed and drop the rest of it.
      this.counter.countOversizedLine(buf.slice(0, OVERSIZED_SAMPLE), this.offset);
      this.skipping = true;
      this.offset += this.len;
      this.len = 0;
      return;
    }
    buf.copyWithin(0, q, this.len);
    this.offset += q;
    this.len -= q;
  }

  /** Feeds a chunk of any size. */
  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && !this.done) {
      const space = this.space;
      const n = Math.min(space.length, chunk.length - at);
      space.set(chunk.subarray(at, at + n));
      at += n;
      this.commit(n, false);
    }
  }

  end(): void {
    this.commit(0, true);
  }
}

/** Told how far a task has got, in its own units (lines generated, bytes read). */
export type ProgressHook = (done: number) => void;

/** The input itself fails the task (changed under the run, corrupt): it would fail again on any child, so it is not retried. */
export class InputFaultError extends LogmrError {}
export class FileChangedError extends InputFaultError {}

/**
 * Counts the lines that start in bytes [start, end) of the open file fd,
 * reading no further than `size` (the planned size: bytes appended since are
 * not this run's). `base` is added to offsets (a segment of stdin saved to a
 * file of its own). Returns the bytes its lines cover, absolute.
 */
export function countFileRange(
  fd: number, start: number, end: number, counter: LineCounter,
  options: { size?: number; base?: number; name?: string; progress?: ProgressHook } = {},
): [number, number] {
  const base = options.base ?? 0;
  const size = options.size ?? Number.POSITIVE_INFINITY;
  // Reading from start-1 lets the assembler see whether a line starts exactly at start.
  const from = start > 0 ? start - 1 : 0;
  // Large ranges read in large chunks; small ones do not pay for a large buffer.
  const firstBytes = Math.max(FIRST_CHUNK_BYTES, Math.min(READ_BYTES, end - start + FIRST_CHUNK_BYTES));
  const lines = new LineAssembler(counter, { startOffset: base + from, startLimit: base + end, skipFirst: start > 0, firstBytes });
  let position = from;
  while (!lines.done) {
    const space = lines.space;
    const want = Math.min(space.length, size - position);
    const n = want > 0 ? readSync(fd, space, 0, want, position) : 0;
    if (n === 0 && position < size && Number.isFinite(size)) {
      const now = fstatSync(fd).size;
      throw new FileChangedError(`${options.name ?? "the file"} was truncated during the analysis: ${size.toLocaleString("en-US")} -> ${now.toLocaleString("en-US")} bytes`);
    }
    position += n;
    lines.commit(n, n === 0);
    options.progress?.(Math.min(position, end) - start);
  }
  return [lines.coveredFrom ?? base + start, lines.coveredTo];
}

/** Counts every line of a byte stream (gzip output, stdin). */
export async function countStream(stream: AsyncIterable<Uint8Array>, counter: LineCounter, progress?: ProgressHook): Promise<void> {
  const lines = new LineAssembler(counter);
  let read = 0;
  for await (const chunk of stream) {
    lines.push(chunk);
    read += chunk.length;
    progress?.(read);
  }
  lines.end();
}

/** Counts a compressed file's lines, from the open descriptor fd, reading its `size` compressed bytes. */
export async function countCompressedFile(
  fd: number, size: number, codec: Codec, counter: LineCounter, options: { name?: string; progress?: ProgressHook } = {},
): Promise<void> {
  const source = createReadStream("", { fd, autoClose: false, start: 0, ...(size > 0 ? { end: size - 1 } : {}), highWaterMark: 1 << 18 });
  let read = 0;
  // Progress counted as the decoder pulls: a "data" listener would set the file stream flowing under it.
  const counted = async function* (): AsyncGenerator<Uint8Array> {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      read += chunk.length;
      options.progress?.(read);
      yield chunk;
    }
  };
  try {
    await countStream(decompress(codec, counted()), counter);
  } catch (err) {
    if (err instanceof DecompressError) throw new InputFaultError(`${options.name ?? "the file"} is not a valid ${codec} file (${err.message})`);
    throw err;
  }
  if (read < size) {
    throw new FileChangedError(`${options.name ?? "the file"} was truncated during the analysis: ${size.toLocaleString("en-US")} -> ${fstatSync(fd).size.toLocaleString("en-US")} bytes`);
  }
}

/**
 * Counts generated lines [task.start, task.end) from `gen` (a LineGenerator
 * for the task's seed and settings, made by the caller: a worker reading
 * files never loads the generator): the same parser as for files.
 */
export function countGenerated(gen: LineGenerator, task: GenerateTask, counter: LineCounter, progress?: ProgressHook, bufferBytes = 1 << 16): void {
  const buf = new Uint8Array(bufferBytes);
  for (let i = task.start; i < task.end; i = gen.next) {
    const n = gen.fill(buf, i, task.end);
    counter.countBlock(buf, 0, n, true, 0);
    progress?.(gen.next - task.start);
  }
}
