// Deterministic generated traffic: line i is a pure function of (seed, i).
// Every random draw of a line comes from a counter-based hash of (seed, i, k),
// so any worker can produce any line range without a shared random stream.

export interface GeneratorSettings {
  /** Timestamp of line 0, in epoch seconds (UTC). */
  startEpoch: number;
  /** How many consecutive lines share one timestamp second. */
  linesPerSecond: number;
}

export const DEFAULT_SEED = 20261127;
export const DEFAULT_GENERATOR: GeneratorSettings = {
  startEpoch: Date.UTC(2026, 10, 27, 0, 0, 0) / 1000,
  linesPerSecond: 50,
};
/** Longest line the generator can write, newline included. */
export const MAX_GENERATED_LINE = 512;

export const STANDARD_CLIENTS = Array.from({ length: 49 }, (_, k) => `192.168.1.${k + 1}`);
export const SUSPICIOUS_CLIENTS = ["203.0.113.7", "203.0.113.42", "203.0.113.199"];
/** Share of all lines sent by the suspicious clients together. */
export const SUSPICIOUS_SHARE = 0.15;

/** [status, weight] for the standard and the suspicious clients. */
export const STANDARD_STATUS: ReadonlyArray<readonly [number, number]> = [[200, 70], [301, 5], [404, 15], [500, 10]];
export const SUSPICIOUS_STATUS: ReadonlyArray<readonly [number, number]> = [[200, 10], [404, 60], [500, 30]];
const METHODS: ReadonlyArray<readonly [string, number]> = [["GET", 80], ["POST", 12], ["HEAD", 4], ["PUT", 2], ["DELETE", 2]];
// A trailing "=" marks a path that gets a random query value appended.
const PATHS: ReadonlyArray<readonly [string, number]> = [
  ["/", 14], ["/index.html", 8], ["/login", 6], ["/logout", 3], ["/api/orders?id=", 12], ["/api/users?id=", 8],
  ["/static/css/main.css", 12], ["/static/js/app.js", 12], ["/images/logo.png", 10], ["/search?q=", 8],
  ["/about", 4], ["/contact", 3],
];
const SCANNER_PATHS: ReadonlyArray<readonly [string, number]> = [
  ["/wp-login.php", 30], ["/admin", 20], ["/.env", 20], ["/phpmyadmin/index.php", 15], ["/cgi-bin/luci", 15],
];
const SCANNER_PATH_SHARE = 0.7;
const SEARCH_WORDS = ["shoes", "bags", "red+dress", "gift", "sale"];
const REFERRERS: ReadonlyArray<readonly [string, number]> = [
  ["-", 50], ["https://www.google.com/", 20], ["https://example.com/", 15], ["https://example.com/shop?ref=mail", 15],
];
const AGENTS: ReadonlyArray<readonly [string, number]> = [
  ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", 35],
  ["Mozilla/5.0 (Macintosh; Intel Mac OS X 13_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15", 20],
  ["Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", 20],
  ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 10],
  ["curl/8.4.0", 8],
  ["python-requests/2.31.0", 7],
];
const SCANNER_AGENTS: ReadonlyArray<readonly [string, number]> = [
  ["sqlmap/1.7.2#stable (https://sqlmap.org)", 40], ["Mozilla/5.0 zgrab/0.x", 40], ["python-requests/2.31.0", 20],
];
const BYTES_RANGE: Record<number, readonly [number, number]> = {
  200: [200, 50000], 301: [150, 250], 404: [150, 600], 500: [0, 700],
};

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const encoder = new TextEncoder();

function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A weighted table: choose(u) maps a uniform u in [0, 1) to an index. */
class Weighted {
  readonly cumulative: Float64Array;
  constructor(weights: ReadonlyArray<number>) {
    const total = weights.reduce((a, b) => a + b, 0);
    this.cumulative = new Float64Array(weights.length);
    let acc = 0;
    weights.forEach((w, k) => {
      acc += w;
      this.cumulative[k] = acc / total;
    });
    this.cumulative[weights.length - 1] = 1;
  }
  choose(u: number): number {
    const c = this.cumulative;
    let k = 0;
    while (u >= c[k]!) k++;
    return k;
  }
}

