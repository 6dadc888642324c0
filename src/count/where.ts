// --where: a small language over a line's fields, parsed and checked once
// (in the parent, and again in each worker from the task's text), compiled
// into a predicate over what the counters already have: numbers (status,
// bytes, time, response time) and key ids (client, request, tail, host),
// with each comparison on a key remembered per id, so a filter costs a table
// read a line, not a string.

import { epochOfTimeText } from "../core/text.ts";
import { LogmrError } from "../core/errors.ts";

/**
 * JavaScriptCore stops a match that backtracks for about a second and answers
 * "no match": a line that matches would be counted as filtered out. A test
 * that takes this long fails the task instead (the same line would again).
 */
export const SLOW_MATCH_MS = 250;

export class WhereTooSlowError extends LogmrError {}

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
      // A backslash escapes only the quote itself: others stay, so a regex keeps its \. and \d.
      for (; j < text.length && text[j] !== c; j++) {
        if (text[j] === "\\" && text[j + 1] === c) j++;
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

/**
 * A group holding a repetition, itself repeated: the shape of most regexes
 * that backtrack exponentially ((a+)+, (\\w*)*, (a{2,})+); overlapping
 * alternatives under a repetition are the other (overlappingAlternation).
 * JavaScript's engine backtracks, and a worker stuck in one would only be
 * stopped by the task timeout, so such a regex is refused when parsed.
 */
const NESTED_REPETITION = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)/;

/**
 * Whether a repeated group's alternatives may start alike ((a|aa)*,
 * (\\w|\\d)+): each alternative of a repeated group must start with its own
 * literal character, as in (GET|POST)+, or the regex is refused.
 */
export function overlappingAlternation(regex: string): boolean {
  const starts: number[] = [];
  for (let k = 0; k < regex.length; k++) {
    const c = regex[k];
    if (c === "\\") k++;
    else if (c === "[") k = endOfClass(regex, k);
    else if (c === "(") starts.push(k);
    else if (c === ")") {
      const start = starts.pop();
      if (start === undefined) continue;
      const next = regex.slice(k + 1);
      if (!/^(?:[+*]|\{\d*,|\{(?:[2-9]|\d{2,})\})/.test(next)) continue;
      let body = regex.slice(start + 1, k);
      if (/^\?<?[=!]/.test(body)) continue;
      body = body.replace(/^\?(?::|<[A-Za-z_]\w*>)/, "");
      const alternatives = topLevelAlternatives(body);
      if (alternatives.length < 2) continue;
      const firsts = alternatives.map(firstLiteral);
      if (firsts.some((f) => f === null) || new Set(firsts).size < firsts.length) return true;
    }
  }
  return false;
}

/** The index of the "]" that ends the character class opened at `open` (a "]" right after "[" or "[^" is literal). */
function endOfClass(regex: string, open: number): number {
  let k = open + 1;
  if (regex[k] === "^") k++;
  if (regex[k] === "]") k++;
  while (k < regex.length && regex[k] !== "]") if (regex[k++] === "\\") k++;
  return k;
}

function topLevelAlternatives(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let from = 0;
  for (let k = 0; k < body.length; k++) {
    const c = body[k];
    if (c === "\\") k++;
    else if (c === "[") k = endOfClass(body, k);
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) {
      out.push(body.slice(from, k));
      from = k + 1;
    }
  }
  out.push(body.slice(from));
  return out;
}

