// --vhost: which virtual hosts a run counts. A name matches the host a line
// names case-insensitively, with or without the port the server wrote
// (Caddy logs "shop.test:8080"); "*.example.com" matches every subdomain.

export class HostFilter {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(names: readonly string[]) {
    for (const name of names) {
      const n = name.toLowerCase();
      if (n.startsWith("*.")) this.suffixes.push(n.slice(1));
      else this.exact.add(n);
    }
  }

  /** Whether a line naming `host` is counted. */
  allows(host: string): boolean {
    const h = host.toLowerCase();
    const bare = withoutPort(h);
    if (this.exact.has(h) || this.exact.has(bare)) return true;
    return this.suffixes.some((s) => bare.endsWith(s) && bare.length > s.length);
  }
}

/** "shop.test:8080" -> "shop.test", "[::1]:80" -> "[::1]"; a bare IPv6 address stays whole. */
export function withoutPort(host: string): string {
  const m = /^(\[[^\]]*\]|[^:]*):\d+$/.exec(host);
  return m ? m[1]! : host;
}

/** A --vhost value checked: names without spaces, comma-separated; the error names the bad one. */
export function parseHostNames(text: string): string[] {
  const names = text.split(",").map((n) => n.trim());
  for (const n of names) {
    if (n === "" || /\s/.test(n) || (n.includes("*") && !/^\*\.[^*]+$/.test(n))) {
      throw new Error(`--vhost: ${JSON.stringify(n)} is not a host name (names are comma-separated; *.example.com for subdomains)`);
    }
  }
  return names;
}
