// The fields --by splits by, apart from the grouping itself (which the
// parent never runs): checking the flag and ordering the report need only these.

export const BY_FIELDS = ["status", "class", "method", "path", "client", "referer", "agent", "vhost", "hour", "day", "week", "month"] as const;
export type ByField = (typeof BY_FIELDS)[number];
/** Fields whose groups are times. */
export const TIME_FIELDS: ReadonlySet<string> = new Set(["hour", "day", "week", "month"]);
/** Fields reported whole and in key order (times, codes, classes); the others as a top list by requests. */
export const KEY_ORDER_FIELDS: ReadonlySet<string> = new Set([...TIME_FIELDS, "status", "class"]);
