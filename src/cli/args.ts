/**
 * The `unwind` commands' flags: one table per command gives each flag's value, default and help, from which come the
 * parser (node:util parseArgs, strict), the usage line and the `--help` text, so that they cannot disagree.
 * Every command takes `-h, --help` (its help on stdout, exit 0) and `--version` (package.json's version, exit 0).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ErrorCode, UnwindError } from '../errors.js';

export interface Flag {
  /** The value's placeholder (N, FILE, ...); absent: a boolean flag. */
  readonly value?: string;
  readonly short?: string;
  /** What it does, one line. */
  readonly help: string;
  /** The default as the help shows it; absent: off (booleans) or none. */
  readonly default?: string;
  /** Environment variable that gives it when the flag is absent (README "Configuration"). */
  readonly env?: string;
}

export interface CommandSpec {
  readonly name: string;
  /** Positional arguments as the usage line shows them, e.g. 'FILE' or '[FILE]'. */
  readonly args?: string;
  /** Lines under the usage line in `unwind --help`, and the description in the command's own help. */
  readonly summary: string;
  readonly flags: Readonly<Record<string, Flag>>;
  /** Lines after the options in the command's help (the positional arguments, exit statuses). */
  readonly notes?: string;
}

/** A bad command line: exit 2 with the command's usage line on stderr. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly command: CommandSpec | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** package.json's version, read next to the installed files (dist/src/cli/ -> the package root). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const flagText = (name: string, f: Flag): string => `${f.short === undefined ? '' : `-${f.short}, `}--${name}${f.value === undefined ? '' : ` ${f.value}`}`;

export function usageLine(c: CommandSpec): string {
  const flags = Object.entries(c.flags).map(([name, f]) => `[--${name}${f.value === undefined ? '' : ` ${f.value}`}]`);
  return ['unwind', c.name, ...(c.args === undefined ? [] : [c.args]), ...flags].join(' ');
}

/** The command's help: usage, what it does, every flag with its default and environment variable, then notes. */
export function helpText(c: CommandSpec): string {
  const rows: [string, string][] = Object.entries(c.flags).map(([name, f]) => {
    const extra = [f.default === undefined ? undefined : `default: ${f.default}`, f.env === undefined ? undefined : `env ${f.env}`].filter((x) => x !== undefined);
    return [flagText(name, f), extra.length === 0 ? f.help : `${f.help} (${extra.join('; ')})`];
  });
  rows.push(['-h, --help', 'print this help and exit'], ['--version', 'print the version and exit']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const options = rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join('\n');
  return `usage: ${usageLine(c)}\n\n${c.summary.trim()}\n\noptions:\n${options}\n${c.notes === undefined ? '' : `\n${c.notes.trim()}\n`}`;
}

export type Parsed =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly values: Readonly<Record<string, string | boolean | undefined>>; readonly positionals: readonly string[] };

/** Parses `argv` against the command's flags: an unknown flag, a missing value or a stray argument is a UsageError. */
export function parseCommand(c: CommandSpec, argv: readonly string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const [name, f] of Object.entries(c.flags)) options[name] = { type: f.value === undefined ? 'boolean' : 'string', ...(f.short === undefined ? {} : { short: f.short }) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: c.args !== undefined, strict: true });
  } catch (e) {
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(c, e.message);
    throw e;
  }
  if (parsed.values.help === true) return { kind: 'help' };
  if (parsed.values.version === true) return { kind: 'version' };
  return { kind: 'run', values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}

/** A flag's value as a non-negative integer (INVALID_CONFIG naming the flag), or `fallback` when absent. */
export function intFlag(v: string | boolean | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new UnwindError(ErrorCode.InvalidConfig, `expected a non-negative integer, got ${JSON.stringify(v)}`, `--${name}`);
  return n;
}

/** A TCP port from a flag or an environment variable: an integer in [0, 65535] (INVALID_CONFIG naming `field`). */
export function portOf(v: string, field: string): number {
  const n = /^\d{1,5}$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new UnwindError(ErrorCode.InvalidConfig, `expected a port in [0, 65535], got ${JSON.stringify(v)}`, field);
  return n;
}
