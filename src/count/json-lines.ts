// JSON access logs (`--format json`): one object a line, as Caddy, Traefik
// and nginx's `escape=json` write them. Each field the report counts is
// found under the names those servers use; a line that is not an object, or
// lacks the client, the request or the status, is malformed like any other.

import type { Counters, TimeWindow } from "../core/task.ts";
import { NO_TIME } from "./clf.ts";
import { FormatError } from "./format.ts";
import { viewOf } from "./fast/keys.ts";
import { LineByLineCounter } from "./line-by-line.ts";
import type { Malformed, Tally } from "./tally.ts";

type Paths = ReadonlyArray<readonly string[]>;

/** Where each field is found, first match wins: a path of keys into the object. */
const NAMES = {
  client: [["request", "client_ip"], ["request", "remote_ip"], ["ClientHost"], ["remote_addr"], ["client"]],
  method: [["request", "method"], ["RequestMethod"], ["request_method"], ["method"]],
  uri: [["request", "uri"], ["RequestPath"], ["request_uri"], ["uri"], ["path"]],
  /** The request line ("GET /x HTTP/1.1", nginx's $request), read as Combined reads it when method and URI are not apart. */
  request: [["request"]],
  status: [["status"], ["DownstreamStatus"], ["OriginStatus"]],
  bytes: [["size"], ["DownstreamContentSize"], ["body_bytes_sent"], ["bytes"]],
  referer: [["request", "headers", "Referer"], ["request_Referer"], ["http_referer"], ["referer"]],
  agent: [["request", "headers", "User-Agent"], ["request_User-Agent"], ["http_user_agent"], ["user_agent"]],
  /** Seconds (Caddy `duration`, nginx `request_time`) or nanoseconds (Traefik `Duration`). */
  seconds: [["duration"], ["request_time"]],
  nanoseconds: [["Duration"]],
  host: [["request", "host"], ["RequestHost"], ["host"], ["server_name"]],
  milliseconds: [] as string[][],
  /** Epoch seconds (Caddy `ts`, nginx `msec`) or an ISO 8601 time. */
  epoch: [["ts"], ["msec"]],
  iso: [["StartUTC"], ["time_iso8601"], ["time"], ["@timestamp"]],
} satisfies Record<string, Paths>;

type FieldName = keyof typeof NAMES;

/** What `--field NAME=KEY` may name, and the NAMES entries it replaces. */
const FIELD_NAMES: Record<string, FieldName[]> = {
  client: ["client"], method: ["method"], uri: ["uri"], request: ["request"], status: ["status"], bytes: ["bytes"],
  referer: ["referer"], agent: ["agent"], host: ["host"], seconds: ["seconds", "nanoseconds", "milliseconds"],
  milliseconds: ["seconds", "nanoseconds", "milliseconds"], nanoseconds: ["seconds", "nanoseconds", "milliseconds"], time: ["epoch", "iso"],
};

/**
 * The names of a JSON format with the user's own keys: "json" alone, or
 * "json:status=code,time=ts" (what --field gives), a key's parts joined by
 * dots. Throws FormatError on a name it does not know.
 */
export function jsonFieldNames(format: string): Record<FieldName, Paths> {
  const names: Record<FieldName, Paths> = { ...NAMES };
  if (format === "json") return names;
  if (!format.startsWith("json:")) throw new FormatError(`${JSON.stringify(format)} is not a JSON format`);
  for (const pair of format.slice("json:".length).split(",")) {
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq).trim();
    const key = pair.slice(eq + 1).trim();
    const replaced = FIELD_NAMES[name];
    if (eq < 0 || !replaced || key === "" || key.split(".").some((k) => k === "")) {
      throw new FormatError(`--field ${JSON.stringify(pair)}: NAME=KEY with NAME one of ${Object.keys(FIELD_NAMES).join(", ")} and KEY a key (parts joined by dots)`);
    }
    for (const r of replaced) names[r] = [];
    const target: FieldName = name === "time" ? "epoch" : name === "seconds" || name === "milliseconds" || name === "nanoseconds" ? name : replaced[0]!;
    names[target] = [key.split(".")];
    // A user's time key may hold either kind of time.
    if (name === "time") names.iso = [key.split(".")];
  }
  return names;
}

