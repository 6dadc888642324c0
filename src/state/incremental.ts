// One run with --state: which stored input each file is (by inode and by its
// first bytes, so a rotated file is known under its new name), which of its
// bytes no partial covers yet, storing each partial as it is accepted, and
// the partials the report is merged from, read back from the state.

import { readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SpilledTable } from "../shuffle/tables.ts";
import { ensureSpillDir } from "../shuffle/spill-dir.ts";
import { FINGERPRINT_BYTES, type Task, type TimeWindow } from "../core/task.ts";
import { mergeAll, PARTIAL_VERSION, type TaskPartial, validatePartial } from "../core/partial.ts";
import { hashRange } from "../map/identity.ts";
import { lastLineEnd, type LogInput } from "../plan/resolve-inputs.ts";
import { gzipSampleOf } from "../plan/detect-format.ts";
import { whileRunning } from "../core/cleanup.ts";
import { type StoredInput, StateError, StateStore } from "./store.ts";

/** What every partial of a state is counted with: a run with other settings cannot use (or add to) its partials. */
export interface StateSettings {
  window?: TimeWindow;
  counters?: "minimal";
  hosts?: string[];
  where?: string;
  pathGroups?: string[];
  by?: string;
}

export function settingsKey(s: StateSettings): string {
  const out: Record<string, unknown> = {};
  for (const k of ["by", "counters", "hosts", "pathGroups", "where", "window"] as const) if (s[k] !== undefined) out[k] = s[k];
  if (s.window) out.window = { ...(s.window.since !== undefined ? { since: s.window.since } : {}), ...(s.window.until !== undefined ? { until: s.window.until } : {}) };
  return JSON.stringify(out);
}

function describeSettings(key: string): string {
  const s = JSON.parse(key) as StateSettings;
  const parts: string[] = [];
  if (s.window) parts.push("--since/--until");
  if (s.counters) parts.push("--counters minimal");
  if (s.hosts) parts.push("--vhost");
  if (s.where) parts.push("--where");
  if (s.pathGroups) parts.push("--group-path");
  if (s.by) parts.push("--by");
  return parts.length === 0 ? "no filter or window" : parts.join(", ");
}

const count = (n: number) => n.toLocaleString("en-US");

/** The uncompressed size a gzip file states in its last 4 bytes (modulo 2^32). */
function gzipStatedSize(fd: number, size: number): number | null {
  if (size < 18) return null;
  const buf = new Uint8Array(4);
  if (readSync(fd, buf, 0, 4, size - 4) !== 4) return null;
  return new DataView(buf.buffer).getUint32(0, true);
}

const hashBytes = (bytes: Uint8Array) => Bun.hash(bytes).toString(16);

/** Per file of the run: the stored input it is, and which of its tasks are not stored. */
interface Claim {
  input: StoredInput;
  /** Plain files: tasks starting at or after this offset read a last line without its newline: counted in this report, not stored. */
  storableEnd: number;
}

export interface StateReport {
  /** Bytes the map read this run, and bytes whose counts came from the state. */
  bytesMapped: number;
  bytesFromState: number;
  /** Partials read from the state for the report. */
  partialsFromState: number;
  /** True when the settings differ from the state's: nothing was read from it or written to it. */
  bypassed: boolean;
}

/** Opens (or makes) the state at `path` and takes it for this run. */
export function openIncremental(path: string, settings: StateSettings): IncrementalRun {
  const store = StateStore.open(path);
  try {
    store.lock();
  } catch (err) {
    store.close();
    throw err;
  }
  return new IncrementalRun(store, settingsKey(settings));
}

export class IncrementalRun {
  private readonly claims = new Map<number, Claim>();
  private readonly stored = new Set<number>();
  // Interrupted (SIGINT, SIGTERM): the state is given back; what was stored stays.
  private readonly release = whileRunning(() => this.store.close());
  private readonly notes: string[] = [];
  /** The run's settings differ from those of the state: it is neither used nor changed. */
  bypassed = false;
  private bytesMapped = 0;
  /** Bytes of the run's files whose counts were in the state before it. */
  private bytesFromState = 0;
  /** The parent's descriptors of the run's files, by input index (for fingerprints as partials arrive). */
  private readonly fds = new Map<number, number>();

  /** --follow: a last line without its newline is left for later, not counted in this report. */
  completeLinesOnly = false;
  /** --memory: the run's spill directory, where stored runs are written back for the reduce, and its partition count. */
  private spill: { dir: string; partitions: number } | undefined;
  private readonly materialized = new Set<number>();

  constructor(
    private readonly store: StateStore,
    private readonly settings: string,
  ) {}