interface Catalog {
  bytes: Fragment[];
  table: Weighted;
}
/**
 * Pre-encoded text padded to whole 8-byte words: copying it with
 * DataView.setFloat64 moves 8 bytes per call (the padding is overwritten by
 * what follows). ASCII text is never a NaN pattern, so no bits are changed.
 */
interface Fragment {
  words: Float64Array;
  length: number;
}
function fragment(text: string): Fragment {
  const bytes = encoder.encode(text);
  const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
  padded.set(bytes);
  const words = new Float64Array(padded.buffer);
  if (words.some(Number.isNaN)) throw new Error(`fragment ${JSON.stringify(text)} is not plain ASCII`);
  return { words, length: bytes.length };
}

function catalog(entries: ReadonlyArray<readonly [string, number]>, wrap: (s: string) => string): Catalog {
  return { bytes: entries.map(([s]) => fragment(wrap(s))), table: new Weighted(entries.map(([, w]) => w)) };
}

const clientBytes = [...STANDARD_CLIENTS, ...SUSPICIOUS_CLIENTS].map((c) => fragment(`${c} - - [`));
const statusCatalog = (rows: ReadonlyArray<readonly [number, number]>) => ({
  bytesLow: Float64Array.from(rows, ([s]) => BYTES_RANGE[s]![0]),
  bytesSpan: Float64Array.from(rows, ([s]) => BYTES_RANGE[s]![1] - BYTES_RANGE[s]![0] + 1),
  bytes: rows.map(([s]) => fragment(` HTTP/1.1" ${s} `)),
  table: new Weighted(rows.map(([, w]) => w)),
});
const standardStatus = statusCatalog(STANDARD_STATUS);
const suspiciousStatus = statusCatalog(SUSPICIOUS_STATUS);
const methods = catalog(METHODS, (m) => ` "${m} `);
const paths = catalog(PATHS, (p) => p);
const scannerPaths = catalog(SCANNER_PATHS, (p) => p);
const searchWords = SEARCH_WORDS.map((w) => fragment(w));
const referrers = catalog(REFERRERS, (r) => ` "${r}" "`);
const agents = catalog(AGENTS, (a) => `${a}"\n`);
const scannerAgents = catalog(SCANNER_AGENTS, (a) => `${a}"\n`);
const pathHasQuery = PATHS.map(([p]) => p.endsWith("="));
const searchPath = PATHS.findIndex(([p]) => p.startsWith("/search"));

const U32 = 4294967296;

/**
 * Writes generated lines into byte buffers. Holds only caches (the rendered
 * timestamp of the current second); the bytes depend on (seed, i) alone.
 */
export class LineGenerator {
  private readonly seedHash: number;
  private time = fragment("");
  private timeSecond = Number.NaN;
  private viewed: Uint8Array | null = null;
  private view: DataView = new DataView(new ArrayBuffer(0));
  /** First line not yet written by the last fill(). */
  next = 0;

  constructor(
    readonly seed: number,
    readonly settings: GeneratorSettings = DEFAULT_GENERATOR,
  ) {
    this.seedHash = mix32(mix32(seed >>> 0) ^ Math.floor(seed / U32));
  }

  private renderTime(second: number): void {
    this.timeSecond = second;
    const d = new Date(second * 1000);
    const text = `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000]`;
    this.time = fragment(text);
  }

