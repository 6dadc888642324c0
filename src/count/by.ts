// --by FIELD: every counted line also counted in its group (its status class,
// method, route, client, host, hour, day...): requests, bytes, status
// classes, distinct clients and response times a group, all exact and
// mergeable. Only a run with --by pays for it: counters call it after a
// line passed the filters.

import { bucketOf, KeyedSketches } from "../core/sketch-counting.ts";
import { isoTime, monthIndexOf, monthStart, WEEK_OFFSET_SECONDS } from "../core/calendar.ts";
import type { GroupRow, GroupsPartial } from "../core/partial.ts";
import type { PathGrouper } from "./path-groups.ts";
import { fieldText, type WhereKeys } from "./where.ts";

export { BY_FIELDS, type ByField, KEY_ORDER_FIELDS, TIME_FIELDS } from "./by-fields.ts";
import type { ByField } from "./by-fields.ts";

/** A time's bucket as [start, end) in epoch seconds, and its key. */
function timeBucket(field: ByField, time: number): [number, number, string] {
  if (field === "month") {
    const month = monthIndexOf(time);
    return [monthStart(month), monthStart(month + 1), isoTime(monthStart(month)).slice(0, 7)];
  }
  const width = field === "hour" ? 3600 : field === "day" ? 86400 : 7 * 86400;
  const offset = field === "week" ? WEEK_OFFSET_SECONDS : 0;
  const start = Math.floor((time - offset) / width) * width + offset;
  return [start, start + width, field === "hour" ? isoTime(start) : isoTime(start).slice(0, 10)];
}

/** The groups of one task. */
export class GroupCounter {
  private readonly ids = new Map<string, number>();
  private readonly keys: string[] = [];
  private requests = new Float64Array(64);
  private bytes = new Float64Array(64);
  private classes = new Float64Array(64 * 6);
  private readonly clientSets: Array<Set<number>> = [];
  private readonly latency = new KeyedSketches();
  /** The group of each key id of the field's table (-1: not looked up yet). */
  private groupOfId = new Int32Array(64).fill(-1);
  private timeStart = 0;
  private timeEnd = 0;
  private timeGroup = -1;

  constructor(
    readonly field: ByField,
    private readonly keyTexts: WhereKeys,
    private readonly grouper: () => PathGrouper,
  ) {}

  /** Counts a line that is counted: its fields as the counters have them (ids -1 when absent; seconds -1 without a time). */
  count(status: number, bytes: number, time: number, seconds: number, client: number, request: number, tail: number, host: number): void {
    const g = this.groupOf(status, time, client, request, tail, host);
    if (g >= this.requests.length) this.grow(g);
    this.requests[g]!++;
    this.bytes[g]! += bytes;
    const c = (status / 100) | 0;
    this.classes[g * 6 + (c >= 1 && c <= 5 ? c - 1 : 5)]!++;
    if (this.field !== "client") this.clientSets[g]!.add(client);
    if (seconds >= 0) this.latency.addIn(g, seconds, Math.round(seconds * 1e6), seconds > 0 ? bucketOf(seconds) : 0);
  }

  private groupOf(status: number, time: number, client: number, request: number, tail: number, host: number): number {
    const field = this.field;
    switch (field) {
      case "status":
        return this.byId(status);
      case "class":
        return this.byId((status / 100) | 0);
      case "client":
        return this.byId(client);
      case "method":
      case "path":
        return request < 0 ? this.group("") : this.byId(request);
      case "referer":
      case "agent":
        return tail < 0 ? this.group("") : this.byId(tail);
      case "vhost":
        return host < 0 ? this.group("") : this.byId(host);
      default: {
        if (time >= this.timeStart && time < this.timeEnd) return this.timeGroup;
        const [start, end, key] = timeBucket(field, time);
        [this.timeStart, this.timeEnd, this.timeGroup] = [start, end, this.group(key)];
        return this.timeGroup;
      }
    }
  }

  private requestText(field: "method" | "path", request: number): string {
    const text = fieldText(field, this.keyTexts.request(request));
    if (field !== "path") return text;
    const grouper = this.grouper();
    return grouper.groups ? grouper.route(text) : text;
  }

  /** The group of an id (a key id of the field's table, or a status code or class), looked up once an id. */
  private byId(id: number): number {
    const g = id < this.groupOfId.length ? this.groupOfId[id]! : -1;
    return g >= 0 ? g : this.newId(id);
  }

  private newId(id: number): number {
    if (id >= this.groupOfId.length) {
      const bigger = new Int32Array(Math.max(id + 1, this.groupOfId.length * 2)).fill(-1);
      bigger.set(this.groupOfId);
      this.groupOfId = bigger;
    }
    return (this.groupOfId[id] = this.group(this.textOf(id)));
  }

  private textOf(id: number): string {
    const field = this.field;
    switch (field) {
      case "status":
        return String(id).padStart(3, "0");
      case "class":
        return `${id}xx`;
      case "client":
        return this.keyTexts.client(id);
      case "method":
      case "path":
        return this.requestText(field, id);
      case "referer":
      case "agent":
        return fieldText(field, this.keyTexts.tail(id));
      default:
        return this.keyTexts.host(id);
    }
  }

  private group(key: string): number {
    let g = this.ids.get(key);
    if (g === undefined) {
      g = this.keys.length;
      this.ids.set(key, g);
      this.keys.push(key);
      this.clientSets.push(new Set());
    }
    return g;
  }

  private grow(g: number): void {
    const size = Math.max(g + 1, this.requests.length * 2);
    const grown = (a: Float64Array, width: number) => {
      const b = new Float64Array(size * width);
      b.set(a);
      return b;
    };
    this.requests = grown(this.requests, 1);
    this.bytes = grown(this.bytes, 1);
    this.classes = grown(this.classes, 6);
  }

  /** The groups with a request, by key; `clientIndex` maps a client id to its index in the partial's clients. */
  toPartial(clientIndex: (id: number) => number): GroupsPartial {
    const sketches = this.latency.toData();
    const rows: GroupRow[] = [];
    for (let g = 0; g < this.keys.length; g++) {
      if (this.requests[g]! === 0) continue;
      const c = this.classes.subarray(g * 6, g * 6 + 6);
      rows.push({
        key: this.keys[g]!,
        requests: this.requests[g]!,
        bytes: this.bytes[g]!,
        classes: [c[0]!, c[1]!, c[2]!, c[3]!, c[4]!, c[5]!],
        clients: this.field === "client" ? null : [...this.clientSets[g]!].map(clientIndex).sort((a, b) => a - b),
        latency: sketches.get(g) ?? null,
      });
    }
    rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { field: this.field, rows };
  }
}
