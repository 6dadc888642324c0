// Response times as servers write them, read from the bytes without making
// a string: every parser of a timed format reads them here, so the same
// bytes give the same double (and so the same sketch bucket) on any path.

const SPACE = 32;
const COMMA = 44;
const COLON = 58;
const DOT = 46;

/** How a duration field is written. */
export type DurationKind = "duration" | "duration-us" | "upstream";

/** At most this many digits before and after the point. */
const MAX_WHOLE_DIGITS = 12;
/** Digits whose integer is exact in a double: beyond, the text is read by Number(). */
const EXACT_DIGITS = 15;
const MAX_FRACTION_DIGITS = 9;
const POWERS = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/**
 * Seconds in buf[s, e): decimal seconds ("0.042", $request_time, %T),
 * integer microseconds ("42000", %D), or nginx's list of upstream times
 * ("0.010, 0.020 : 0.005", summed as nginx documents); -1 for "-" or
 * anything else that is not a time.
 */
export function parseSeconds(buf: Uint8Array, s: number, e: number, kind: DurationKind): number {
  if (kind === "duration-us") {
    if (s === e || e - s > 15) return -1;
    let v = 0;
    for (let p = s; p < e; p++) {
      const d = buf[p]! - 48;
      if (d < 0 || d > 9) return -1;
      v = v * 10 + d;
    }
    return v / 1e6;
  }
  let total = 0;
  let p = s;
  for (;;) {
    // One decimal number: digits, then maybe a point and digits.
    const wholeStart = p;
    let scaled = 0;
    while (p < e && buf[p]! >= 48 && buf[p]! <= 57) scaled = scaled * 10 + (buf[p++]! - 48);
    if (p === wholeStart || p - wholeStart > MAX_WHOLE_DIGITS) return -1;
    let places = 0;
    if (p < e && buf[p] === DOT) {
      const fractionStart = ++p;
      while (p < e && buf[p]! >= 48 && buf[p]! <= 57) scaled = scaled * 10 + (buf[p++]! - 48);
      places = p - fractionStart;
      if (places === 0 || places > MAX_FRACTION_DIGITS) return -1;
    }
    // One division of exact integers: the double nearest the decimal, as Number() reads it.
    if (p - wholeStart - (places > 0 ? 1 : 0) > EXACT_DIGITS) total += numberOfText(buf, wholeStart, p);
    else total += places === 0 ? scaled : scaled / POWERS[places]!;
    if (p === e) return total;
    if (kind !== "upstream") return -1;
    // ", " between tries of one upstream group, " : " between groups (spaces optional).
    while (p < e && buf[p] === SPACE) p++;
    if (p === e || (buf[p] !== COMMA && buf[p] !== COLON)) return -1;
    p++;
    while (p < e && buf[p] === SPACE) p++;
  }
}

/** A decimal too long for an exact integer, as Number() reads it (apart: the spread would make parseSeconds slow to compile). */
function numberOfText(buf: Uint8Array, s: number, e: number): number {
  return Number(String.fromCharCode(...buf.subarray(s, e)));
}
