// Generated lines with as many distinct keys as a busy public site has
// (`generate --cardinality high`): the client of line i is an address made
// from i (every line its own client) and its path /item/ and i / 2 (a
// distinct path every two lines), the rest of the line as generated. A pure
// function of the line number, so any machine makes the same file: the input
// of the memory-budget measurements.

import { LF, QUOTE, SPACE } from "../core/text.ts";

/** What `generate --cardinality` makes. */
export const CARDINALITIES = ["normal", "high"] as const;
export type Cardinality = (typeof CARDINALITIES)[number];

/** Bytes a line can grow by: "255.255.255.255" for "192.168.1.1", "/item/" and 16 digits for a path. */
export const MAX_HIGH_CARDINALITY_GROWTH = 40;

/** The client of line i: i's bytes as an IPv4 address, 10.0.0.0 upwards (past 2^24 lines into 11.x and on). */
export function clientOf(i: number): string {
  return `${10 + Math.floor(i / 2 ** 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

/** The path of line i: one for every two lines. */
export function pathOf(i: number): string {
  return `/item/${Math.floor(i / 2)}`;
}

function put(out: Uint8Array, at: number, text: string): number {
  for (let k = 0; k < text.length; k++) out[at + k] = text.charCodeAt(k);
  return at + text.length;
}

/**
 * Copies the whole generated lines src[0, n), the first of them line number
 * `first`, into `out` with each line's client and path replaced; returns
 * the bytes written (out must hold n + lines * MAX_HIGH_CARDINALITY_GROWTH).
 */
export function withHighCardinality(src: Uint8Array, n: number, first: number, out: Uint8Array): number {
  let w = 0;
  let i = first;
  for (let s = 0; s < n; i++) {
    let e = s;
    while (e < n && src[e] !== LF) e++;
    // client SP ident SP user SP [time] SP "METHOD SP path SP HTTP/1.1" ...
    let p = s;
    while (src[p] !== SPACE) p++;
    w = put(out, w, clientOf(i));
    let q = p;
    while (src[q] !== QUOTE) q++;
    while (src[q] !== SPACE) q++;
    out.set(src.subarray(p, q + 1), w);
    w += q + 1 - p;
    w = put(out, w, pathOf(i));
    let r = q + 1;
    while (src[r] !== SPACE && src[r] !== QUOTE) r++;
    out.set(src.subarray(r, e + 1), w);
    w += e + 1 - r;
    s = e + 1;
  }
  return w;
}
