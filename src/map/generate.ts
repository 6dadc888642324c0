// Deterministic generated traffic: line i is a pure function of (seed, i).
// Every random draw of a line comes from a counter-based hash of (seed, i, k),
// so any worker can produce any line range without a shared random stream.

import { DEFAULT_GENERATOR, type GeneratorSettings } from "../core/traffic.ts";
import { MONTHS } from "../core/text.ts";

export { DEFAULT_GENERATOR, DEFAULT_SEED, type GeneratorSettings } from "../core/traffic.ts";
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
/** Bytes served per status: [least, most], drawn uniformly. */
export const BYTES_RANGE: Record<number, readonly [number, number]> = {
  200: [200, 50000], 301: [150, 250], 404: [150, 600], 500: [0, 700],
};

const encoder = new TextEncoder();

/** A 32-bit integer hash (the lowbias32 finalizer): each draw of a line is one. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Draws index weighted tables with this many random bits. */
const DRAW_BITS = 12;
const DRAW_SIZE = 1 << DRAW_BITS;

/**
 * A weighted choice as a lookup table: entry j is the choice for the uniform
 * draw (j + 0.5) / 4096, so a choice costs one load instead of a search.
 * Weights are honoured to within 1/4096.
 */
function weighted(weights: ReadonlyArray<number>): Uint8Array {
  const total = weights.reduce((x, y) => x + y, 0);
  const table = new Uint8Array(DRAW_SIZE);
  const draw = (j: number) => ((j + 0.5) / DRAW_SIZE) * total;
  // Choice k takes the draws from the first at or past the weights before it
  // to the first at or past its own end: filled as runs, since a search per
  // entry cost each process about 9 ms of start-up.
  let from = 0;
  let acc = 0;
  for (let k = 0; k < weights.length - 1; k++) {
    acc += weights[k]!;
    let to = Math.max(from, Math.min(DRAW_SIZE, Math.floor((acc * DRAW_SIZE) / total)));
    while (to > from && draw(to - 1) >= acc) to--;
    while (to < DRAW_SIZE && draw(to) < acc) to++;
    table.fill(k, from, to);
    from = to;
  }
  table.fill(weights.length - 1, from);
  return table;
}

/**
 * Every fragment of text a line is made of, each padded to whole 8-byte
 * words: copying one with DataView.setFloat64 moves 8 bytes per call (the
 * padding is overwritten by what follows). Fragments are plain ASCII, so no
 * word is a NaN pattern (that needs a byte of 0xF0 or more) and no bits are
 * changed on the way. Kept as text until all are known, then laid out in one
 * array at once: encoding them one by one cost each process ~7 ms of start-up.
 */
const catalog: string[] = [];
/** Adds fragments to the catalog; their ids. */
const ids = (texts: readonly string[]) => Int32Array.from(texts, (text) => catalog.push(text) - 1);

const weightsOf = (rows: ReadonlyArray<readonly [unknown, number]>) => weighted(rows.map(([, w]) => w));
/** Texts for every (a, b) pair, so one copy writes both fields: index a * b.length + b. */
function pairs(a: readonly string[], b: readonly string[], join: (x: string, y: string) => string): string[] {
  return a.flatMap((x) => b.map((y) => join(x, y)));
}

