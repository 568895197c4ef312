/**
 * Logs for `unwind serve` (README "Observability"): pino, one JSON object a line on standard output
 * (`{"level":"info","time":"2026-12-06T06:22:31.123Z","pid":…,"hostname":…,"msg":"…", …fields}`), or, when standard
 * output is a terminal, one human line each (`06:22:31.123 INFO  msg  key=value …`), formatted here on the main thread.
 * pino-pretty or pino's worker-thread transport would do the same at a cost in startup time and a thread: measured
 * on this machine, pino loads in about 45 ms, and its transport adds about 70 ms and a thread (README "Observability").
 *
 * pino is loaded on first use, so commands that do not log (check, replay, demo) never load it.
 */
import type { Logger } from 'pino';
import { ErrorCode, UnwindError } from './errors.js';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A level named by a flag or the environment (default info); INVALID_CONFIG naming `field` otherwise. */
export function logLevelOf(v: string | undefined, field: string): LogLevel {
  if (v === undefined || v === '') return 'info';
  const level = v.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UnwindError(ErrorCode.InvalidConfig, `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(v)}`, field);
  return level as LogLevel;
}

/** Where lines go (default: standard output). */
export interface LogSink {
  write(line: string): unknown;
}

export interface LogOptions {
  readonly level: LogLevel;
  /** Human lines instead of JSON (default: when standard output is a terminal). */
  readonly human?: boolean;
  /** ANSI colors in human lines (default: a terminal, and NO_COLOR unset). */
  readonly color?: boolean;
  readonly sink?: LogSink;
}

export async function createLogger(o: LogOptions): Promise<Logger> {
  const { pino } = await import('pino');
  const human = o.human ?? process.stdout.isTTY === true;
  const options = {
    level: o.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level names, not pino's numbers: what log stores and people search for.
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (!human) return pino(options, o.sink ?? pino.destination({ dest: 1, sync: true }));
  const color = o.color ?? (process.stdout.isTTY === true && process.env.NO_COLOR === undefined);
  const sink = o.sink ?? process.stdout;
  return pino(options, { write: (line: string) => sink.write(humanLine(line, color)) });
}

const LEVEL_COLORS: Readonly<Record<string, string>> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
/** Fields every line has, shown in the line's head (or not at all) rather than as key=value. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** One pino JSON line as a human line: local time, level, message, then the other fields as key=value. */
export function humanLine(json: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const t = new Date(typeof o.time === 'string' || typeof o.time === 'number' ? o.time : Date.now());
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  const level = String(o.level ?? 'info');
  const tag = level.toUpperCase().padEnd(5);
  const head = color ? `\x1b[90m${clock}\x1b[0m \x1b[${LEVEL_COLORS[level] ?? '0'}m${tag}\x1b[0m` : `${clock} ${tag}`;
  const msg = String(o.msg ?? '');
  // What the message already says, and whole objects (stats, recovery), are for the JSON lines: a terminal gets the rest.
  const fields = Object.entries(o)
    .filter(([k, v]) => !HEAD_FIELDS.has(k) && v !== null && v !== undefined && (isError(v) || typeof v !== 'object') && !msg.includes(String(v)))
    .map(([k, v]) => `${k}=${field(v)}`);
  return `${head} ${msg}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** pino's serialized error: { type, message, stack, ... }. */
const isError = (v: unknown): boolean => v !== null && typeof v === 'object' && 'message' in v && 'type' in v;

function field(v: unknown): string {
  if (isError(v)) {
    const e = v as { type: unknown; message: unknown; code?: unknown };
    return JSON.stringify(`${String(e.code ?? e.type)}: ${String(e.message)}`);
  }
  if (typeof v === 'string') return /^[\w.:/@-]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}