  /**
   * Writes lines from, from+1, ... (stopping before `to` or when `buf` is full)
   * and returns the number of bytes written; `next` is the first line not written.
   */
  fill(buf: Uint8Array, from: number, to: number): number {
    if (buf !== this.viewed) {
      this.viewed = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const view = this.view;
    const limit = buf.length - MAX_GENERATED_LINE;
    const { startEpoch, linesPerSecond } = this.settings;
    const seedHash = this.seedHash;
    const nStandard = STANDARD_CLIENTS.length;
    const nSuspicious = SUSPICIOUS_CLIENTS.length;
    let pos = 0;
    let i = from;
    while (i < to && pos <= limit) {
      const base = mix32(seedHash ^ mix32(((i >>> 0) ^ Math.imul(Math.floor(i / U32), 0x9e3779b9)) >>> 0));
      const uClient = mix32(base ^ 0x68e31da4) / U32;
      const uStatus = mix32(base ^ 0xb5297a4d) / U32;
      const uMethod = mix32(base ^ 0x1b56c4e9) / U32;
      const uPath = mix32(base ^ 0x3c6ef372) / U32;
      const uBytes = mix32(base ^ 0xa54ff53a) / U32;
      const uExtra = mix32(base ^ 0x510e527f) / U32;

      const suspicious = uClient < SUSPICIOUS_SHARE;
      const client = suspicious
        ? nStandard + Math.floor((uClient / SUSPICIOUS_SHARE) * nSuspicious)
        : Math.floor(((uClient - SUSPICIOUS_SHARE) / (1 - SUSPICIOUS_SHARE)) * nStandard);
      pos = put(view, pos, clientBytes[client]!);

      const second = startEpoch + Math.floor(i / linesPerSecond);
      if (second !== this.timeSecond) this.renderTime(second);
      pos = put(view, pos, this.time);

      pos = put(view, pos, methods.bytes[methods.table.choose(uMethod)]!);
      // A suspicious client scans for admin pages most of the time.
      if (suspicious && uExtra < SCANNER_PATH_SHARE) {
        pos = put(view, pos, scannerPaths.bytes[scannerPaths.table.choose(uPath)]!);
      } else {
        const p = paths.table.choose(uPath);
        pos = put(view, pos, paths.bytes[p]!);
        if (pathHasQuery[p]) {
          if (p === searchPath) pos = put(view, pos, searchWords[Math.floor(uExtra * searchWords.length)]!);
          else pos = writeInt(buf, pos, 1 + Math.floor(uExtra * 9999));
        }
      }

      const statusTable = suspicious ? suspiciousStatus : standardStatus;
      const s = statusTable.table.choose(uStatus);
      pos = put(view, pos, statusTable.bytes[s]!);
      pos = writeInt(buf, pos, statusTable.bytesLow[s]! + Math.floor(uBytes * statusTable.bytesSpan[s]!));

      // The low bits of uExtra were used above; the referrer and agent take fresh draws.
      const uRef = mix32(base ^ 0x9b05688c) / U32;
      pos = put(view, pos, referrers.bytes[referrers.table.choose(uRef)]!);
      const agentTable = suspicious ? scannerAgents : agents;
      pos = put(view, pos, agentTable.bytes[agentTable.table.choose(mix32(base ^ 0x1f83d9ab) / U32)]!);
      i++;
    }
    this.next = i;
    return pos;
  }
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

function put(view: DataView, pos: number, f: Fragment): number {
  const words = f.words;
  for (let k = 0; k < words.length; k++) view.setFloat64(pos + k * 8, words[k]!, true);
  return pos + f.length;
}

function writeInt(buf: Uint8Array, pos: number, value: number): number {
  let digits = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
  let end = pos + digits;
  let v = value;
  do {
    buf[--end] = 48 + (v % 10);
    v = Math.floor(v / 10);
  } while (v > 0);
  return pos + digits;
}

/** The text of lines [from, to) (for tests, `generate --out` and small inputs). */
export function generateText(seed: number, from: number, to: number, settings = DEFAULT_GENERATOR): string {
  const gen = new LineGenerator(seed, settings);
  const buf = new Uint8Array(1 << 16);
  const decoder = new TextDecoder();
  let out = "";
  for (let i = from; i < to; i = gen.next) out += decoder.decode(buf.subarray(0, gen.fill(buf, i, to)));
  return out;
}