/** Fragment 0 is the timestamp, rewritten in place by each generator's own copy of the words. */
const TIME = ids(["01/Jan/1970:00:00:00 +0000]"])[0]!;
const clientFragments = ids([...STANDARD_CLIENTS, ...SUSPICIOUS_CLIENTS].map((c) => `${c} - - [`));
// The status rows of both client groups in flat module-level arrays (row r:
// its fragment, the least bytes and the span of bytes drawn), and the row of
// each draw: STATUS_ROW[draw] for a standard client, [DRAW_SIZE + draw] for a
// suspicious one. One array each, where an object per group cost a shape
// check and a length load per field and line.
const STATUS_ROWS = [...STANDARD_STATUS, ...SUSPICIOUS_STATUS];
const STATUS_FRAGMENTS = ids(STATUS_ROWS.map(([s]) => ` HTTP/1.1" ${s} `));
const BYTES_LOW = Int32Array.from(STATUS_ROWS, ([s]) => BYTES_RANGE[s]![0]);
// Spans below 65,536, so (16-bit draw) * span fits 32 bits and Math.imul is
// exact; bytes below 100,000,000, so the line writer's numbers have at most 8
// digits (query values stay below 10,000).
const BYTES_SPAN = Int32Array.from(STATUS_ROWS, ([s]) => {
  const [low, high] = BYTES_RANGE[s]!;
  const span = high - low + 1;
  if (!(low >= 0 && high < 100_000_000 && span >= 1 && span < 65536)) throw new Error(`bytes range of status ${s} (${low} to ${high}) is not 0 <= low <= high < 100,000,000 with at most 65,535 values`);
  return span;
});
const STATUS_ROW = new Uint8Array(2 * DRAW_SIZE);
STATUS_ROW.set(weightsOf(STANDARD_STATUS));
STATUS_ROW.set(weightsOf(SUSPICIOUS_STATUS).map((k) => k + STANDARD_STATUS.length), DRAW_SIZE);
const methodTable = weightsOf(METHODS);
const pathTable = weightsOf(PATHS);
const scannerPathTable = weightsOf(SCANNER_PATHS);
const methodNames = METHODS.map(([m]) => m);
const requests = ids(pairs(methodNames, PATHS.map(([p]) => p), (m, p) => ` "${m} ${p}`));
const scannerRequests = ids(pairs(methodNames, SCANNER_PATHS.map(([p]) => p), (m, p) => ` "${m} ${p}`));
const searchWords = ids(SEARCH_WORDS);
const referrerTable = weightsOf(REFERRERS);
const agentTable = weightsOf(AGENTS);
const scannerAgentTable = weightsOf(SCANNER_AGENTS);
const referrerNames = REFERRERS.map(([r]) => r);
const refererAgents = ids(pairs(referrerNames, AGENTS.map(([a]) => a), (r, a) => ` "${r}" "${a}"\n`));
const scannerRefererAgents = ids(pairs(referrerNames, SCANNER_AGENTS.map(([a]) => a), (r, a) => ` "${r}" "${a}"\n`));
const pathHasQuery = Uint8Array.from(PATHS, ([p]) => (p.endsWith("=") ? 1 : 0));
const searchPath = PATHS.findIndex(([p]) => p.startsWith("/search"));

// Every fragment's words in one array, so the line writer is a single copy
// loop (one call site for the JIT to compile, not one inlined loop per field).
const fragmentStart = new Int32Array(catalog.length);
const fragmentEnd = new Int32Array(catalog.length);
const fragmentBytes = new Int32Array(catalog.length);
const WORDS = (() => {
  let words = 0;
  for (const text of catalog) words += Math.ceil(text.length / 8);
  const bytes = new Uint8Array(words * 8);
  let at = 0;
  catalog.forEach((text, k) => {
    fragmentStart[k] = at >> 3;
    fragmentBytes[k] = text.length;
    for (let c = 0; c < text.length; c++) {
      const code = text.charCodeAt(c);
      if (code > 0x7f) throw new Error(`fragment ${JSON.stringify(text)} is not plain ASCII`);
      bytes[at + c] = code;
    }
    at += Math.ceil(text.length / 8) * 8;
    fragmentEnd[k] = at >> 3;
  });
  return new Float64Array(bytes.buffer);
})();
/** "0000" to "9999" as int32 words whose little-endian bytes are the ASCII digits. */
const FOUR_DIGITS = (() => {
  const words = new Int32Array(10000);
  for (let a = 0; a < 10; a++)
    for (let b = 0; b < 10; b++)
      for (let c = 0; c < 10; c++) {
        const head = (48 + a) | ((48 + b) << 8) | ((48 + c) << 16);
        const at = a * 1000 + b * 100 + c * 10;
        for (let d = 0; d < 10; d++) words[at + d] = head | ((48 + d) << 24);
      }
  return words;
})();

