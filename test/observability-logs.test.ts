/**
 * The logs of `unwind serve` (README "Observability"): JSON lines with level, time and msg when standard output is not
 * a terminal (a real child process, piped), human lines on a real terminal (`script` gives it one), levels from
 * `--log-level` or UNWIND_LOG_LEVEL, a bad level refused with exit 2.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FeedClient } from '../src/feed/client.js';
import { CLI } from './support/cli.js';
import { serveProcess, type LogLine, type Serving } from './support/prometheus.js';
import { removeTempDirs, tempDir } from './support/journal.js';

const dir = tempDir('unwind-logs-');
const SOURCE = 'a-source-token-for-logs-01';
const DESK = 'a-subscriber-token-for-logs';
const ETH = 5;
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** One ETH market whose prices come from two unsigned oracle sources: it starts paused (ORACLE_STALE). */
const config = join(dir, 'serve.json');
writeFileSync(
  config,
  JSON.stringify({
    server: { port: 0, tokens: [{ token: SOURCE, role: 'source', sources: [1, 2] }, { token: DESK, role: 'subscriber' }] },
    engine: { scanWorkers: 0, capacity: { accounts: 10, positions: 10 }, oracle: { signatures: 'off', markets: [{ market: ETH, sources: [{ id: 1 }, { id: 2 }] }] } },
    markets: [{ id: ETH, symbol: 'ETH-USD', price: 3000, tiers: [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }] }],
  }),
);

const children = new Set<Serving>();
afterEach(() => {
  for (const s of children) s.child.kill('SIGKILL');
  children.clear();
});
afterAll(removeTempDirs);

function serve(args: string[] = [], env: Record<string, string> = {}): Serving {
  const s = serveProcess(['--config', config, '--stats-every', '0', ...args], env);
  children.add(s);
  return s;
}

const parsed = (s: Serving): LogLine[] => s.lines.map((l) => JSON.parse(l) as LogLine);

describe('the logs of unwind serve', () => {
  it('writes JSON lines with level, time and msg: startup, listening, pauses, connections opened, refused and closed, closing', async () => {
    const s = serve();
    const listening = await s.line(/^unwind serve: ws:\/\//);
    expect(listening).toMatchObject({ level: 'info', url: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/feed$/) });
    const url = listening.url as string;
    const pause = await s.line(/^market 5 paused/);
    expect(pause).toMatchObject({ level: 'warn', market: ETH, code: 'ORACLE_STALE' });

    const desk = await FeedClient.connect({ url, token: DESK, reconnect: false });
    const opened = await s.line(/^connection \d+ opened/);
    expect(opened).toMatchObject({ level: 'info', kind: 'opened', role: 'subscriber', remote: expect.any(String) });
    const refused = await FeedClient.connect({ url, token: 'not-a-token-of-this-server', reconnect: false }).then(
      () => 'connected',
      () => 'refused',
    );
    expect(refused).toBe('refused');
    expect(await s.line(/^connection refused/)).toMatchObject({ level: 'warn', kind: 'refused', status: 401, reason: 'UNAUTHORIZED' });
    desk.close();
    expect(await s.line(/^connection \d+ closed/)).toMatchObject({ level: 'info', kind: 'closed', role: 'subscriber', connection: opened.connection, code: 1000 });

    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    const lines = parsed(s); // every line parses as JSON
    for (const l of lines) {
      expect(LEVELS).toContain(l.level);
      expect(typeof l.msg).toBe('string');
      expect(new Date(l.time).toISOString()).toBe(l.time);
    }
    expect(lines.map((l) => l.msg).filter((m) => /^unwind serve: (starting|closing|closed)$/.test(m))).toEqual(['unwind serve: starting', 'unwind serve: closing', 'unwind serve: closed']);
    // The logs are all on standard output; standard error has Node's warning that oracle signatures are off.
    expect(s.stderr()).not.toMatch(/"msg"/);
    expect(s.stderr()).toMatch(/UNWIND_SIGNATURES_OFF/);
  });

  it('logs at the level asked for: --log-level warn drops info, UNWIND_LOG_LEVEL=debug adds rejected frames', async () => {
    const quiet = serve(['--log-level', 'warn']);
    await quiet.line(/^market 5 paused/);
    quiet.child.kill('SIGTERM');
    expect(await quiet.exit).toBe(0);
    expect(new Set(parsed(quiet).map((l) => l.level))).toEqual(new Set(['warn']));

    const chatty = serve([], { UNWIND_LOG_LEVEL: 'debug' });
    const url = (await chatty.line(/^unwind serve: ws:\/\//)).url as string;
    const source = await FeedClient.connect({ url, token: SOURCE, reconnect: false });
    source.sendTicks([{ market: ETH, source: 1, price: Number.NaN, confidence: 0, eventTimeUs: Date.now() * 1000, sourceSequence: 1 }]);
    expect(await chatty.line(/rejected: INVALID_FIELD/)).toMatchObject({ level: 'debug', code: 'INVALID_FIELD', role: 'source', sequence: 0 });
    source.close();
  });

  it('refuses an unknown level, naming the flag or the variable (exit 2)', async () => {
    const flag = serve(['--log-level', 'loud']);
    expect(await flag.exit).toBe(2);
    expect(flag.stderr()).toMatch(/INVALID_CONFIG: --log-level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"/);
    const env = serve([], { UNWIND_LOG_LEVEL: 'verbose' });
    expect(await env.exit).toBe(2);
    expect(env.stderr()).toMatch(/INVALID_CONFIG: UNWIND_LOG_LEVEL/);
  });

  it('writes human lines on a terminal: time, level, message', async () => {
    // `script` runs the command on a pseudo-terminal (util-linux) and copies what it prints.
    const command = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} serve --config ${JSON.stringify(config)} --stats-every 0`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    const seen = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/\n\d\d:\d\d:\d\d\.\d{3} WARN  market 5 paused/.test(out)) resolve();
      }),
    );
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await Promise.race([seen, exit.then((code) => Promise.reject(new Error(`script exited ${code}: ${out}`)))]);
    } finally {
      child.kill('SIGTERM');
    }
    const lines = out.replace(/\r/g, '').split('\n').filter((l) => l !== '');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  unwind serve: starting {2}node=v\d+/);
    expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO  unwind serve: ws:\/\/127\.0\.0\.1:\d+\/v1\/feed \(/.test(l))).toBe(true);
    expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} WARN  market 5 paused \(ORACLE_STALE: /.test(l))).toBe(true);
    expect(out).not.toMatch(/\x1b\[/); // NO_COLOR
    expect(out).not.toMatch(/"level":/);
    await exit;
  });
});
