// Splitting a byte stream of JSON lines (a child's partials, a file of
// partials or tasks) without quadratic work: each chunk is searched for line
// ends once, and a long line is joined from its pieces only when it is whole.

import { LF } from "./text.ts";
const decoder = new TextDecoder();

export class LineSplitter {
  private pieces: Uint8Array[] = [];
  private pendingBytes = 0;

  /** Bytes held for a line not yet ended. */
  get pending(): number {
    return this.pendingBytes;
  }

  /** The lines this chunk completes, without their LF. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let from = 0;
    for (let lf = chunk.indexOf(LF); lf >= 0; lf = chunk.indexOf(LF, from)) {
      lines.push(this.take(chunk.subarray(from, lf)));
      from = lf + 1;
    }
    if (from < chunk.length) {
      // Copied: a stream may reuse its chunk's memory.
      this.pieces.push(chunk.slice(from));
      this.pendingBytes += chunk.length - from;
    }
    return lines;
  }

  /** What is left after the last LF, if anything (a last line without one). */
  end(): string | undefined {
    return this.pendingBytes > 0 ? this.take(new Uint8Array(0)) : undefined;
  }

  private take(last: Uint8Array): string {
    if (this.pieces.length === 0) return decoder.decode(last);
    const whole = new Uint8Array(this.pendingBytes + last.length);
    let at = 0;
    for (const piece of this.pieces) {
      whole.set(piece, at);
      at += piece.length;
    }
    whole.set(last, at);
    this.pieces = [];
    this.pendingBytes = 0;
    return decoder.decode(whole);
  }
}

/** Every line of a byte stream, with its 1-based number; blank lines skipped. */
export async function* streamLines(stream: AsyncIterable<Uint8Array>): AsyncGenerator<{ line: string; number: number }> {
  const splitter = new LineSplitter();
  let number = 0;
  for await (const chunk of stream) {
    for (const line of splitter.push(chunk)) {
      number++;
      if (line.trim() !== "") yield { line, number };
    }
  }
  const last = splitter.end();
  if (last !== undefined && last.trim() !== "") yield { line: last, number: number + 1 };
}