  get path(): string {
    return this.store.path;
  }

  /** The partitions the state's runs are in (a run with it must spill into as many), or null before any. */
  storedPartitions(): number | null {
    return this.store.partitions();
  }

  /** Where this run spills: stored runs are written back there as they are read. */
  useSpill(dir: string, partitions: number): void {
    this.spill = { dir, partitions };
  }

  /** A stored partial's runs, written back as files of this run's spill directory. */
  private spilledRuns(partialId: number): NonNullable<TaskPartial["spill"]> {
    if (!this.spill) throw new StateError(`the state ${this.store.path} holds counts spilled to disk under --memory, which a run with --follow cannot use yet: run it without --follow`);
    ensureSpillDir(this.spill.dir);
    const runs = this.store.runsOf(partialId).map((r) => {
      const file = `s${r.id}.run`;
      let bytes: number;
      if (this.materialized.has(r.id)) bytes = statSync(join(this.spill!.dir, file)).size;
      else {
        const data = this.store.runData(r.id);
        writeFileSync(join(this.spill!.dir, file), data, { mode: 0o600 });
        this.materialized.add(r.id);
        bytes = data.length;
      }
      return { table: r.table as SpilledTable, partition: r.partition, file, rows: r.rows, bytes, sums: r.sums, ...(r.timed !== null ? { timed: r.timed } : {}) };
    });
    return { dir: this.spill.dir, partitions: this.spill.partitions, runs };
  }

  /** A partial as stored: its runs go to their own rows, its body keeps only their partition count. */
  private storedBody(partial: TaskPartial): string {
    if (!partial.spill) return JSON.stringify(partial);
    return JSON.stringify({ ...partial, spill: { dir: "", partitions: partial.spill.partitions, runs: [] } });
  }

  close(): void {
    this.release();
  }

  /**
   * Matches each file with what the state knows of it and sets the byte
   * ranges the map must read (file.ranges). Returns notes for stderr.
   */
  prepare(files: LogInput[]): string[] {
    const stored = this.store.meta().settings;
    if (stored !== undefined && stored !== this.settings && this.store.inputs().length > 0) {
      this.bypassed = true;
      // Only the timeline's per-minute requests and errors could be cut to another window; clients, paths,
      // statuses, bytes and response times of a window (or of a filter) need the lines themselves.
      this.notes.push(`the state ${this.store.path} counts with ${describeSettings(stored)}, this run asks for ${describeSettings(this.settings)}: its stored clients, paths, statuses, bytes and response times cannot be narrowed to that, so every line is read again for this report, and the state is left as it is`);
      return this.notes;
    }
    if (stored !== this.settings) this.store.setSettings(this.settings);
    const known = this.store.inputs();
    const claimed = new Set<number>();
    const stale = new Map<number, string>();
    const take = (k: number, input: StoredInput) => {
      claimed.add(input.id);
      if (files[k]?.fd !== undefined) this.fds.set(k, files[k]!.fd!);
      this.claims.set(k, { input, storableEnd: Number.POSITIVE_INFINITY });
    };
    // First by inode, then by content: a copy (copytruncate) or a compressed rotation.
    files.forEach((file, k) => {
      if (file.format !== "plain" || file.fd === undefined || !file.identity) return;
      const { dev, ino } = file.identity;
      // Several when a followed file was truncated and counted again: the one its bytes still fit.
      const same = known.filter((s) => !claimed.has(s.id) && s.kind === "plain" && s.dev === dev && s.ino === ino);
      const problems = same.map((s) => this.plainMismatch(file, s));
      const fit = same.find((_, j) => problems[j] === null);
      if (fit) take(k, fit);
      // Not dropped yet: a copy of it among the inputs (copytruncate) takes its counts over below.
      same.forEach((s, j) => {
        if (s !== fit) stale.set(s.id, `${file.path} ${problems[j] ?? "is another file now"}`);
      });
    });
    files.forEach((file, k) => {
      if (this.claims.has(k) || file.fd === undefined || !file.identity) return;
      if (file.format === "plain") {
        const copy = known.find((s) => !claimed.has(s.id) && s.kind === "plain" && s.tailEnd > 0 && this.plainMismatch(file, s) === null);
        if (copy) {
          const was = stale.get(copy.id);
          this.notes.push(`${was ? `${was}; ` : ""}${file.path} holds the ${count(copy.tailEnd)} bytes counted before as ${copy.path}: not counted again`);
          stale.delete(copy.id);
          this.store.updateInput(copy.id, { dev: file.identity.dev, ino: file.identity.ino, path: file.path });
          return take(k, { ...copy, dev: file.identity.dev, ino: file.identity.ino });
        }
      } else {
        const match = this.compressedMatch(file, known, claimed);
        if (match) return take(k, match);
      }
      const headLen = file.format === "plain" ? Math.min(FINGERPRINT_BYTES, file.identity.size) : 0;
      const input: Omit<StoredInput, "id" | "seenAt" | "tailEnd" | "tailLen" | "tail"> = {
        kind: file.format,
        dev: file.identity.dev,
        ino: file.identity.ino,
        headLen,
        head: file.format === "plain" ? hashRange(file.fd, 0, headLen) : "",
        fingerprint: file.format === "plain" ? null : compressedFingerprint(file),
        format: file.logFormat ?? "",
        path: file.path,
      };
      if (file.format !== "plain") {
        const sample = file.format === "gzip" ? gzipSampleOf(file.path, file.fd) : null;
        if (sample) {
          input.headLen = Math.min(FINGERPRINT_BYTES, sample.length);
          input.head = hashBytes(sample.subarray(0, input.headLen));
        }
      }
      const id = this.store.addInput(input);
      take(k, { ...input, id, tailEnd: 0, tailLen: 0, tail: "", seenAt: "" });
    });
    for (const [id, why] of stale) {
      // Its inode is another file's now, and its bytes were found elsewhere (compressed, copied).
      if (claimed.has(id)) continue;
      this.notes.push(`${why}: counted from the start again, its stored counts dropped`);
      this.store.dropInput(id);
    }
    files.forEach((file, k) => {
      const claim = this.claims.get(k);
      if (!claim) return;
      if (claim.input.format !== (file.logFormat ?? "")) {
        this.notes.push(`${file.path} is read as ${file.logFormat ?? "combined"} now, it was counted as ${claim.input.format || "combined"} before: counted again`);
        this.store.dropInput(claim.input.id);
        const id = this.store.addInput({ ...claim.input, format: file.logFormat ?? "" });
        claim.input = { ...claim.input, id, format: file.logFormat ?? "", tailEnd: 0, tailLen: 0, tail: "" };
      }
      if (claim.input.path !== file.path) this.store.updateInput(claim.input.id, { path: file.path });
      this.planRanges(file, claim);
    });
    return this.notes;
  }