// One line's segments (fragment ids, or NUMBER for the next of NUMBERS):
// scratch for fill(), which runs to the end before any other call can. At
// module level, their addresses and lengths are constants to the compiler.
const SEGMENTS = new Int32Array(8);
const NUMBERS = new Float64Array(2);

/** A segment that is a number (written in decimal) rather than a fragment. */
const NUMBER = -1;

const U32 = 4294967296;

const SUSPICIOUS_BELOW = Math.round(SUSPICIOUS_SHARE * 65536);
/**
 * The client of each 16-bit draw u: a load instead of a division per line.
 * Client c takes the draws with floor(u * n / width) = c within its group,
 * filled as runs (a loop over all 65,536 draws costs milliseconds of start-up).
 */
const clientTable = (() => {
  const table = new Uint8Array(65536);
  const fillGroup = (first: number, n: number, from: number, width: number) => {
    for (let c = 0; c < n; c++) table.fill(first + c, from + Math.ceil((c * width) / n), from + Math.ceil(((c + 1) * width) / n));
  };
  fillGroup(STANDARD_CLIENTS.length, SUSPICIOUS_CLIENTS.length, 0, SUSPICIOUS_BELOW);
  fillGroup(0, STANDARD_CLIENTS.length, SUSPICIOUS_BELOW, 65536 - SUSPICIOUS_BELOW);
  return table;
})();

/**
 * Writes generated lines into byte buffers. Holds only caches (the rendered
 * timestamp of the current second); the bytes depend on (seed, i) alone.
 */
