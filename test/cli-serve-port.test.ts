/**
 * The listening address of `unwind serve` and `unwind demo`, with real sockets: a port another process holds fails at
 * once (ADDRESS_IN_USE naming host:port, exit 1, before the engine starts) instead of retrying for 90 s; `demo --port`
 * puts the feed server on the port asked for.
 */
import { logMessage } from './support/cli.js';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');

let holder: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (holder === undefined ? r() : holder.close(() => r())));
  holder = undefined;
});

/** Listens on a free loopback port, as another process would hold it. */
async function holdPort(): Promise<number> {
  holder = createServer();
  await new Promise<void>((r) => holder!.listen(0, '127.0.0.1', r));
  return (holder.address() as { port: number }).port;
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => c.on('exit', (code) => resolve({ code, stdout, stderr })));
}

// The test's timeout (30 s) is the bound: the old behaviour retried the bind for 90 s before giving up.
describe('a port another process listens on', () => {
  it('unwind serve --port P fails at once: ADDRESS_IN_USE naming 127.0.0.1:P, exit 1, the engine never started', { timeout: 30_000 }, async () => {
    const port = await holdPort();
    const r = await run(['serve', '--port', String(port), '--stats-every', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`unwind: ADDRESS_IN_USE: port: 127.0.0.1:${port} is in use by another process`);
    // Its log (JSON lines on stdout) says it could not start; nothing listened.
    const messages = r.stdout.split('\n').filter((l) => l !== '').map(logMessage);
    expect(messages).toContain('unwind serve: cannot start');
    expect(messages.some((m) => m.includes('ws://'))).toBe(false);
  });

  it('the same when the port comes from UNWIND_PORT', { timeout: 30_000 }, async () => {
    const port = await holdPort();
    const r = await run(['serve', '--stats-every', '0'], { UNWIND_PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ADDRESS_IN_USE: port: 127.0.0.1:${port}`);
  });

  it('unwind demo --port P: the same, before the demo starts', { timeout: 30_000 }, async () => {
    const port = await holdPort();
    const r = await run(['demo', '--accounts', '100', '--steps', '2', '--port', String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ADDRESS_IN_USE: port: 127.0.0.1:${port}`);
    expect(r.stdout).toBe('');
  });
});

describe('unwind demo --host --port', () => {
  it('puts the feed server on the address asked for, and the demo runs over it', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const r = spawnSync(process.execPath, [CLI, 'demo', '--accounts', '300', '--steps', '3', '--print', '0', '--interval-ms', '0', '--host', '127.0.0.1', '--port', String(port)], {
      encoding: 'utf8',
      timeout: 110_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`feed server ws://127.0.0.1:${port}/v1/feed`);
    expect(r.stdout).toMatch(new RegExp(`^feed {17}ws://127\\.0\\.0\\.1:${port}/v1/feed: `, 'm'));
  });
});
