// An independent reference for the tests: the fixture rules written as one
// regular expression over binary strings (one char per byte), counting with
// plain Maps. Slow and simple on purpose; it shares no code with src/.

const NS = "[^ \\t\\n\\v\\f\\r]+";
const QUOTED = '"((?:[^"\\\\]|\\\\[\\s\\S])*)"';
const LINE = new RegExp(
  `^(${NS}) ${NS} ${NS} \\[(\\d{2})/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(\\d{4}):(\\d{2}):(\\d{2}):(\\d{2}) ([+-])(\\d{2})(\\d{2})\\] ${QUOTED} (\\d{3}) (\\d{1,15}|-)(?: ${QUOTED} ${QUOTED})?$`,
);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export interface OracleCounts {
  read: number;
  valid: number;
  malformed: number;
  malformedLines: number[];
  combined: number;
  common: number;
  bytes: number;
  clients: Map<string, number>;
  status: Map<string, number>;
  methods: Map<string, number>;
  paths: Map<string, number>;
  notFoundPaths: Map<string, number>;
  referrers: Map<string, number>;
  agents: Map<string, number>;
  notFoundByClient: Map<string, number>;
  minutes: Map<number, number>;
  /** Minutes with 4xx (5xx) responses: how many. */
  minutes4xx: Map<number, number>;
  minutes5xx: Map<number, number>;
}

function bump<K>(m: Map<K, number>, k: K, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

/** Bytes as a binary string (one char per byte). */
export function binary(bytes: Uint8Array): string {
  let s = "";
  for (let k = 0; k < bytes.length; k += 4096) s += String.fromCharCode(...bytes.subarray(k, k + 4096));
  return s;
}

/** One valid line's fields (binary strings); path without its query, undefined for a request without one. */
export interface OracleLine {
  client: string;
  time: number;
  method: string;
  path?: string;
  status: string;
  bytes: number;
  referer?: string;
  agent?: string;
}

/** A line (without its LF) by the fixture rules, or null when malformed. */
export function oracleLine(raw: string): OracleLine | null {
  const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  const m = LINE.exec(line);
  if (!m) return null;
  const day = Number(m[2]);
  const month = MONTHS.indexOf(m[3]!);
  const year = Number(m[4]);
  // setUTCFullYear, since Date.UTC maps the years 0..99 to 1900..1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  // A real date, a real clock time (60 allows a leap second), and a zone offset
  // of at most 23:59 (the fixture rules say only "+zzzz"; +3100 is no zone).
  const valid = date.getUTCDate() === day && Number(m[5]) < 24 && Number(m[6]) < 60 && Number(m[7]) <= 60 && Number(m[9]) < 24 && Number(m[10]) < 60;
  if (!valid) return null;
  const offset = (m[8] === "-" ? -1 : 1) * (Number(m[9]) * 3600 + Number(m[10]) * 60);
  const tokens = m[11]!.split(" ");
  return {
    client: m[1]!,
    time: date.getTime() / 1000 + Number(m[5]) * 3600 + Number(m[6]) * 60 + Number(m[7]) - offset,
    method: tokens[0]!,
    ...(tokens.length >= 2 ? { path: tokens[1]!.split("?")[0]! } : {}),
    status: m[12]!,
    bytes: m[13] === "-" ? 0 : Number(m[13]),
    ...(m[14] !== undefined ? { referer: m[14], agent: m[15]! } : {}),
  };
}

/**
 * The engine's default path folds (--group-path), written as replacements
 * over the whole path: a segment right after a "/" that is all digits, a
 * UUID, or 16+ hex digits with a digit in them.
 */
export function oracleRoute(path: string): string {
  const seg = (re: string) => new RegExp(`(?<=/)${re}(?=/|$)`, "g");
  return path
    .replace(seg("[0-9]+"), ":id")
    .replace(seg("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), ":uuid")
    .replace(seg("(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{16,}"), ":hash");
}

/** Counts a whole log (binary string) the slow, obvious way; paths folded as the engine does by default unless `paths` is "raw". */
export function oracleCount(text: string, window: { since?: number; until?: number } = {}, paths: "routes" | "raw" = "routes"): OracleCounts {
  const c: OracleCounts = {
    read: 0, valid: 0, malformed: 0, malformedLines: [], combined: 0, common: 0, bytes: 0,
    clients: new Map(), status: new Map(), methods: new Map(), paths: new Map(), notFoundPaths: new Map(),
    referrers: new Map(), agents: new Map(), notFoundByClient: new Map(), minutes: new Map(), minutes4xx: new Map(), minutes5xx: new Map(),
  };
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((raw, k) => {
    c.read++;
    const line = oracleLine(raw);
    if (!line) {
      c.malformed++;
      c.malformedLines.push(k + 1);
      return;
    }
    c.valid++;
    if (line.referer !== undefined) c.combined++;
    else c.common++;
    const t = line.time;
    if ((window.since !== undefined && t < window.since) || (window.until !== undefined && t >= window.until)) return;
    const { client, status } = line;
    bump(c.clients, client);
    bump(c.status, status);
    c.bytes += line.bytes;
    bump(c.methods, line.method);
    if (line.path !== undefined) {
      const path = paths === "raw" ? line.path : oracleRoute(line.path);
      bump(c.paths, path);
      if (status === "404") bump(c.notFoundPaths, path);
    }
    if (status === "404") bump(c.notFoundByClient, client);
    if (line.referer !== undefined) {
      bump(c.referrers, line.referer);
      bump(c.agents, line.agent!);
    }
    bump(c.minutes, Math.floor(t / 60));
    if (status.startsWith("4")) bump(c.minutes4xx, Math.floor(t / 60));
    if (status.startsWith("5")) bump(c.minutes5xx, Math.floor(t / 60));
  });
  return c;
}

/** Rows of [key, count] as a Map (for comparing with the engine's output). */
export function toMap<K>(rows: ReadonlyArray<readonly [K, number, ...number[]]>): Map<K, number> {
  return new Map(rows.map((r) => [r[0], r[1]]));
}

export function sorted<K>(m: Map<K, number>): Array<[K, number]> {
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