export class LineGenerator {
  private readonly seedHash: number;
  // "dd/Mon/yyyy:HH:MM:SS +0000]" (27 bytes) in place: a new second only
  // rewrites the seconds digits; the whole text is rendered once a minute.
  private readonly words = WORDS.slice();
  private readonly timeText = new Uint8Array(this.words.buffer, fragmentStart[TIME]! * 8, fragmentBytes[TIME]!);
  // An int from the start (with a flag for "nothing rendered yet"): a NaN
  // here made each new generator's first line leave the optimised code.
  private timeSecond = 0;
  private timeRendered = false;
  private viewed: Uint8Array = new Uint8Array(0);
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
    const text = this.timeText;
    const ss = (text[18]! - 48) * 10 + (text[19]! - 48);
    if (second === this.timeSecond + 1 && ss < 59 && this.timeRendered) {
      const next = ss + 1;
      text[18] = 48 + ((next / 10) | 0);
      text[19] = 48 + (next % 10);
    } else {
      renderFullTime(text, second);
    }
    this.timeSecond = second;
    this.timeRendered = true;
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
    // The high half of i changes every 2^32 lines: stop there and mix it once.
    const high = Math.floor(from / U32);
    if (to > (high + 1) * U32) to = (high + 1) * U32;
    const highMix = Math.imul(high, 0x9e3779b9);
    // The line that starts the next second, so the second is a compare, not a division.
    // floor(from / linesPerSecond) as an exact division: a fractional
    // quotient, on the first task that does not start on a whole second,
    // threw the optimised fill out and had it compiled again (about 5 ms a
    // worker).
    let second = startEpoch + (from - (from % linesPerSecond)) / linesPerSecond;
    let nextSecondAt = (second - startEpoch + 1) * linesPerSecond;
    if (!this.timeRendered) this.renderTime(second);
    const nPaths = PATHS.length;
    const nScannerPaths = SCANNER_PATHS.length;
    const nAgents = AGENTS.length;
    const nScannerAgents = SCANNER_AGENTS.length;
    const words = this.words;
    const segments = SEGMENTS;
    const numbers = NUMBERS;
    let pos = 0;
    let i = from;
    while (i < to && pos <= limit) {
      // Four hashes of (seed, i) give eight 16-bit draws.
      const base = mix32(seedHash ^ mix32(((i >>> 0) ^ highMix) >>> 0));
      const h1 = mix32(base ^ 0x68e31da4);
      const h2 = mix32(base ^ 0xb5297a4d);
      const h3 = mix32(base ^ 0x1b56c4e9);
      const h4 = mix32(base ^ 0x3c6ef372);

      const uClient = h1 & 0xffff;
      const suspicious = uClient < SUSPICIOUS_BELOW;
      if (i === nextSecondAt) {
        second++;
        nextSecondAt += linesPerSecond;
      }
      if (second !== this.timeSecond) this.renderTime(second);
      segments[0] = clientFragments[clientTable[uClient]!]!;
      segments[1] = TIME;
      let n = 2;
      let q = 0;

      const method = methodTable[h2 & 0xfff]!;
      const uExtra = h3 >>> 16;
      // A suspicious client scans for admin pages most of the time.
      if (suspicious && uExtra < SCANNER_PATH_SHARE * 65536) {
        segments[n++] = scannerRequests[method * nScannerPaths + scannerPathTable[(h2 >>> 12) & 0xfff]!]!;
      } else {
        const path = pathTable[(h2 >>> 12) & 0xfff]!;
        segments[n++] = requests[method * nPaths + path]!;
        if (pathHasQuery[path]) {
          if (path === searchPath) {
            segments[n++] = searchWords[uExtra % searchWords.length]!;
          } else {
            segments[n++] = NUMBER;
            numbers[q++] = 1 + (uExtra % 9999);
          }
        }
      }

      const row = STATUS_ROW[(suspicious ? DRAW_SIZE : 0) + (h1 >>> 20)]!;
      segments[n++] = STATUS_FRAGMENTS[row]!;
      segments[n++] = NUMBER;
      numbers[q] = BYTES_LOW[row]! + (Math.imul(h3 & 0xffff, BYTES_SPAN[row]!) >>> 16);

      const referrer = referrerTable[h4 & 0xfff]!;
      segments[n++] = suspicious
        ? scannerRefererAgents[referrer * nScannerAgents + scannerAgentTable[(h4 >>> 12) & 0xfff]!]!
        : refererAgents[referrer * nAgents + agentTable[(h4 >>> 12) & 0xfff]!]!;

      // Fragments are whole 8-byte words (the padding is overwritten by what follows).
      q = 0;
      for (let k = 0; k < n; k++) {
        const f = segments[k]!;
        if (f === NUMBER) {
          // A number below 100,000,000 in decimal, written here rather than by
          // a call per number (the JIT did not inline one): its length by
          // comparisons, then its digits as one or two words of FOUR_DIGITS
          // (the bytes past its end are overwritten by the fragment that
          // follows, like a fragment's padding): half the work of two digits
          // a division from the end.
          const v = numbers[q++]! | 0;
          if (v >= 10000) {
            const high = (v / 10000) | 0;
            const digits = high < 100 ? (high < 10 ? 1 : 2) : high < 1000 ? 3 : 4;
            view.setInt32(pos, FOUR_DIGITS[high]! >>> ((4 - digits) << 3), true);
            pos += digits;
            view.setInt32(pos, FOUR_DIGITS[v - high * 10000]!, true);
            pos += 4;
          } else {
            const digits = v < 100 ? (v < 10 ? 1 : 2) : v < 1000 ? 3 : 4;
            view.setInt32(pos, FOUR_DIGITS[v]! >>> ((4 - digits) << 3), true);
            pos += digits;
          }
          continue;
        }
        const end = fragmentEnd[f]!;
        let at = pos;
        // `| 0`: a plain `+=` is checked for overflow at every word;
        // positions stay far below 2^31.
        for (let w = fragmentStart[f]!; w < end; w++) {
          view.setFloat64(at, words[w]!, true);
          at = (at + 8) | 0;
        }
        pos = (pos + fragmentBytes[f]!) | 0;
      }
      i++;
    }
    this.next = i;
    return pos;
  }
}

/**
 * The whole "dd/Mon/yyyy:HH:MM:SS +0000]" of a second into `text`. Apart
 * from renderTime, which runs every second of generated time: compiled into
 * it, this once-a-minute path made its optimised compile five times longer.
 */
function renderFullTime(text: Uint8Array, second: number): void {
  const d = new Date(second * 1000);
  const full = `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000]`;
  text.set(encoder.encode(full));
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
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
