// JSON access logs (`--format json`): one object a line, as Caddy, Traefik
// and nginx's `escape=json` write them. Each field the report counts is
// found under the names those servers use; a line that is not an object, or
// lacks the client, the request or the status, is malformed like any other.

import { NO_TIME } from "./clf.ts";
import { viewOf } from "./fast/keys.ts";
import { LineByLineCounter } from "./line-by-line.ts";
import type { Malformed, Tally } from "./tally.ts";

/** Where each field is found, first match wins: a path of keys into the object. */
const NAMES = {
  client: [["request", "client_ip"], ["request", "remote_ip"], ["ClientHost"], ["remote_addr"], ["client"]],
  method: [["request", "method"], ["RequestMethod"], ["request_method"], ["method"]],
  uri: [["request", "uri"], ["RequestPath"], ["request_uri"], ["uri"], ["path"]],
  status: [["status"], ["DownstreamStatus"], ["OriginStatus"]],
  bytes: [["size"], ["DownstreamContentSize"], ["body_bytes_sent"], ["bytes"]],
  referer: [["request", "headers", "Referer"], ["request_Referer"], ["http_referer"], ["referer"]],
  agent: [["request", "headers", "User-Agent"], ["request_User-Agent"], ["http_user_agent"], ["user_agent"]],
  /** Seconds (Caddy `duration`, nginx `request_time`) or nanoseconds (Traefik `Duration`). */
  seconds: [["duration"], ["request_time"]],
  nanoseconds: [["Duration"]],
  host: [["request", "host"], ["RequestHost"], ["host"], ["server_name"]],
  /** Epoch seconds (Caddy `ts`, nginx `msec`) or an ISO 8601 time. */
  epoch: [["ts"], ["msec"]],
  iso: [["StartUTC"], ["time_iso8601"], ["time"], ["@timestamp"]],
} as const;

function lookup(obj: Record<string, unknown>, paths: ReadonlyArray<readonly string[]>): unknown {
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
    const client = lookup(o, NAMES.client);
    const method = lookup(o, NAMES.method);
    const uri = lookup(o, NAMES.uri);
    const status = asNumber(lookup(o, NAMES.status));
    if (typeof client !== "string" || client === "") return bad({ reason: "no client field", at: s });
    if (typeof method !== "string" || typeof uri !== "string") return bad({ reason: "no request fields (method and URI)", at: s });
    if (!Number.isInteger(status) || status < 100 || status > 999) return bad({ reason: "status is not 3 digits", at: s });
    const time = this.timeOf(o);
    if (time === NO_TIME) return bad({ reason: "invalid date", at: s });
    const size = asNumber(lookup(o, NAMES.bytes));
    const bytes = Number.isSafeInteger(size) && size >= 0 ? size : 0;
    const referer = lookup(o, NAMES.referer);
    const agent = lookup(o, NAMES.agent);
    const hasTail = typeof agent === "string";
    if (hasTail) tally.combined++;
    else tally.common++;
    if (time < tally.since || time >= tally.until) {
      tally.outOfWindow++;
      return;
    }
    const path = uri.split("?")[0]!;
    const clientId = this.intern(tally.clients, client);
    const requestId = this.intern(tally.requestKeys, `${method} ${path}`);
    const tailId = hasTail ? this.intern(tally.tails, `${typeof referer === "string" ? referer : "-"}" "${agent}`) : -1;
    tally.countRequest(time, status, bytes, clientId, requestId, tailId);
    const seconds = asNumber(lookup(o, NAMES.seconds));
    const ns = asNumber(lookup(o, NAMES.nanoseconds));
    const duration = Number.isFinite(seconds) ? seconds : Number.isFinite(ns) ? ns / 1e9 : Number.NaN;
    const timed = duration >= 0 && duration < 1e12;
    const bucket = timed ? tally.countLatency(duration, status, requestId) : 0;
    const host = lookup(o, NAMES.host);
    if (typeof host === "string" && host !== "") tally.countHost(this.intern(tally.hosts, host), status, timed ? duration : -1, bucket);
  }

  /** Epoch seconds of the object's time (Caddy's `ts`, an ISO time), or NO_TIME. */
  private timeOf(o: Record<string, unknown>): number {
    const epoch = asNumber(lookup(o, NAMES.epoch));
    if (Number.isFinite(epoch)) return Math.floor(epoch);
    const iso = lookup(o, NAMES.iso);
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
