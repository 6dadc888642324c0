// --group-path: paths folded into routes (/item/123 -> /item/:id), so the
// top paths and per-path response times count a route once, not each of its
// URLs. Applied to the distinct paths when a task's counts are made, never a
// line: the hot path does not change, and the counts stay exact.

import { EXIT_USAGE, LogmrError } from "../core/errors.ts";

/** The default folds, a path segment at a time, first match wins. */
const SEGMENT_FOLDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^[0-9]+$/, ":id"],
  [/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, ":uuid"],
  // A hex run as long as an MD5/SHA prefix, with a digit: a word like "deadbeefcafebabe" is not a hash.
  [/^(?=[^0-9]*[0-9])[0-9a-fA-F]{16,}$/, ":hash"],
];

export class PathGroupError extends LogmrError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

/** One user pattern: a route template (`/users/:user/posts`, `/static/**`) matched against the whole path. */
interface Template {
  route: string;
  test: RegExp;
}

/**
 * Compiles one template: `:name` is one whole segment, `*` any run of
 * characters inside a segment, `**` anything (slashes too); the rest is
 * literal. The route a matching path counts under is the template's text.
 */
function compileTemplate(text: string): Template {
  if (!text.startsWith("/")) throw new PathGroupError(`--group-path ${JSON.stringify(text)}: a pattern starts with "/" (like /users/:id or /static/**), or is "none"`);
  let source = "";
  const segments = text.split("/");
  for (let k = 0; k < segments.length; k++) {
    const segment = segments[k]!;
    if (k > 0) source += "/";
    if (segment.startsWith(":")) {
      if (!/^:[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) throw new PathGroupError(`--group-path ${JSON.stringify(text)}: ${JSON.stringify(segment)} is not a parameter (":" then a name of letters, digits and _)`);
      source += "[^/]+";
      continue;
    }
    source += segment
      .split("**")
      .map((part) => part.split("*").map(escapeRegex).join("[^/]*"))
      .join(".*");
  }
  return { route: text, test: new RegExp(`^${source}$`) };
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.|?+()[\]{}]/g, "\\$&");
}

/** The path grouping of a run, as the task carries it: the user's patterns, and "none" to leave out the default folds. */
export function checkPathGroups(specs: readonly string[]): string[] {
  for (const spec of specs) if (spec !== "none") compileTemplate(spec);
  return [...specs];
}

/** Turns paths into routes, each distinct path once. */
export class PathGrouper {
  private readonly templates: Template[];
  private readonly folds: boolean;
  private readonly routes = new Map<string, string>();

  /** `specs`: a task's pathGroups (absent: the default folds only). */
  constructor(specs: readonly string[] = []) {
    this.templates = specs.filter((s) => s !== "none").map(compileTemplate);
    this.folds = !specs.includes("none");
  }

  /** Whether any path can change: with "none" and no pattern, none does. */
  get groups(): boolean {
    return this.folds || this.templates.length > 0;
  }

  route(path: string): string {
    let route = this.routes.get(path);
    if (route === undefined) {
      route = this.routeOf(path);
      this.routes.set(path, route);
    }
    return route;
  }

  private routeOf(path: string): string {
    for (const t of this.templates) if (t.test.test(path)) return t.route;
    if (!this.folds) return path;
    // A segment follows a "/": what comes before the first one (a request target like "*") stays.
    return path
      .split("/")
      .map((segment, k) => {
        if (k > 0) for (const [re, name] of SEGMENT_FOLDS) if (re.test(segment)) return name;
        return segment;
      })
      .join("/");
  }
}
