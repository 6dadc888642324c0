// Numeric `--name VALUE` options of the scripts in this folder (a typo gives NaN, not the default).

export function numberFlag(name: string, fallback: number, args: readonly string[] = process.argv.slice(2)): number {
  const k = args.indexOf(`--${name}`);
  return k >= 0 ? Number(args[k + 1]) : fallback;
}
