/** Prometheus' text exposition format, read as a scraper reads it, and `unwind serve` as a child process that logs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from './cli.js';

/** One scrape: every sample by `name{label="value",...}` (labels sorted), and each family's TYPE and HELP. */
export interface Scrape {
  readonly samples: ReadonlyMap<string, number>;
  readonly types: ReadonlyMap<string, string>;
  readonly helps: ReadonlyMap<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses a text-format body; throws on a line that is neither a comment nor a sample. */
export function parseMetrics(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line);
    if (meta !== null) {
      (meta[1] === 'TYPE' ? types : helps).set(meta[2]!, meta[3]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels = [...(m[2] ?? '').matchAll(LABEL)].map(([, k, v]) => `${k}="${v}"`).sort();
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.set(labels.length === 0 ? m[1]! : `${m[1]}{${labels.join(',')}}`, value);
  }
  return { samples, types, helps };
}

/** A sample's value (0 when absent: a counter not yet moved). */
export function value(s: Scrape, key: string): number {
  return s.samples.get(key) ?? 0;
}

/** GETs `url`; resolves with its status, content type and body. */
export async function get(url: string, token?: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const r = await get(url, token);
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.body}`);
  return parseMetrics(r.body);
}

/** A JSON log line of `unwind serve`. */
export interface LogLine {
  readonly level: string;
  readonly time: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface Serving {
  readonly child: ChildProcess;
  /** Standard output's lines as printed. */
  readonly lines: string[];
  readonly stderr: () => string;
  readonly exit: Promise<number | null>;
  /** Resolves with the parsed JSON line whose msg matches `re` (waiting for it), rejects if the process exits first. */
  line(re: RegExp): Promise<LogLine>;
}

/** `unwind serve ...args` as a child process with piped (not a terminal) output. */
export function serveProcess(args: readonly string[], env: Readonly<Record<string, string>> = {}): Serving {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const waiting = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiting]) w();
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let exited = false;
  void exit.then(() => {
    exited = true;
    for (const w of [...waiting]) w();
  });
  const line = (re: RegExp): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        for (const l of lines) {
          if (!l.startsWith('{')) continue;
          const parsed = JSON.parse(l) as LogLine;
          if (re.test(parsed.msg)) {
            waiting.delete(check);
            return resolve(parsed);
          }
        }
        if (exited) {
          waiting.delete(check);
          reject(new Error(`serve exited before logging ${re}: ${stderr}\n${lines.join('\n')}`));
        }
      };
      waiting.add(check);
      check();
    });
  return { child, lines, stderr: () => stderr, exit, line };
}
