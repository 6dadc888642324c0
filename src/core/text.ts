// Byte values and names that log text is read and written with, in every stage.

export const LF = 10;
export const CR = 13;
export const SPACE = 32;
export const QUOTE = 34;
export const BACKSLASH = 92;
export const QUESTION = 63;

/** Month names as Common Log Format writes them. */
export const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * A point in time as epoch seconds: ISO 8601 ("2026-11-27", "2026-11-27T10:00",
 * "2026-11-27 10:00:00+01:00"; UTC when no offset) or the log's own
 * "27/Nov/2026:10:00:00 +0000"; null when the text is neither or no real date.
 */
export function epochOfTimeText(text: string): number | null {
  const t = text.trim();
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(t);
  const clf = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?: ([+-]\d{4}))?$/.exec(t);
  let fields: number[] | null = null;
  let zone = "Z";
  if (iso) {
    fields = [iso[1], iso[2], iso[3], iso[4] ?? "0", iso[5] ?? "0", iso[6] ?? "0"].map(Number);
    zone = iso[7] ?? "Z";
  } else if (clf) {
    fields = [clf[3], String(MONTHS.indexOf(clf[2]!) + 1), clf[1], clf[4], clf[5], clf[6]].map(Number);
    zone = clf[7] ?? "Z";
  }
  if (!fields) return null;
  const [y, mo, d, h, mi, s] = fields as [number, number, number, number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  let offset = 0;
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (z) {
    if (Number(z[2]) > 23 || Number(z[3]) > 59) return null;
    offset = (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 3600 + Number(z[3]) * 60);
  }
  return day.getTime() / 1000 + h * 3600 + mi * 60 + s - offset;
}