/** An alternative's first character when it is a literal one (an escaped punctuation mark counts), else null. */
function firstLiteral(alternative: string): string | null {
  const c = alternative[0];
  if (c === undefined) return null;
  if (c === "\\") {
    const e = alternative[1];
    return e !== undefined && /[^A-Za-z0-9]/.test(e) ? e : null;
  }
  if ("()[].^$|?*+{".includes(c)) return null;
  // A first character made optional or repeated does not tell the alternative apart.
  if (/^[?*{]/.test(alternative.slice(1))) return null;
  return c;
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
      if (NESTED_REPETITION.test(t.text)) {
        throw new WhereError("the regular expression repeats a group that itself repeats (like (a+)+): a backtracking engine can take exponential time on one line; write it without the nested repetition", t.at);
      }
      if (overlappingAlternation(t.text)) {
        throw new WhereError("the regular expression repeats a group whose alternatives can start alike (like (a|aa)*): a backtracking engine can take exponential time on one line; give each alternative its own first character, or use a character class", t.at);
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

/** Key texts by id, as the tally holds them (the predicate asks once per id and remembers). */
export interface WhereKeys {
  client(id: number): string;
  /** "METHOD PATH" (or the method alone). */
  request(id: number): string;
  /** 'referer" "agent'. */
  tail(id: number): string;
  host(id: number): string;
}

/**
 * A line's question: the counters' numbers and key ids (-1: none), the
 * response time in seconds (-1: none), and the request's bytes (for its
 * query, read only when the expression asks for it).
 */
export type WherePredicate = (
  status: number, bytes: number, time: number, seconds: number,
  client: number, request: number, tail: number, host: number,
  buf: Uint8Array, requestStart: number, requestEnd: number,
) => boolean;

const latin1 = new TextDecoder("latin1");

/** The query of a request line: after the path's '?', up to the next space; "" without one. */
function queryText(buf: Uint8Array, requestStart: number, requestEnd: number): string {
  let p = requestStart;
  while (p < requestEnd && buf[p] !== 32) p++;
  p++;
  while (p < requestEnd && buf[p] !== 32 && buf[p] !== 63) p++;
  if (p >= requestEnd || buf[p] !== 63) return "";
  const start = ++p;
  while (p < requestEnd && buf[p] !== 32) p++;
  return latin1.decode(buf.subarray(start, p));
}

type KeyKind = "client" | "request" | "tail" | "host";
const KEY_OF: Partial<Record<Field, KeyKind>> = { client: "client", method: "request", path: "request", referer: "tail", agent: "tail", vhost: "host" };

/** The text of a keyed field out of its key's text. */
export function fieldText(field: Field, key: string): string {
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
    const test = (t: string) => {
      const start = performance.now();
      const hit = re.test(t);
      const ms = performance.now() - start;
      if (ms >= SLOW_MATCH_MS) {
        throw new WhereTooSlowError(`--where: ${node.field} ~ '${node.regex}' took ${Math.round(ms)} ms on one ${node.field} of ${t.length.toLocaleString("en-US")} characters; the runtime gives up on such a match and answers "no match", so the count would be wrong: simplify the regular expression`);
      }
      return hit;
    };
    return node.negate ? (t) => !test(t) : test;
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

/** What the generated code reads for an atom: its source, and the tests it calls (by index into the context). */
interface Generated {
  source: string;
  atoms: Array<Extract<WhereNode, { op: "cmp" | "in" | "match" }>>;
}

const NUMBER_OF: Partial<Record<Field, string>> = { status: "status", bytes: "bytes", time: "time", request_time: "seconds" };

function generate(tree: WhereNode): Generated {
  const atoms: Generated["atoms"] = [];
  const code = (node: WhereNode): string => {
    switch (node.op) {
      case "or":
        return `(${node.args.map(code).join(" || ")})`;
      case "and":
        return `(${node.args.map(code).join(" && ")})`;
      case "not":
        return `(!${code(node.arg)})`;
      default:
        break;
    }
    const number = NUMBER_OF[node.field];
    if (number !== undefined && node.op !== "match") {
      const values = node.op === "in" ? node.values : [node.value];
      const op = node.op === "in" ? "===" : node.cmp === "=" ? "===" : node.cmp === "!=" ? "!==" : node.cmp;
      const test = values.map((v) => `${number} ${op} ${JSON.stringify(v)}`).join(" || ");
      // A line without a response time matches no comparison of one.
      return number === "seconds" ? `(seconds >= 0 && (${test}))` : `(${test})`;
    }
    if (node.field === "class" && node.op !== "match") {
      const values = node.op === "in" ? node.values : [node.value];
      const test = values.map((v) => `((status / 100) | 0) === ${Number(String(v)[0])}`).join(" || ");
      return node.op === "cmp" && node.cmp === "!=" ? `(!(${test}))` : `(${test})`;
    }
    const k = atoms.push(node) - 1;
    if (node.field === "class") return `ctx.tests[${k}](((status / 100) | 0) + "xx")`;
    if (node.field === "query") return `ctx.tests[${k}](ctx.query(buf, requestStart, requestEnd))`;
    const id = KEY_OF[node.field]!;
    // 1: holds, 2: does not, 0 (or past the end): not asked yet for this id.
    return `(${id} < 0 ? ctx.tests[${k}]("") : (ctx.seen[${k}][${id}] || ctx.ask(${k}, ${id})) === 1)`;
  };
  const body = code(tree);
  return { source: `"use strict"; return function where(status, bytes, time, seconds, client, request, tail, host, buf, requestStart, requestEnd) { return ${body}; };`, atoms };
}

/** One factory a source text for the process: a closure a task shares its compiled code. */
const factories = new Map<string, (ctx: unknown) => WherePredicate>();

/**
 * The predicate of a tree, generated as one function (the tree's operators
 * and numbers in its code). A comparison on a keyed field is answered once a
 * key id and remembered (1 yes, 2 no) in a table that grows with the ids.
 */
export function compileWhere(tree: WhereNode, keys: WhereKeys): WherePredicate {
  const { source, atoms } = generate(tree);
  const tests = atoms.map(textTest);
  const ctx = {
    tests,
    seen: atoms.map(() => new Uint8Array(256)),
    query: queryText,
    ask(k: number, id: number): number {
      const atom = atoms[k]!;
      let seen = this.seen[k]!;
      if (id >= seen.length) {
        const bigger = new Uint8Array(Math.max(id + 1, seen.length * 2));
        bigger.set(seen);
        this.seen[k] = seen = bigger;
      }
      const kind = KEY_OF[atom.field]!;
      return (seen[id] = tests[k]!(fieldText(atom.field, keys[kind](id))) ? 1 : 2);
    },
  };
  let factory = factories.get(source);
  if (!factory) factories.set(source, (factory = new Function("ctx", source) as (ctx: unknown) => WherePredicate));
  return factory(ctx);
}

/**
 * For an expression of the status code alone (status, class): its verdict
 * for each code 0..999 (1 holds), so that a counter can read a table instead
 * of calling the predicate; null for any other expression.
 */
export function statusVerdicts(tree: WhereNode, predicate: WherePredicate): Uint8Array | null {
  const fields: Field[] = ["method", "path", "query", "client", "referer", "agent", "bytes", "time", "vhost", "request_time"];
  if (fields.some((f) => whereUses(tree, f))) return null;
  const table = new Uint8Array(1000);
  const none = new Uint8Array(0);
  for (let code = 0; code < 1000; code++) table[code] = predicate(code, 0, 0, -1, -1, -1, -1, -1, none, 0, 0) ? 1 : 0;
  return table;
}

/** Whether a tree asks for a field (so the parent can tell a format that lacks it). */
export function whereUses(tree: WhereNode, field: Field): boolean {
  if ("args" in tree) return tree.args.some((a) => whereUses(a, field));
  if ("arg" in tree) return whereUses(tree.arg, field);
  return tree.field === field;
}