  /** Why the open plain file is not (a later state of) the stored input, or null when it is. */
  private plainMismatch(file: LogInput, s: StoredInput): string | null {
    const { size } = file.identity!;
    const fd = file.fd!;
    if (size < s.tailEnd) return `shrank to ${count(size)} bytes, ${count(s.tailEnd)} of it were counted before (truncated, or copied and truncated)`;
    if (size < s.headLen || hashRange(fd, 0, s.headLen) !== s.head) return "is not the file counted before (its first bytes changed)";
    if (s.tailLen > 0 && hashRange(fd, s.tailEnd - s.tailLen, s.tailLen) !== s.tail) return "was rewritten (bytes counted before changed)";
    return null;
  }

  /** A compressed file the state holds whole, or a rotated plain file the state counted and that was compressed since. */
  private compressedMatch(file: LogInput, known: StoredInput[], claimed: Set<number>): StoredInput | null {
    const fingerprint = compressedFingerprint(file);
    const same = known.find((s) => !claimed.has(s.id) && s.kind === file.format && s.fingerprint === fingerprint);
    if (same) return same;
    if (file.format !== "gzip") return null;
    const sample = gzipSampleOf(file.path, file.fd);
    if (!sample) return null;
    const stated = gzipStatedSize(file.fd!, file.identity!.size);
    for (const s of known) {
      if (claimed.has(s.id) || s.kind !== "plain" || s.tailEnd === 0 || sample.length < s.headLen || hashBytes(sample.subarray(0, s.headLen)) !== s.head) continue;
      const ranges = this.store.coverage(s.id);
      const whole = ranges.length === 1 && ranges[0]!.start === 0 && ranges[0]!.end === s.tailEnd;
      if (whole && stated === s.tailEnd % 2 ** 32) {
        this.notes.push(`${file.path} holds ${s.path} as counted before (the same first bytes and size, compressed): not counted again`);
        this.store.updateInput(s.id, { kind: file.format, fingerprint, dev: file.identity!.dev, ino: file.identity!.ino, path: file.path });
        return { ...s, kind: file.format, fingerprint };
      }
      // Lines written to it after the last run, then compressed: the whole file is counted instead.
      this.notes.push(`${file.path} starts like ${s.path}, counted before, and holds more: counted whole, the stored counts of ${s.path} dropped`);
      this.store.dropInput(s.id);
      known.splice(known.indexOf(s), 1);
      return null;
    }
    return null;
  }

