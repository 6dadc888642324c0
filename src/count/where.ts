// --where: a small language over a line's fields, parsed and checked once
// (in the parent, and again in each worker from the task's text), compiled
// into a predicate over what the counters already have: numbers (status,
// bytes, time, response time) and key ids (client, request, tail, host),
// with each comparison on a key remembered per id, so a filter costs a table
// read a line, not a string.

import { epochOfTimeText } from "../core/text.ts";

export type WhereNode =
  | { op: "or" | "and"; args: WhereNode[] }
  | { op: "not"; arg: WhereNode }
  | { op: "cmp"; field: Field; cmp: "=" | "!=" | "<" | "<=" | ">" | ">="; value: number | string }
  | { op: "in"; field: Field; values: Array<number | string> }
  | { op: "match"; field: Field; regex: string; negate: boolean };

/** What a field holds: a number (status, bytes), a point in time, a duration in seconds, or text. */
type FieldType = "int" | "size" | "time" | "duration" | "class" | "text" | "address";

const FIELDS = {
  status: "int", class: "class", bytes: "size", time: "time", request_time: "duration",
  method: "text", path: "text", query: "text", client: "address", referer: "text", agent: "text", vhost: "text",
} as const satisfies Record<string, FieldType>;
export type Field = keyof typeof FIELDS;
const ALIASES: Record<string, Field> = { host: "vhost", duration: "request_time", latency: "request_time", ip: "client", referrer: "referer", user_agent: "agent" };

/** A --where expression that cannot be read: the message names the column (1-based). */
export class WhereError extends Error {
  constructor(message: string, readonly column: number) {
    super(`--where: column ${column}: ${message}`);
  }
}

interface Token {
  kind: "word" | "string" | "op" | "(" | ")" | ",";
  text: string;
  at: number;
}

const OPS = ["!=", "!~", "<=", ">=", "=", "<", ">", "~"];

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let k = 0;
  while (k < text.length) {
    const c = text[k]!;
    if (/\s/.test(c)) {
      k++;
      continue;
    }
    const at = k + 1;
    if (c === "(" || c === ")" || c === ",") {
      out.push({ kind: c, text: c, at });
      k++;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, k));
    if (op) {
      out.push({ kind: "op", text: op, at });
      k += op.length;
      continue;
    }
    if (c === "'" || c === '"') {
      let value = "";
      let j = k + 1;
      for (; j < text.length && text[j] !== c; j++) {
        if (text[j] === "\\" && j + 1 < text.length) j++;
        value += text[j];
      }
      if (j >= text.length) throw new WhereError(`the string opened here has no closing ${c}`, at);
      out.push({ kind: "string", text: value, at });
      k = j + 1;
      continue;
    }
    let j = k;
    while (j < text.length && !/[\s(),=!<>~'"]/.test(text[j]!)) j++;
    out.push({ kind: "word", text: text.slice(k, j), at });
    k = j;
  }
  return out;
}

