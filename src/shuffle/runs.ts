// Spilled runs: the keyed tables of a partial, split into partitions by a
// hash of the key, each partition written sorted by key bytes as one JSON
// row a line. Rows hold only chars 0..255 once stringified (keys are binary
// strings; JSON escapes control bytes), so latin1 writes them byte for byte.

import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { SketchData } from "../core/sketch.ts";

export { SPILLED_TABLE_NAMES, SPILLED_TABLES, type SpilledTable, TIMED_TABLES } from "./tables.ts";
import { SPILLED_TABLE_NAMES, SPILLED_TABLES, type SpilledTable } from "./tables.ts";

/**
 * --by's (group, client) pairs, one key each: the group's length, ":", the
 * group, the client. Partitioned by the group, so a group's pairs are all
 * in its own partition, with its row.
 */
export function pairKey(group: string, client: string): string {
  return `${group.length.toString(36)}:${group}${client}`;
}
export function groupOfPair(key: string): string {
  const colon = key.indexOf(":");
  return key.slice(colon + 1, colon + 1 + parseInt(key.slice(0, colon), 36));
}

export type KeyRow = [string, ...number[]];
/** A row of the paths table may carry the path's response times after its count. */
export type PathRow = [string, number, SketchData?];

/** One sorted run: a table's rows of one partition, from one partial. */
export interface SpillRun {
  table: SpilledTable;
  partition: number;
  /** A name inside the run's spill directory. */
  file: string;
  rows: number;
  bytes: number;
  /** The sum of each count column. */
  sums: number[];
  /** Paths: the response times its rows carry, in all. */
  timed?: number;
}

/** The partition of a key: FNV-1a of its bytes, modulo `partitions`. */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < key.length; k++) h = Math.imul(h ^ key.charCodeAt(k), 0x01000193);
  return (h >>> 0) % partitions;
}

export const byKeyBytes = (a: KeyRow, b: KeyRow): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

const WRITE_CHUNK_CHARS = 1 << 20;

/** Writes `rows` (sorted) to `path`; returns the bytes written. Throws the system's error (ENOSPC, EACCES) as is. */
export function writeRun(path: string, rows: readonly KeyRow[]): number {
  const fd = openSync(path, "wx", 0o600);
  let bytes = 0;
  try {
    let text = "";
    for (const row of rows) {
      text += JSON.stringify(row) + "\n";
      if (text.length >= WRITE_CHUNK_CHARS) {
        bytes += writeText(fd, text);
        text = "";
      }
    }
    if (text.length > 0) bytes += writeText(fd, text);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function writeText(fd: number, text: string): number {
  const buf = Buffer.from(text, "latin1");
  for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at);
  return buf.length;
}

/**
 * Splits each table's rows into partitions, sorts each, and writes one run
 * per (table, partition) that has rows, named `${prefix}-${table}-${r}.run`.
 */
export function spillTables(
  tables: Partial<Record<SpilledTable, readonly KeyRow[]>>, dir: string, prefix: string, partitions: number,
): SpillRun[] {
  const runs: SpillRun[] = [];
  for (const table of SPILLED_TABLE_NAMES) {
    const rows = tables[table];
    if (!rows || rows.length === 0) continue;
    const parts: KeyRow[][] = Array.from({ length: partitions }, () => []);
    for (const row of rows) parts[partitionOf(table === "groupClients" ? groupOfPair(row[0]) : row[0], partitions)]!.push(row);
    parts.forEach((part, partition) => {
      if (part.length === 0) return;
      part.sort(byKeyBytes);
      const file = `${prefix}-${table}-${partition}.run`;
      const sums = new Array<number>(SPILLED_TABLES[table]).fill(0);
      let timed = 0;
      for (const row of part) {
        for (let c = 0; c < sums.length; c++) sums[c]! += row[c + 1] as number;
        if (row.length > sums.length + 1) timed += (row[sums.length + 1] as unknown as SketchData).count;
      }
      runs.push({ table, partition, file, rows: part.length, bytes: writeRun(join(dir, file), part), sums, ...(timed > 0 ? { timed } : {}) });
    });
  }
  return runs;
}

/** Bytes read at a time: a reducer has a reader open per run of its partition, so the parent sizes them to fit its share. */
export const READ_CHUNK = 1 << 16;
export const MIN_READ_CHUNK = 1 << 12;

/** Reads a run a row at a time, in the order it was written, with little memory. */
export class RunReader {
  private readonly fd: number;
  private readonly buf: Buffer;
  private lines: string[] = [];
  private at = 0;
  private rest = "";
  private ended = false;
  /** The row read last (undefined at the end). */
  row: KeyRow | undefined;
  rowsRead = 0;

  constructor(readonly path: string, chunk = READ_CHUNK) {
    this.fd = openSync(path, "r");
    this.buf = Buffer.allocUnsafe(chunk);
  }

  /** Moves to the next row; false at the end. */
  next(): boolean {
    for (;;) {
      if (this.at < this.lines.length) {
        const line = this.lines[this.at++]!;
        this.row = JSON.parse(line) as KeyRow;
        this.rowsRead++;
        return true;
      }
      if (this.ended) {
        if (this.rest !== "") throw new Error(`${this.path} ends inside a row`);
        this.row = undefined;
        return false;
      }
      const n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      if (n === 0) {
        this.ended = true;
        this.lines = [];
        this.at = 0;
        continue;
      }
      const text = this.rest + this.buf.toString("latin1", 0, n);
      const lines = text.split("\n");
      this.rest = lines.pop()!;
      this.lines = lines;
      this.at = 0;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
