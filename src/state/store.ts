// The state file of incremental runs (--state FILE): an SQLite database of
// every validated partial with the identity of the input bytes it covers, so
// that a later run maps only what no partial covers yet. Every write is its
// own transaction, so a run killed at any point leaves a state that is
// correct, only less complete.

import { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { hostname } from "node:os";
import { EXIT_FAILED, LogmrError } from "../core/errors.ts";
import { PARTIAL_VERSION } from "../core/partial.ts";
import { TASK_VERSION } from "../core/task.ts";
import { ENGINE_VERSION } from "../core/version.ts";
import { isRunning } from "../core/cleanup.ts";
import { parseStateFault, STATE_FAULT_ENV, type StateFaultPoint } from "../core/faults.ts";

/** The layout of the tables below; a state of another layout is refused (1 is brought to 2: it only lacks the runs). */
export const STATE_SCHEMA = 2;

export class StateError extends LogmrError {
  constructor(message: string) {
    super(message, EXIT_FAILED);
  }
}

/** An input the state has counted bytes of. */
export interface StoredInput {
  id: number;
  /** "plain", or the codec of a compressed file. */
  kind: string;
  dev: number;
  ino: number;
  /** Hash of the input's first headLen bytes (decompressed ones for a compressed file). */
  headLen: number;
  head: string;
  /** Hash of the tailLen bytes before tailEnd, the end of what is covered (plain files). */
  tailEnd: number;
  tailLen: number;
  tail: string;
  /** A compressed file: its codec, size and the hashes of its compressed ends. */
  fingerprint: string | null;
  /** The log format its partials were counted in ("" for Common/Combined). */
  format: string;
  /** The name it had when last read. */
  path: string;
  seenAt: string;
}

/** A sorted run of a stored partial (see shuffle/runs.ts): where it belongs, what it sums to, its bytes. */
export interface StoredRun {
  id: number;
  table: string;
  partition: number;
  rows: number;
  sums: number[];
  timed: number | null;
}

export interface StoredPartial {
  id: number;
  inputId: number;
  /** The bytes its lines cover; null for a compressed file (covered whole). */
  start: number | null;
  end: number | null;
  lines: number;
  body: string;
}

interface Meta {
  schema: number;
  partialVersion: number;
  taskVersion: number;
  engineVersion: string;
  /** What every partial of this state was counted with (window, filters, ...), as canonical JSON; absent until the first run. */
  settings?: string;
  createdAt: string;
}

/** Schema 2: the sorted runs of spilled partials (--memory), each a file's bytes, in the order of their partial's spill.runs. */
const RUNS_SQL = `
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  partial_id INTEGER NOT NULL REFERENCES partials(id) ON DELETE CASCADE,
  tbl TEXT NOT NULL,
  part INTEGER NOT NULL,
  rows INTEGER NOT NULL,
  sums TEXT NOT NULL,
  timed INTEGER,
  data BLOB NOT NULL
);
CREATE INDEX runs_by_partial ON runs(partial_id);
`;

const SCHEMA_SQL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE inputs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  dev INTEGER NOT NULL,
  ino INTEGER NOT NULL,
  head_len INTEGER NOT NULL,
  head TEXT NOT NULL,
  tail_end INTEGER NOT NULL DEFAULT 0,
  tail_len INTEGER NOT NULL DEFAULT 0,
  tail TEXT NOT NULL DEFAULT '',
  fingerprint TEXT,
  format TEXT NOT NULL,
  path TEXT NOT NULL,
  seen_at TEXT NOT NULL
);
CREATE TABLE partials (
  id INTEGER PRIMARY KEY,
  input_id INTEGER NOT NULL REFERENCES inputs(id) ON DELETE CASCADE,
  start INTEGER,
  end INTEGER,
  lines INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX partials_by_input ON partials(input_id, start);
CREATE TABLE run_lock (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL, started TEXT NOT NULL);
${RUNS_SQL}`;

const fault = parseStateFault(process.env[STATE_FAULT_ENV]);
const writes: Record<StateFaultPoint, number> = { write: 0, after: 0 };
/** Dies here when the fault switch says so (tests of crash safety only). */
function faultPoint(point: StateFaultPoint): void {
  if (fault?.point === point && ++writes[point] === fault.n) process.kill(process.pid, "SIGKILL");
}

const INPUT_COLUMNS = "id, kind, dev, ino, head_len AS headLen, head, tail_end AS tailEnd, tail_len AS tailLen, tail, fingerprint, format, path, seen_at AS seenAt";

export class StateStore {
  private locked = false;

  private constructor(
    readonly path: string,
    private readonly db: Database,
  ) {}

  /**
   * Opens the state at `path`, made empty when there is none (unless
   * `mustExist`). A file that is not a state, or a state of another schema,
   * partial or engine version, is refused with one line.
   */
  static open(path: string, options: { mustExist?: boolean } = {}): StateStore {
    const exists = existsSync(path);
    if (!exists && options.mustExist) throw new StateError(`there is no state at ${path}`);
    if (!exists && !existsSync(dirname(path) || ".")) throw new StateError(`cannot make the state ${path}: there is no folder ${dirname(path)}`);
    if (exists && !statSync(path).isFile()) throw new StateError(`cannot use ${path} as a state: not a regular file`);
    let db: Database;
    try {
      db = new Database(path, { create: true, strict: true });
      db.run("PRAGMA busy_timeout = 10000");
      // WAL: a reader (state info) never waits for a run, and a commit is one append.
      db.run("PRAGMA journal_mode = WAL");
      // In WAL mode a killed process never loses a commit; only a power cut may undo the last ones, which are then counted again.
      db.run("PRAGMA synchronous = NORMAL");
      db.run("PRAGMA foreign_keys = ON");
    } catch (err) {
      throw new StateError(`cannot open the state ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const store = new StateStore(path, db);
    try {
      store.initialise();
    } catch (err) {
      db.close();
      if (err instanceof StateError) throw err;
      throw new StateError(`cannot use ${path} as a state: ${err instanceof Error ? err.message : String(err)}`);
    }
    return store;
  }

  private initialise(): void {
    const hasMeta = this.db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== null;
    if (!hasMeta) {
      const tables = this.db.query("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
      if (tables.n > 0) throw new StateError(`cannot use ${this.path} as a state: it is an SQLite database of something else`);
      this.db.transaction(() => {
        this.db.exec(SCHEMA_SQL);
        const put = this.db.query("INSERT INTO meta (key, value) VALUES (?, ?)");
        put.run("schema", String(STATE_SCHEMA));
        put.run("partialVersion", String(PARTIAL_VERSION));
        put.run("taskVersion", String(TASK_VERSION));
        put.run("engineVersion", ENGINE_VERSION);
        put.run("createdAt", new Date().toISOString());
      }).immediate();
    }
    if (this.meta().schema === 1) {
      this.db.transaction(() => {
        this.db.exec(RUNS_SQL);
        this.db.query("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(STATE_SCHEMA));
      }).immediate();
    }
    const meta = this.meta();
    const mine = `logmr ${ENGINE_VERSION} (state schema ${STATE_SCHEMA}, partials v${PARTIAL_VERSION})`;
    const theirs = `logmr ${meta.engineVersion} (state schema ${meta.schema}, partials v${meta.partialVersion})`;
    if (meta.schema !== STATE_SCHEMA || meta.partialVersion !== PARTIAL_VERSION || meta.taskVersion !== TASK_VERSION || meta.engineVersion !== ENGINE_VERSION) {
      throw new StateError(`the state ${this.path} was written by ${theirs}, this is ${mine}: its counts are not mixed with this engine's (move it away or remove it to start again)`);
    }
  }

  meta(): Meta {
    const rows = this.db.query("SELECT key, value FROM meta").all() as Array<{ key: string; value: string }>;
    const m = new Map(rows.map((r) => [r.key, r.value]));
    const num = (k: string) => Number(m.get(k));
    return {
      schema: num("schema"),
      partialVersion: num("partialVersion"),
      taskVersion: num("taskVersion"),
      engineVersion: m.get("engineVersion") ?? "unknown",
      settings: m.get("settings"),
      createdAt: m.get("createdAt") ?? "unknown",
    };
  }

  setSettings(settings: string): void {
    this.db.query("INSERT INTO meta (key, value) VALUES ('settings', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(settings);
  }

  /**
   * Takes the state for this run: a second run on the same state at once
   * would plan the same bytes. A lock left by a run that died (its pid is
   * gone) is taken over.
   */
  lock(): void {
    const host = hostname();
    this.db.transaction(() => {
      const held = this.db.query("SELECT pid, host, started FROM run_lock WHERE id = 1").get() as { pid: number; host: string; started: string } | null;
      if (held && !(held.host === host && (held.pid === process.pid || !isRunning(held.pid)))) {
        const where = held.host === host ? `pid ${held.pid}` : `pid ${held.pid} on ${held.host}`;
        throw new StateError(`the state ${this.path} is in use by another run (${where}, since ${held.started}): wait for it to end`);
      }
      this.db.query("INSERT INTO run_lock (id, pid, host, started) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, host = excluded.host, started = excluded.started")
        .run(process.pid, host, new Date().toISOString().replace(/\.\d+Z$/, "Z"));
    }).immediate();
    this.locked = true;
  }

  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    this.db.query("DELETE FROM run_lock WHERE id = 1 AND pid = ?").run(process.pid);
  }

  close(): void {
    try {
      this.unlock();
    } finally {
      this.db.close();
    }
  }

  inputs(): StoredInput[] {
    return this.db.query(`SELECT ${INPUT_COLUMNS} FROM inputs ORDER BY id`).all() as StoredInput[];
  }

  addInput(input: Omit<StoredInput, "id" | "seenAt" | "tailEnd" | "tailLen" | "tail">): number {
    const row = this.db.query(
      "INSERT INTO inputs (kind, dev, ino, head_len, head, fingerprint, format, path, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    ).get(input.kind, input.dev, input.ino, input.headLen, input.head, input.fingerprint, input.format, input.path, new Date().toISOString()) as { id: number };
    return row.id;
  }

  /** What changed about an input: its name, its inode (a copy took it over), its kind (compressed since), its fingerprints. */
  updateInput(id: number, fields: Partial<Omit<StoredInput, "id" | "seenAt">>): void {
    const columns: Record<string, string> = { kind: "kind", dev: "dev", ino: "ino", headLen: "head_len", head: "head", tailEnd: "tail_end", tailLen: "tail_len", tail: "tail", fingerprint: "fingerprint", format: "format", path: "path" };
    const set: string[] = ["seen_at = ?"];
    const values: Array<string | number | null> = [new Date().toISOString()];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || !(k in columns)) continue;
      set.push(`${columns[k]} = ?`);
      values.push(v as string | number | null);
    }
    this.db.query(`UPDATE inputs SET ${set.join(", ")} WHERE id = ?`).run(...values, id);
  }

  /** Forgets an input and every partial of it. */
  dropInput(id: number): void {
    this.db.query("DELETE FROM inputs WHERE id = ?").run(id);
  }

  /** Forgets every input. */
  dropAll(): void {
    this.db.transaction(() => {
      this.db.run("DELETE FROM partials");
      this.db.run("DELETE FROM inputs");
      this.db.run("DELETE FROM meta WHERE key IN ('settings', 'partitions')");
    }).immediate();
  }

  partials(inputId: number): StoredPartial[] {
    return this.db.query("SELECT id, input_id AS inputId, start, end, lines, body FROM partials WHERE input_id = ? ORDER BY start, id").all(inputId) as StoredPartial[];
  }

  /** A stored partial's runs, in the order they were stored. */
  runsOf(partialId: number): StoredRun[] {
    const rows = this.db.query("SELECT id, tbl, part, rows, sums, timed FROM runs WHERE partial_id = ? ORDER BY id").all(partialId) as Array<{ id: number; tbl: string; part: number; rows: number; sums: string; timed: number | null }>;
    return rows.map((r) => ({ id: r.id, table: r.tbl, partition: r.part, rows: r.rows, sums: JSON.parse(r.sums) as number[], timed: r.timed }));
  }

  /** A run's bytes. */
  runData(runId: number): Uint8Array {
    const row = this.db.query("SELECT data FROM runs WHERE id = ?").get(runId) as { data: Uint8Array } | null;
    if (!row) throw new StateError(`the state ${this.path} lost run ${runId}`);
    return row.data;
  }

  /** The partition count of the state's runs (a run with the state spills into as many), or null before any. */
  partitions(): number | null {
    const v = (this.db.query("SELECT value FROM meta WHERE key = 'partitions'").get() as { value: string } | null)?.value;
    return v === undefined ? null : Number(v);
  }

  setPartitions(n: number): void {
    this.db.query("INSERT INTO meta (key, value) VALUES ('partitions', ?) ON CONFLICT(key) DO NOTHING").run(String(n));
  }

  /** Covered byte ranges of an input, in order, without the bodies. */
  coverage(inputId: number): Array<{ start: number | null; end: number | null }> {
    return this.db.query("SELECT start, end FROM partials WHERE input_id = ? ORDER BY start, id").all(inputId) as Array<{ start: number | null; end: number | null }>;
  }

  /**
   * Stores one validated partial, in its own transaction. Bytes already
   * covered are refused: the state never holds a line twice.
   */
  addPartial(
    inputId: number, covered: [number, number] | null, lines: number, body: string, fields: Partial<Omit<StoredInput, "id" | "seenAt">> = {},
    runs: ReadonlyArray<Omit<StoredRun, "id"> & { data: () => Uint8Array }> = [],
  ): void {
    this.db.transaction(() => {
      const clash = covered === null
        ? this.db.query("SELECT count(*) AS n FROM partials WHERE input_id = ?").get(inputId)
        : this.db.query("SELECT count(*) AS n FROM partials WHERE input_id = ? AND (start IS NULL OR (start < ? AND end > ?))").get(inputId, covered[1], covered[0]);
      if ((clash as { n: number }).n > 0) throw new StateError(`internal error: a partial of ${this.path} already covers bytes ${covered ? `${covered[0]}..${covered[1]}` : "of this file"}`);
      const { id } = this.db.query("INSERT INTO partials (input_id, start, end, lines, body) VALUES (?, ?, ?, ?, ?) RETURNING id").get(inputId, covered?.[0] ?? null, covered?.[1] ?? null, lines, body) as { id: number };
      const put = this.db.query("INSERT INTO runs (partial_id, tbl, part, rows, sums, timed, data) VALUES (?, ?, ?, ?, ?, ?, ?)");
      for (const r of runs) put.run(id, r.table, r.partition, r.rows, JSON.stringify(r.sums), r.timed, r.data());
      if (Object.keys(fields).length > 0) this.updateInput(inputId, fields);
      faultPoint("write");
    }).immediate();
    faultPoint("after");
  }

  /** Replaces every partial of an input with one (their merge), in one transaction. */
  replacePartials(inputId: number, covered: [number, number] | null, lines: number, body: string, fields: Partial<Omit<StoredInput, "id" | "seenAt">> = {}): void {
    this.db.transaction(() => {
      const { id } = this.db.query("INSERT INTO partials (input_id, start, end, lines, body) VALUES (?, ?, ?, ?, ?) RETURNING id").get(inputId, covered?.[0] ?? null, covered?.[1] ?? null, lines, body) as { id: number };
      // The merged partial's runs are those of the partials it replaces.
      this.db.query("UPDATE runs SET partial_id = ? WHERE partial_id IN (SELECT id FROM partials WHERE input_id = ? AND id != ?)").run(id, inputId, id);
      this.db.query("DELETE FROM partials WHERE input_id = ? AND id != ?").run(inputId, id);
      this.updateInput(inputId, fields);
      faultPoint("write");
    }).immediate();
    faultPoint("after");
  }

  /** Per input: partials, bytes covered, lines counted. */
  summary(): Array<StoredInput & { partials: number; bytes: number; lines: number; whole: boolean }> {
    const rows = this.db.query(
      `SELECT input_id AS id, count(*) AS partials, coalesce(sum(end - start), 0) AS bytes, sum(lines) AS lines, max(start IS NULL) AS whole FROM partials GROUP BY input_id`,
    ).all() as Array<{ id: number; partials: number; bytes: number; lines: number; whole: number }>;
    const by = new Map(rows.map((r) => [r.id, r]));
    return this.inputs().map((i) => {
      const r = by.get(i.id);
      return { ...i, partials: r?.partials ?? 0, bytes: r?.bytes ?? 0, lines: r?.lines ?? 0, whole: (r?.whole ?? 0) === 1 };
    });
  }
}
