/**
 * Where `unwind serve` takes each setting from: flag > environment > config file > default (src/cli/settings.ts),
 * with real files; a bad environment value is INVALID_CONFIG naming the variable. Then once end to end: a real
 * `unwind serve` configured by the environment alone, and a real client using the token the environment gave.
 */
import { logMessage } from './support/cli.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { serveConfigFrom } from '../src/cli/settings.js';
import { isUnwindError, type UnwindError } from '../src/errors.js';
import { FeedClient } from '../src/feed/client.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'unwind-env-'));
const FILE_TOKEN = 'a-publisher-token-in-the-file';
const ENV_TOKEN = 'a-publisher-token-in-the-env';

function configFile(name: string, server: object): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ server, engine: { scanWorkers: 1, capacity: { accounts: 10, positions: 40 } } }));
  return path;
}

function refusal(f: () => unknown): UnwindError {
  try {
    f();
  } catch (e) {
    if (isUnwindError(e)) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('precedence: flag > environment > file > default', () => {
  const file = configFile('ports', { host: 'localhost', port: 7001, publisherTokens: [FILE_TOKEN], subscriberTokens: ['a-subscriber-token-in-file'] });

  it('the file over the defaults', () => {
    const c = serveConfigFrom({ config: file }, {});
    expect(c.server).toMatchObject({ host: 'localhost', port: 7001, publisherTokens: [FILE_TOKEN] });
    expect(serveConfigFrom({}, {}).server).toBeUndefined();
  });

  it('the environment over the file, and UNWIND_CONFIG names the file', () => {
    const env = { UNWIND_CONFIG: file, UNWIND_HOST: '127.0.0.1', UNWIND_PORT: '7002', UNWIND_PUBLISHER_TOKENS: ` ${ENV_TOKEN} , another-publisher-token-env ` };
    const c = serveConfigFrom({}, env);
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 7002, publisherTokens: [ENV_TOKEN, 'another-publisher-token-env'], subscriberTokens: ['a-subscriber-token-in-file'] });
    expect(c.engine).toEqual({ scanWorkers: 1, capacity: { accounts: 10, positions: 40 } });
  });

  it('the flags over the environment (--config over UNWIND_CONFIG too)', () => {
    const other = configFile('other', { port: 7003 });
    const c = serveConfigFrom({ config: other, host: '0.0.0.0', port: '7004' }, { UNWIND_CONFIG: file, UNWIND_HOST: '127.0.0.1', UNWIND_PORT: '7002' });
    expect(c.server).toEqual({ host: '0.0.0.0', port: 7004 });
  });

  it('each token kind from its variable; an empty variable counts as unset', () => {
    const tokens = [{ token: 'a-scoped-source-token-env', role: 'source', sources: [1] }];
    const c = serveConfigFrom(
      {},
      {
        UNWIND_SUBSCRIBER_TOKENS: 'a-subscriber-token-env-1,a-subscriber-token-env-2',
        UNWIND_ADMIN_TOKENS: 'an-admin-token-from-env',
        UNWIND_TOKENS: JSON.stringify(tokens),
        UNWIND_PORT: '',
      },
    );
    expect(c.server).toEqual({ subscriberTokens: ['a-subscriber-token-env-1', 'a-subscriber-token-env-2'], adminTokens: ['an-admin-token-from-env'], tokens });
  });
});

describe('a bad environment value', () => {
  it.each([
    [{ UNWIND_PORT: 'http' }, 'UNWIND_PORT', 'expected a port in [0, 65535], got "http"'],
    [{ UNWIND_PORT: '65536' }, 'UNWIND_PORT', 'expected a port in [0, 65535], got "65536"'],
    [{ UNWIND_HOST: 'two words' }, 'UNWIND_HOST', 'expected a host name or address, got "two words"'],
    [{ UNWIND_SUBSCRIBER_TOKENS: 'a-subscriber-token-env-1,short' }, 'UNWIND_SUBSCRIBER_TOKENS[1]', 'expected comma-separated tokens of at least 16 characters without spaces'],
    [{ UNWIND_PUBLISHER_TOKENS: 'a-publisher-token-env-1,,x' }, 'UNWIND_PUBLISHER_TOKENS[1]', 'expected comma-separated tokens of at least 16 characters without spaces'],
    [{ UNWIND_TOKENS: '[{"token":"a-scoped-source-token-env","role":"sorce"}]' }, 'UNWIND_TOKENS[0].role', "expected one of 'source', 'matching', 'admin', 'subscriber', got \"sorce\""],
    [{ UNWIND_TOKENS: '[{"token":"a-scoped-source-token-env","role":"source","sources":[1],"scope":1}]' }, 'UNWIND_TOKENS[0].scope', 'unknown key (expected token, role, sources, markets, accounts)'],
    [{ UNWIND_TOKENS: '{token' }, 'UNWIND_TOKENS', undefined],
    [{ UNWIND_CONFIG: '/nonexistent/unwind.json' }, 'UNWIND_CONFIG', undefined],
  ])('%j: INVALID_CONFIG naming %s', (env, field, message) => {
    const e = refusal(() => serveConfigFrom({}, env));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.field).toBe(field);
    if (message !== undefined) expect(e.message).toBe(`${field}: ${message}`);
  });

  it('the CLI exits 2 with the coded error on stderr', async () => {
    const c = spawn(process.execPath, [CLI, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UNWIND_PORT: 'http' } });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((r) => c.on('exit', r))).toBe(2);
    expect(stderr).toContain('unwind: INVALID_CONFIG: UNWIND_PORT: expected a port in [0, 65535], got "http"');
  });
});

describe('unwind serve configured by the environment', () => {
  it('listens where UNWIND_CONFIG and UNWIND_PORT say, and takes the publisher token of UNWIND_PUBLISHER_TOKENS instead of the file\'s', { timeout: 60_000 }, async () => {
    const file = configFile('served', { port: 9, publisherTokens: [FILE_TOKEN] });
    const c = spawn(process.execPath, [CLI, 'serve', '--stats-every', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UNWIND_CONFIG: file, UNWIND_PORT: '0', UNWIND_PUBLISHER_TOKENS: ENV_TOKEN },
    });
    try {
      const lines: string[] = [];
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: c.stdout }).on('line', (line) => {
          // The log's messages (JSON lines when stdout is not a terminal).
          const message = logMessage(line);
          lines.push(message);
          // The generated tokens are logged after the engine line: the subscriber's is the last of them.
          if (/^subscriber token \(generated\)/.test(message)) resolve();
        });
        c.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
      });
      const url = /(ws:\/\/\S+)/.exec(lines.find((l) => l.startsWith('unwind serve: ws://'))!)![1]!;
      expect(url).not.toContain(':9/'); // UNWIND_PORT 0 over the file's 9: a free port
      expect(lines.join('\n')).toMatch(/subscriber token \(generated\)/); // the file gave none
      expect(lines.join('\n')).not.toMatch(/publisher token \(generated\)/);
      const client = await FeedClient.connect({ url, token: ENV_TOKEN, reconnect: false });
      const status = await new Promise<number>((r) => client.on('engineStatus', (s) => r(s.markets)));
      expect(status).toBe(4);
      client.close();
      await expect(FeedClient.connect({ url, token: FILE_TOKEN, reconnect: false })).rejects.toThrow();
    } finally {
      c.kill('SIGTERM');
    }
  });
});