/** Parses and type-checks an expression; `has` says which format fields the inputs provide (vhost, request_time). */
export function parseWhere(text: string, has: { vhost: boolean; request_time: boolean } = { vhost: true, request_time: true }): WhereNode {
  const tokens = tokenize(text);
  let k = 0;
  const end = text.length + 1;
  const peek = () => tokens[k];
  const atOf = () => peek()?.at ?? end;
  const isWord = (w: string) => peek()?.kind === "word" && peek()!.text.toLowerCase() === w;
  const expect = (kind: Token["kind"], what: string) => {
    const t = peek();
    if (!t || t.kind !== kind) throw new WhereError(`expected ${what}, got ${t ? `'${t.text}'` : "the end"}`, atOf());
    k++;
    return t;
  };

  const or = (): WhereNode => {
    const args = [and()];
    while (isWord("or")) {
      k++;
      args.push(and());
    }
    return args.length === 1 ? args[0]! : { op: "or", args };
  };
  const and = (): WhereNode => {
    const args = [unary()];
    while (isWord("and")) {
      k++;
      args.push(unary());
    }
    return args.length === 1 ? args[0]! : { op: "and", args };
  };
  const unary = (): WhereNode => {
    if (isWord("not")) {
      k++;
      return { op: "not", arg: unary() };
    }
    if (peek()?.kind === "(") {
      k++;
      const inner = or();
      expect(")", "')'");
      return inner;
    }
    return comparison();
  };
  const comparison = (): WhereNode => {
    const name = expect("word", "a field name");
    const field = (ALIASES[name.text.toLowerCase()] ?? name.text.toLowerCase()) as Field;
    if (!(field in FIELDS)) throw new WhereError(`unknown field '${name.text}' (fields: ${Object.keys(FIELDS).join(", ")})`, name.at);
    if ((field === "vhost" || field === "request_time") && !has[field]) {
      throw new WhereError(`the log's format has no ${field === "vhost" ? "virtual host" : "response time"} for '${name.text}'`, name.at);
    }
    const type: FieldType = FIELDS[field];
    let negate = false;
    if (isWord("not")) {
      negate = true;
      k++;
      if (!isWord("in")) throw new WhereError("expected 'in' after 'not'", atOf());
    }
    if (isWord("in")) {
      k++;
      const values: Array<number | string> = [];
      // A client's networks may come without parentheses: client in 10.0.0.0/8
      const parens = peek()?.kind === "(";
      if (parens) k++;
      for (;;) {
        values.push(literal(type, field, "="));
        if (peek()?.kind !== ",") break;
        k++;
      }
      if (parens) expect(")", "')' after the list");
      const node: WhereNode = { op: "in", field, values };
      return negate ? { op: "not", arg: node } : node;
    }
    const op = expect("op", `an operator (= != < <= > >= ~ !~ in) after '${name.text}'`);
    if (op.text === "~" || op.text === "!~") {
      if (type !== "text" && type !== "address" && type !== "class") throw new WhereError(`'${op.text}' matches text; ${field} is a number`, op.at);
      const t = peek();
      if (!t || (t.kind !== "string" && t.kind !== "word")) throw new WhereError("expected a regular expression", atOf());
      k++;
      try {
        new RegExp(t.text);
      } catch (err) {
        throw new WhereError(`bad regular expression: ${(err as Error).message}`, t.at);
      }
      return { op: "match", field, regex: t.text, negate: op.text === "!~" };
    }
    const cmp = op.text as "=" | "!=" | "<" | "<=" | ">" | ">=";
    if ((type === "text" || type === "address" || type === "class") && cmp !== "=" && cmp !== "!=") {
      throw new WhereError(`'${cmp}' compares numbers; ${field} is text (use = != ~ !~ in)`, op.at);
    }
    if (type === "time" && (cmp === "=" || cmp === "!=")) throw new WhereError("compare times with < <= > >=", op.at);
    return { op: "cmp", field, cmp, value: literal(type, field, cmp) };
  };
  const literal = (type: FieldType, field: Field, cmp: string): number | string => {
    const t = peek();
    if (!t || (t.kind !== "word" && t.kind !== "string")) throw new WhereError(`expected a value for ${field}`, atOf());
    k++;
    const bad = (what: string) => new WhereError(`'${t.text}' is not ${what}`, t.at);
    switch (type) {
      case "int": {
        if (!/^\d{3}$/.test(t.text)) throw bad("a status (3 digits)");
        return Number(t.text);
      }
      case "class": {
        const m = /^([1-9])(?:xx)?$/i.exec(t.text);
        if (!m) throw bad("a status class (2xx, 5xx)");
        return `${m[1]}xx`;
      }
      case "size": {
        const m = /^(\d+(?:\.\d+)?)([kmg]i?b?|b)?$/i.exec(t.text);
        if (!m) throw bad("a size (512, 10k, 1M, 2G)");
        const unit = (m[2] ?? "").toLowerCase()[0];
        return Math.round(Number(m[1]) * (unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1));
      }
      case "duration": {
        const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s|m)?$/i.exec(t.text);
        if (!m) throw bad("a duration (250ms, 1.5s, 200us)");
        const unit = (m[2] ?? "s").toLowerCase();
        return Number(m[1]) * (unit === "us" || unit === "µs" ? 1e-6 : unit === "ms" ? 1e-3 : unit === "m" ? 60 : 1);
      }
      case "time": {
        const epoch = epochOfTimeText(t.text);
        if (epoch === null) throw bad("a date and time (2026-11-27T10:00:00Z)");
        return epoch;
      }
      case "address": {
        if (cmp === "=" && t.text.includes("/") && !networkOf(t.text)) throw bad("an address or network (10.0.0.0/8)");
        if (t.text.includes("/") && !networkOf(t.text)) throw bad("a network (10.0.0.0/8, 2001:db8::/32)");
        return t.text;
      }
      default:
        return t.text;
    }
  };

  if (tokens.length === 0) throw new WhereError("the expression is empty", 1);
  const tree = or();
  if (k < tokens.length) throw new WhereError(`unexpected '${tokens[k]!.text}' (join conditions with and, or)`, tokens[k]!.at);
  return tree;
}