  /** Sets file.ranges to the bytes no stored partial covers (a compressed file: all or nothing). */
  private planRanges(file: LogInput, claim: Claim): void {
    const covered = this.store.coverage(claim.input.id);
    if (file.format !== "plain") {
      file.ranges = covered.length > 0 ? [] : undefined;
      if (covered.length > 0) this.bytesFromState += file.identity!.size;
      return;
    }
    const size = file.identity!.size;
    const gaps: Array<[number, number]> = [];
    let at = 0;
    for (const { start, end } of covered) {
      if (start === null || end === null) continue;
      this.bytesFromState += end - start;
      if (start > at) gaps.push([at, start]);
      at = Math.max(at, end);
    }
    const complete = lastLineEnd(file.fd!, at, size);
    if (complete > at) gaps.push([at, complete]);
    // A last line without its newline (being written) is counted for this report, not stored: its end will come.
    // Followed, it is not counted at all until then.
    if (size > complete && !this.completeLinesOnly) gaps.push([complete, size]);
    claim.storableEnd = this.completeLinesOnly ? Number.POSITIVE_INFINITY : complete;
    if (this.completeLinesOnly) file.countedEnd = complete;
    file.ranges = gaps;
  }

  /** Stores an accepted partial of this run (not the last line without its newline). */
  storePartial(task: Task, partial: TaskPartial): void {
    if (this.stored.has(task.id)) return;
    this.stored.add(task.id);
    this.bytesMapped += task.kind === "file" ? task.end - task.start : task.kind === "compressed" ? (task.bytes ?? 0) : 0;
    if (this.bypassed) return;
    const claim = this.claims.get(task.input);
    if (!claim || !this.isStored(task)) return;
    if (task.kind === "file" && partial.lines.read === 0) return;
    // An input made when its file was shorter than a fingerprint (a new log, followed) gets its first bytes' hash with its first lines.
    const grown = task.kind === "file" && claim.input.headLen < FINGERPRINT_BYTES && partial.covered![0] === 0 ? this.headOf(task, partial.covered![1]) : null;
    const spill = partial.spill;
    if (spill) this.store.setPartitions(spill.partitions);
    const runs = (spill?.runs ?? []).map((r) => ({ table: r.table, partition: r.partition, rows: r.rows, sums: r.sums, timed: r.timed ?? null, data: () => readFileSync(join(spill!.dir, r.file)) }));
    this.store.addPartial(claim.input.id, task.kind === "file" ? partial.covered! : null, partial.lines.read, this.storedBody(partial), grown ?? {}, runs);
    if (grown) claim.input = { ...claim.input, ...grown };
  }

  private headOf(task: Task, end: number): { headLen: number; head: string } | null {
    const fd = this.fds.get(task.input);
    if (fd === undefined) return null;
    const headLen = Math.min(FINGERPRINT_BYTES, end);
    return headLen > this.claims.get(task.input)!.input.headLen ? { headLen, head: hashRange(fd, 0, headLen) } : null;
  }

  /**
   * A file found while following (a new file under a rotated name, or one
   * truncated and read again from its start): a new input of the state.
   */
  addFollowed(file: LogInput, k: number): void {
    if (this.bypassed || file.fd === undefined || !file.identity) return;
    const headLen = Math.min(FINGERPRINT_BYTES, file.identity.size);
    const input = { kind: "plain", dev: file.identity.dev, ino: file.identity.ino, headLen, head: hashRange(file.fd, 0, headLen), fingerprint: null, format: file.logFormat ?? "", path: file.path };
    const id = this.store.addInput(input);
    this.fds.set(k, file.fd);
    this.claims.set(k, { input: { ...input, id, tailEnd: 0, tailLen: 0, tail: "", seenAt: "" }, storableEnd: Number.POSITIVE_INFINITY });
  }

  /** Merges each followed file's stored partials into one (at the end of a follow, and when they pile up). */
  compactFollowed(files: readonly LogInput[], maxRows = 0, only?: number): void {
    if (this.bypassed) return;
    files.forEach((file, k) => {
      if (only !== undefined && k !== only) return;
      const claim = this.claims.get(k);
      if (!claim || file.format !== "plain" || file.fd === undefined) return;
      if (maxRows > 0 && this.store.coverage(claim.input.id).length <= maxRows) return;
      this.compact(file, claim);
    });
  }

  private isStored(task: Task): boolean {
    if (task.kind === "compressed") return true;
    return task.kind === "file" && task.start < (this.claims.get(task.input)?.storableEnd ?? 0);
  }

