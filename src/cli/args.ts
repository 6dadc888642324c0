// Command-line values: citty 0.2 has no number type and accepts unknown flags
// silently, so every value is checked here, with one-line messages.

import type { ArgsDef, CommandDef, ParsedArgs } from "citty";
import { EXIT_USAGE, LogmrError } from "../core/errors.ts";
import { epochOfTimeText } from "../core/text.ts";

/** A command line that cannot run: exit code 2. */
export class UsageError extends LogmrError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

const SUFFIX: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/**
 * A whole number written as 5000000, 5_000_000, 5,000,000, 5e6 or 5M (k, M, G:
 * powers of 1000). Throws UsageError naming the flag otherwise.
 */
export function parseCount(text: string | undefined, flag: string, min = 1): number {
  if (text === undefined || text === "") throw new UsageError(`--${flag} needs a value`);
  const compact = text.trim().replace(/[_,](?=\d)/g, "");
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)([kmgt]?)$/i.exec(compact);
  const value = m ? Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()]! : 1) : Number.NaN;
  if (!Number.isFinite(value)) throw new UsageError(`--${flag} must be a whole number, got ${JSON.stringify(text)}`);
  if (!Number.isSafeInteger(value)) throw new UsageError(`--${flag} must be a whole number, got ${JSON.stringify(text)}`);
  if (value < min) throw new UsageError(`--${flag} must be at least ${min}, got ${JSON.stringify(text)}`);
  return value;
}

/** A list of counts: "1,2,4". */
export function parseCountList(text: string | undefined, flag: string, min = 1): number[] {
  if (text === undefined || text === "") throw new UsageError(`--${flag} needs a value`);
  return text.split(",").map((part) => parseCount(part, flag, min));
}


/** --since/--until: a point in time (see epochOfTimeText), or a usage error naming the flag. */
export function parseTime(text: string | undefined, flag: string): number {
  if (text === undefined || text === "") throw new UsageError(`--${flag} needs a value`);
  const t = epochOfTimeText(text);
  if (t === null) throw new UsageError(`--${flag} must be a date and time such as 2026-11-27T10:00:00Z, got ${JSON.stringify(text)}`);
  return t;
}

/** Every spelling citty accepts for the flags of `def` (names, kebab/camel forms, aliases), to the flag's name. */
function spellingsOf(def: ArgsDef): Map<string, string> {
  const spellings = new Map<string, string>();
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === "positional") continue;
    const alias = "alias" in arg ? arg.alias : undefined;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    const kebab = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    for (const n of [name, kebab, camel, ...aliases]) spellings.set(n, name);
  }
  return spellings;
}

/** One pass over the command line: the positional arguments, and each flag by its name with its value. */
function readArgs(rawArgs: readonly string[], def: ArgsDef): { positionals: string[]; flags: Array<{ name: string; value: string | boolean }> } {
  const spellings = spellingsOf(def);
  const positionals: string[] = [];
  const flags: Array<{ name: string; value: string | boolean }> = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") {
      positionals.push(...rawArgs.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const spelled = arg.replace(/^--?/, "").slice(0, eq < 0 ? undefined : eq - (arg.startsWith("--") ? 2 : 1));
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    let name = spellings.get(spelled);
    let negated = false;
    if (name === undefined && spelled.startsWith("no-") && def[spellings.get(spelled.slice(3)) ?? ""]?.type === "boolean") {
      name = spellings.get(spelled.slice(3));
      negated = true;
    }
    if (name === undefined) throw new UsageError(`unknown option ${arg.slice(0, eq < 0 ? undefined : eq)}`);
    if (def[name]!.type === "boolean") {
      flags.push({ name, value: negated ? false : inline === undefined ? true : inline !== "false" });
      continue;
    }
    if (inline !== undefined) {
      flags.push({ name, value: inline });
      continue;
    }
    const next = rawArgs[i + 1];
    if (next === undefined || (next.startsWith("-") && next !== "-" && !/^-\d/.test(next))) {
      throw new UsageError(`${arg} needs a value`);
    }
    flags.push({ name, value: next });
    i++;
  }
  return { positionals, flags };
}

/**
 * Rejects flags `def` does not define, a value flag given without a value,
 * and, when `maxPositionals` is set, extra positional arguments. Returns the
 * positional arguments.
 */
export function checkArgs(rawArgs: readonly string[], def: ArgsDef, maxPositionals = Number.POSITIVE_INFINITY): string[] {
  const { positionals } = readArgs(rawArgs, def);
  if (positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[maxPositionals])}`);
  }
  return positionals;
}

/** Every value of a repeatable flag, in order (citty keeps only the last). */
export function optionValues(rawArgs: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === `--${name}`) {
      const next = rawArgs[++i];
      if (next !== undefined) values.push(next);
    } else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3));
  }
  return values;
}

/**
 * The values of `def`'s flags in `rawArgs` (which checkArgs has checked), as
 * citty's parseArgs gives them: by each flag's own name, booleans true, or
 * false as --no-NAME, defaults, enum values checked, positional arguments in
 * `_` and under their names. Here because citty takes several milliseconds
 * to load and to parse at every start; it is loaded for --help only.
 */
export function parseFlags<T extends ArgsDef>(rawArgs: readonly string[], def: T): ParsedArgs<T> {
  const { positionals, flags } = readArgs(rawArgs, def);
  const out: Record<string, unknown> = { _: positionals };
  for (const [name, arg] of Object.entries(def)) if (arg.type !== "positional" && "default" in arg && arg.default !== undefined) out[name] = arg.default;
  for (const { name, value } of flags) {
    const flag = def[name]!;
    if (flag.type === "enum" && flag.options && !flag.options.includes(value as string)) {
      throw new UsageError(`--${name} must be one of ${flag.options.join(", ")}, got ${JSON.stringify(value)}`);
    }
    out[name] = value;
  }
  const rest = [...positionals];
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type !== "positional") continue;
    const value = rest.shift();
    if (value !== undefined) out[name] = value;
  }
  return out as ParsedArgs<T>;
}

/** citty's defineCommand (which returns its argument), without loading citty. */
export function defineCommand<T extends ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return def;
}