// ------------------------------------------------------------------ addresses

/** An address as 16 bytes (IPv4 as ::ffff:a.b.c.d), or null when the text is none. */
export function addressBytes(text: string): Uint8Array | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return null;
    return new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...parts]);
  }
  let t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  t = t.replace(/%.*$/, "");
  if (!/^[0-9a-f:.]+$/i.test(t) || !t.includes(":")) return null;
  let tail: number[] = [];
  const dotted = /(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(t);
  if (dotted) {
    const four = addressBytes(dotted[1]!);
    if (!four) return null;
    tail = [...four.subarray(12)];
    t = `${t.slice(0, -dotted[1]!.length)}0:0`;
  }
  const halves = t.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0 || (halves.length === 2 && missing < 1)) return null;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 255;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** A network "a.b.c.d/n" or "v6/n" (or one address: /32, /128) as bytes and prefix bits, or null. */
export function networkOf(text: string): { bytes: Uint8Array; bits: number } | null {
  const slash = text.lastIndexOf("/");
  const base = slash < 0 ? text : text.slice(0, slash);
  const bytes = addressBytes(base);
  if (!bytes) return null;
  const v4 = !base.includes(":");
  const max = v4 ? 32 : 128;
  const n = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(n) || n < 0 || n > max || (slash >= 0 && !/^\d+$/.test(text.slice(slash + 1)))) return null;
  return { bytes, bits: v4 ? n + 96 : n };
}

function inNetwork(address: Uint8Array, net: { bytes: Uint8Array; bits: number }): boolean {
  let bits = net.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 255 : (255 << (8 - bits)) & 255;
    if ((address[i]! & mask) !== (net.bytes[i]! & mask)) return false;
  }
  return true;
}

// ------------------------------------------------------------------ compiling

/** What a predicate is asked about a line: the counters' numbers and key ids, and the request's bytes for its query. */
export interface WhereLine {
  status: number;
  bytes: number;
  time: number;
  /** Response time in seconds, or -1 when the line has none. */
  seconds: number;
  client: number;
  request: number;
  tail: number;
  host: number;
  /** The request line's bytes (for its query, read only when the expression asks for it). */
  buf: Uint8Array;
  requestStart: number;
  requestEnd: number;
}

/** A fresh WhereLine for a counter to fill a line at a time. */
export function whereLine(): WhereLine {
  return { status: 0, bytes: 0, time: 0, seconds: -1, client: -1, request: -1, tail: -1, host: -1, buf: new Uint8Array(0), requestStart: 0, requestEnd: 0 };
}

const latin1 = new TextDecoder("latin1");

/** The query of the line's request: after the path's '?', up to the next space; "" without one. */
function queryText(l: WhereLine): string {
  const { buf, requestEnd } = l;
  let p = l.requestStart;
  while (p < requestEnd && buf[p] !== 32) p++;
  p++;
  while (p < requestEnd && buf[p] !== 32 && buf[p] !== 63) p++;
  if (p >= requestEnd || buf[p] !== 63) return "";
  const start = ++p;
  while (p < requestEnd && buf[p] !== 32) p++;
  return latin1.decode(buf.subarray(start, p));
}

/** Key texts by id, as the tally holds them (the predicate asks once per id and remembers). */
export interface WhereKeys {
  client(id: number): string;
  /** "METHOD PATH" (or the method alone). */
  request(id: number): string;
  /** 'referer" "agent'. */
  tail(id: number): string;
  host(id: number): string;
}

export type WherePredicate = (line: WhereLine) => boolean;

type KeyKind = "client" | "request" | "tail" | "host";
const KEY_OF: Partial<Record<Field, KeyKind>> = { client: "client", method: "request", path: "request", referer: "tail", agent: "tail", vhost: "host" };