  /**
   * After the map: each file's stored partials merged into one (when they
   * cover it from its start), then read back. Returns the partials to
   * report, renumbered after `firstId`, with the partials of this run that
   * were not stored, and what came from where.
   */
  finish(files: readonly LogInput[], tasks: readonly Task[], partials: readonly TaskPartial[], firstId: number): { tasks: Task[]; partials: TaskPartial[]; report: StateReport } {
    if (this.bypassed) return { tasks: [...tasks], partials: [...partials], report: { bytesMapped: this.bytesMapped, bytesFromState: 0, partialsFromState: 0, bypassed: true } };
    const outTasks: Task[] = [];
    const outPartials: TaskPartial[] = [];
    let id = firstId;
    let partialsFromState = 0;
    const byTask = new Map(partials.map((p) => [p.taskId, p]));
    for (const task of tasks) {
      const claim = this.claims.get(task.input);
      if (claim && this.isStored(task)) continue;
      outTasks.push(task);
      const p = byTask.get(task.id);
      if (p) outPartials.push(p);
    }
    files.forEach((file, k) => {
      const claim = this.claims.get(k);
      if (!claim) return;
      const loaded = this.compact(file, claim);
      for (const p of loaded) {
        const task = { ...p.task, id, input: k } as Task;
        for (const s of p.malformedSamples) s.input = k;
        outTasks.push(task);
        outPartials.push({ ...p, taskId: id, task });
        id++;
        partialsFromState++;
      }
    });
    return { tasks: outTasks, partials: outPartials, report: { bytesMapped: this.bytesMapped, bytesFromState: this.bytesFromState, partialsFromState, bypassed: false } };
  }

  /** An input's stored partials, merged into one when they cover it from byte 0 without a gap. */
  private compact(file: LogInput, claim: Claim): TaskPartial[] {
    const rows = this.store.partials(claim.input.id);
    // Each was validated before it was stored (a merge of them too): read back, only its frame is checked.
    const parsed = rows.map((r) => {
      let p: TaskPartial | null = null;
      try {
        p = JSON.parse(r.body) as TaskPartial;
      } catch {
        // reported below
      }
      const covered = p?.covered;
      const fits = p !== null && typeof p === "object" && p.version === PARTIAL_VERSION && typeof p.task === "object" && p.task !== null
        && (r.start === null ? covered === undefined || Array.isArray(covered) : Array.isArray(covered) && covered[0] === r.start && covered[1] === r.end);
      if (!fits) throw new StateError(`the state ${this.store.path} holds a damaged partial of ${claim.input.path}: remove it to start again`);
      if (p!.spill) p!.spill = this.spilledRuns(r.id);
      return p!;
    });
    if (file.format !== "plain" || parsed.length === 0) return parsed;
    let at = 0;
    for (const p of parsed) {
      if (p.covered![0] !== at) return parsed;
      at = p.covered![1];
    }
    const fd = file.fd!;
    const tailLen = Math.min(FINGERPRINT_BYTES, at);
    const fingerprints = { tailEnd: at, tailLen, tail: hashRange(fd, at - tailLen, tailLen), headLen: Math.min(FINGERPRINT_BYTES, at), head: hashRange(fd, 0, Math.min(FINGERPRINT_BYTES, at)) };
    if (parsed.length === 1) {
      if (claim.input.tailEnd !== at || claim.input.headLen !== fingerprints.headLen) this.store.updateInput(claim.input.id, fingerprints);
      return parsed;
    }
    // Line numbers of malformed samples count from the file's start, as if one task had read it all.
    let before = 0;
    for (const p of parsed) {
      for (const s of p.malformedSamples) s.line += before;
      before += p.lines.read;
    }
    const first = parsed[0]!.task;
    const merged = mergeAll(parsed);
    const task = { ...first, id: 0, start: 0, end: at, identity: file.identity } as Task;
    const one: TaskPartial = {
      ...merged,
      taskId: 0,
      task,
      covered: [0, at],
      timings: { readyAt: 0, startedAt: 0, endedAt: 0, pid: 0, maxRssKb: 0 },
    };
    validatePartial(JSON.parse(JSON.stringify(one)), task, { spillDir: this.spill?.dir });
    this.store.replacePartials(claim.input.id, [0, at], one.lines.read, this.storedBody(one), fingerprints);
    return [one];
  }
}

/** A compressed file's identity: codec, size and the hashes of its compressed ends. */
function compressedFingerprint(file: LogInput): string {
  const id = file.identity!;
  return `${file.format}:${id.size}:${id.head}:${id.tail}`;
}

