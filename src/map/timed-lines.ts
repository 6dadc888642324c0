// Generated lines as nginx writes them with `$request_time
// $upstream_response_time` appended (`generate --format nginx-timed`): the
// Combined lines of the generator, each followed by two times that are a
// pure function of (seed, line number, the line's path and status), so the
// same file can be made on any machine.

import { LF, QUOTE, SPACE } from "../core/text.ts";
import { FORMAT_PRESETS } from "../count/format-names.ts";
import { mix32 } from "./generate.ts";

/** The nginx log_format the timed lines are written in (the preset nginx-timed). */
export const NGINX_TIMED_FORMAT = FORMAT_PRESETS["nginx-timed"]!;

/** What `generate --format` writes. */
export const GENERATED_FORMATS = ["combined", "nginx-timed"] as const;
export type GeneratedFormat = (typeof GENERATED_FORMATS)[number];

/** Bytes the times add to a line, at most: " 9.999, 9.999 : 9.999" is shorter. */
export const MAX_TIMING_BYTES = 40;

const SLASH = 47;

/**
 * The median response time in milliseconds of a request, by what it asks
 * for: static files are served from disk (no upstream), the API is slow,
 * errors slower, the scanner's probes fast.
 */
function profileOf(line: Uint8Array, s: number, e: number): { medianMs: number; upstream: boolean; status: number } {
  // The request starts after '] "'; the status follows 'HTTP/1.1" '.
  let p = s;
  while (p < e && line[p] !== QUOTE) p++;
  let q = p + 1;
  while (q < e && line[q] !== SPACE) q++;
  const pathStart = q + 1;
  let r = pathStart;
  while (r < e && line[r] !== QUOTE) r++;
  const status = (line[r + 2]! - 48) * 100 + (line[r + 3]! - 48) * 10 + (line[r + 4]! - 48);
  const second = line[pathStart + 1];
  // "/static/..." and "/images/...": 's' and 'i' after the slash, then a second slash.
  const isStatic = (second === 115 && line[pathStart + 2] === 116 && line[pathStart + 7] === SLASH) || (second === 105 && line[pathStart + 7] === SLASH);
  const isApi = second === 97 && line[pathStart + 2] === 112 && line[pathStart + 3] === 105;
  if (status >= 500) return { medianMs: 900, upstream: true, status };
  if (isStatic) return { medianMs: 1, upstream: false, status };
  if (status === 404) return { medianMs: 3, upstream: true, status };
  return { medianMs: isApi ? 80 : 20, upstream: true, status };
}

/** Milliseconds as nginx writes seconds: "0.042". */
function writeSeconds(out: Uint8Array, at: number, ms: number): number {
  const whole = Math.floor(ms / 1000);
  const frac = ms - whole * 1000;
  const text = `${whole}.${frac < 10 ? "00" : frac < 100 ? "0" : ""}${frac}`;
  for (let k = 0; k < text.length; k++) out[at + k] = text.charCodeAt(k);
  return at + text.length;
}

/**
 * Copies the whole generated lines src[0, n), the first of them line number
 * `first`, into `out` with the times appended; returns the bytes written
 * (out must hold n + lines * MAX_TIMING_BYTES).
 */
export function appendTimings(src: Uint8Array, n: number, first: number, seed: number, out: Uint8Array): number {
  const seedHash = mix32(mix32(seed >>> 0) ^ 0x5bd1e995);
  let w = 0;
  let i = first;
  for (let s = 0; s < n; ) {
    const lf = src.indexOf(LF, s);
    const e = lf < 0 || lf >= n ? n : lf;
    out.set(src.subarray(s, e), w);
    w += e - s;
    const { medianMs, upstream, status } = profileOf(src, s, e);
    const h1 = mix32(seedHash ^ mix32((i >>> 0) ^ Math.imul(Math.floor(i / 4294967296), 0x9e3779b9)));
    const h2 = mix32(h1 ^ 0x68e31da4);
    // A log-normal spread around the median (sum of three uniforms for the normal draw).
    const z = ((h1 & 0xffff) + (h1 >>> 16) + (h2 & 0xffff)) / 65536 - 1.5;
    const ms = Math.min(59_999, Math.round(medianMs * Math.exp(z * 1.6)));
    out[w++] = SPACE;
    w = writeSeconds(out, w, ms);
    out[w++] = SPACE;
    if (!upstream) {
      out[w++] = 45;
    } else {
      const up = Math.max(0, ms - ((h2 >>> 16) % 3));
      // A failed first upstream now and then: nginx lists both tries.
      if (status >= 500 && (h2 >>> 28) === 0) {
        const firstTry = Math.floor(up / 3);
        w = writeSeconds(out, w, firstTry);
        out.set([44, SPACE], w);
        w = writeSeconds(out, w + 2, up - firstTry);
      } else {
        w = writeSeconds(out, w, up);
      }
    }
    if (lf < 0 || lf >= n) break;
    out[w++] = LF;
    s = lf + 1;
    i++;
  }
  return w;
}