/** The text of a keyed field out of its key's text. */
function fieldText(field: Field, key: string): string {
  if (field === "method" || field === "path") {
    const space = key.indexOf(" ");
    if (field === "method") return space < 0 ? key : key.slice(0, space);
    return space < 0 ? "" : key.slice(space + 1);
  }
  if (field === "referer" || field === "agent") {
    // The referer runs to its closing quote, escapes allowed.
    let k = 0;
    for (; k < key.length && key[k] !== '"'; k++) if (key[k] === "\\") k++;
    return field === "referer" ? key.slice(0, k) : key.slice(k + 3);
  }
  return key;
}

/** A test of one field's text (or address), built once. */
function textTest(node: Extract<WhereNode, { op: "cmp" | "in" | "match" }>): (text: string) => boolean {
  if (node.op === "match") {
    const re = new RegExp(node.regex);
    return node.negate ? (t) => !re.test(t) : (t) => re.test(t);
  }
  const values = node.op === "in" ? node.values : [node.value];
  if (node.field === "client") {
    const nets = values.map((v) => networkOf(String(v)));
    const test = (t: string) => {
      const a = addressBytes(t);
      return values.some((v, i) => (a && nets[i] ? inNetwork(a, nets[i]!) : t === v));
    };
    return node.op === "cmp" && node.cmp === "!=" ? (t) => !test(t) : test;
  }
  const set = new Set(values.map(String));
  return node.op === "cmp" && node.cmp === "!=" ? (t) => !set.has(t) : (t) => set.has(t);
}

function numberTest(cmp: string, value: number): (v: number) => boolean {
  switch (cmp) {
    case "=": return (v) => v === value;
    case "!=": return (v) => v !== value;
    case "<": return (v) => v < value;
    case "<=": return (v) => v <= value;
    case ">": return (v) => v > value;
    default: return (v) => v >= value;
  }
}

/**
 * The predicate of a tree. A comparison on a keyed field is answered once a
 * key id and remembered (1 yes, 2 no) in a table that grows with the ids.
 */
export function compileWhere(tree: WhereNode, keys: WhereKeys): WherePredicate {
  const build = (node: WhereNode): WherePredicate => {
    switch (node.op) {
      case "or": {
        const parts = node.args.map(build);
        return (l) => parts.some((p) => p(l));
      }
      case "and": {
        const parts = node.args.map(build);
        return (l) => parts.every((p) => p(l));
      }
      case "not": {
        const inner = build(node.arg);
        return (l) => !inner(l);
      }
      default:
        return atom(node);
    }
  };
  const atom = (node: Extract<WhereNode, { op: "cmp" | "in" | "match" }>): WherePredicate => {
    const field = node.field;
    if (field === "status" || field === "bytes" || field === "time" || field === "request_time") {
      const pick = field === "status" ? (l: WhereLine) => l.status : field === "bytes" ? (l: WhereLine) => l.bytes : field === "time" ? (l: WhereLine) => l.time : (l: WhereLine) => l.seconds;
      const values = node.op === "in" ? node.values.map(Number) : [];
      const test = node.op === "cmp" ? numberTest(node.cmp, node.value as number) : (v: number) => values.includes(v);
      // A line without a response time matches no comparison of one.
      if (field === "request_time") return (l) => l.seconds >= 0 && test(l.seconds);
      return (l) => test(pick(l));
    }
    if (field === "class") {
      const test = textTest(node);
      return (l) => test(`${(l.status / 100) | 0}xx`);
    }
    const test = textTest(node);
    if (field === "query") return (l) => test(queryText(l));
    const kind = KEY_OF[field]!;
    let seen = new Uint8Array(256);
    return (l) => {
      const id = l[kind];
      if (id < 0) return test("");
      if (id >= seen.length) {
        const bigger = new Uint8Array(Math.max(id + 1, seen.length * 2));
        bigger.set(seen);
        seen = bigger;
      }
      let v = seen[id]!;
      if (v === 0) seen[id] = v = test(fieldText(field, keys[kind](id))) ? 1 : 2;
      return v === 1;
    };
  };
  return build(tree);
}

/** Whether a tree asks for a field (so the parent can tell a format that lacks it). */
export function whereUses(tree: WhereNode, field: Field): boolean {
  if ("args" in tree) return tree.args.some((a) => whereUses(a, field));
  if ("arg" in tree) return whereUses(tree.arg, field);
  return tree.field === field;
}