function lookup(obj: Record<string, unknown>, paths: Paths): unknown {
  for (const path of paths) {
    let v: unknown = obj;
    for (const key of path) v = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[key] : undefined;
    // Caddy writes headers as arrays of values.
    if (Array.isArray(v)) v = v[0];
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

const asNumber = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN);

const utf8 = new TextDecoder();
const enc = new TextEncoder();

export class JsonLinesCounter extends LineByLineCounter {
  private key = new Uint8Array(1024);
  private keyView = viewOf(this.key);
  private readonly names: Record<FieldName, Paths>;

  constructor(window: TimeWindow = {}, counters: Counters = "full", format = "json") {
    super(window, counters);
    this.names = jsonFieldNames(format);
  }

  protected countLine(buf: Uint8Array, _view: DataView, s: number, e: number, offset: number): void {
    const tally = this.tally;
    const bad = (why: Malformed) => tally.countMalformed(buf, s, e, offset, why);
    if (s === e) return bad({ reason: "empty line", at: s });
    let obj: unknown;
    try {
      obj = JSON.parse(utf8.decode(buf.subarray(s, e)));
    } catch {
      return bad({ reason: "not a JSON object", at: s });
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return bad({ reason: "not a JSON object", at: s });
    const o = obj as Record<string, unknown>;
    const names = this.names;
    const client = lookup(o, names.client);
    let method = lookup(o, names.method);
    let uri = lookup(o, names.uri);
    const status = asNumber(lookup(o, names.status));
    if (typeof client !== "string" || client === "") return bad({ reason: "no client field", at: s });
    if (typeof method !== "string" || typeof uri !== "string") {
      const request = lookup(o, names.request);
      if (typeof request !== "string") return bad({ reason: "no request fields (method and URI, or the request line)", at: s });
      // As Combined counts "METHOD PATH ...": a request of one word has a method and no path.
      const space = request.indexOf(" ");
      method = space < 0 ? request : request.slice(0, space);
      uri = space < 0 ? null : request.slice(space + 1).split(" ")[0]!;
    }
    if (!Number.isInteger(status) || status < 100 || status > 999) return bad({ reason: "status is not 3 digits", at: s });
    const time = this.timeOf(o);
    if (time === NO_TIME) return bad({ reason: "invalid date", at: s });
    const size = asNumber(lookup(o, names.bytes));
    const bytes = Number.isSafeInteger(size) && size >= 0 ? size : 0;
    const referer = lookup(o, names.referer);
    const agent = lookup(o, names.agent);
    const hasTail = typeof agent === "string";
    if (hasTail) tally.combined++;
    else tally.common++;
    if (time < tally.since || time >= tally.until) {
      tally.outOfWindow++;
      return;
    }
    const host = lookup(o, names.host);
    const hostId = typeof host === "string" && host !== "" ? this.intern(tally.hosts, host) : -1;
    if (tally.filtersHosts && (hostId < 0 ? (tally.filtered++, true) : !tally.countsHost(hostId))) return;
    const clientId = this.intern(tally.clients, client);
    const requestId = this.intern(tally.requestKeys, typeof uri === "string" ? `${method} ${uri.split("?")[0]!}` : (method as string));
    const tailId = hasTail ? this.intern(tally.tails, `${typeof referer === "string" ? referer : "-"}" "${agent}`) : -1;
    const seconds = asNumber(lookup(o, names.seconds));
    const ns = asNumber(lookup(o, names.nanoseconds));
    const ms = asNumber(lookup(o, names.milliseconds));
    const duration = Number.isFinite(seconds) ? seconds : Number.isFinite(ns) ? ns / 1e9 : Number.isFinite(ms) ? ms / 1e3 : Number.NaN;
    const timed = duration >= 0 && duration < 1e12;
    if (tally.where !== null) {
      // The request as a line's bytes, for its query.
      const request = enc.encode(typeof uri === "string" ? `${method} ${uri}` : (method as string));
      if (!tally.where(status, bytes, time, timed ? duration : -1, clientId, requestId, tailId, hostId, request, 0, request.length)) {
        tally.filtered++;
        return;
      }
    }
    if (tally.by !== null) tally.by.count(status, bytes, time, timed ? duration : -1, clientId, requestId, tailId, hostId);
    tally.countRequest(time, status, bytes, clientId, requestId, tailId);
    const bucket = timed ? tally.countLatency(duration, status, requestId) : 0;
    if (hostId >= 0) tally.countHost(hostId, status, timed ? duration : -1, bucket);
  }

  /** Epoch seconds of the object's time (Caddy's `ts`, an ISO time), or NO_TIME. */
  private timeOf(o: Record<string, unknown>): number {
    const epoch = asNumber(lookup(o, this.names.epoch));
    if (Number.isFinite(epoch)) return Math.floor(epoch);
    const iso = lookup(o, this.names.iso);
    if (typeof iso !== "string") return NO_TIME;
    const ms = Date.parse(iso);
    return Number.isFinite(ms) && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(iso) ? Math.floor(ms / 1000) : NO_TIME;
  }

  /** A key as the log's UTF-8 bytes, like every other format's. */
  private intern(table: Tally["clients"], text: string): number {
    const bytes = enc.encode(text);
    if (bytes.length > this.key.length) {
      this.key = new Uint8Array(bytes.length * 2);
      this.keyView = viewOf(this.key);
    }
    this.key.set(bytes);
    return table.intern(this.key, this.keyView, 0, bytes.length);
  }
}
