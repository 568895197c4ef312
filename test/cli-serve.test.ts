/** `unwind serve` as an operator runs it: a real child process, a real config file, a real client, SIGTERM. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { FeedClient } from '../src/feed/client.js';
import { logMessage } from './support/cli.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'unwind-serve-'));
let child: ChildProcess | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

/** Starts `unwind serve` and resolves with the lines it printed up to the first that matches `until`. */
function start(args: string[], until: RegExp): Promise<{ lines: string[]; exit: Promise<number | null> }> {
  const c = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = c;
  const exit = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  const lines: string[] = [];
  let stderr = '';
  c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    createInterface({ input: c.stdout! }).on('line', (line) => {
      lines.push(logMessage(line)); // JSON log lines: their messages
      if (until.test(lines.at(-1)!)) resolve({ lines, exit });
    });
    void exit.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}

describe('unwind serve', () => {
  it('serves the config file markets to a client with the configured token and stops cleanly on SIGTERM', async () => {
    const config = join(dir, 'serve.json');
    const token = 'a-publisher-token-for-the-test';
    writeFileSync(
      config,
      JSON.stringify({
        server: { port: 0, publisherTokens: [token], subscriberTokens: ['a-subscriber-token-for-test'] },
        engine: { scanWorkers: 1, capacity: { accounts: 100, positions: 100 } },
        markets: [{ id: 5, symbol: 'ETH-USD', price: 3000, tiers: [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }] }],
        accounts: [{ id: 1, collateral: 200, positions: [{ market: 5, size: 1, entryPrice: 3000, isolatedCollateral: null }] }],
      }),
    );
    const { lines, exit } = await start(['--config', config, '--stats-every', '0'], /^engine:/);
    const url = /(ws:\/\/\S+)/.exec(lines.find((l) => l.startsWith('unwind serve: ws://'))!)![1]!;
    expect(lines.join('\n')).not.toMatch(/token \(generated\)/);
    const client = await FeedClient.connect({ url, token });
    const order = new Promise<string>((r) => client.on('orders', (o) => r(o[0]!.id)));
    client.subscribe({ allOrders: true });
    // 1 ETH long, collateral 200, MMR 5%: healthy at 3,000 (200 > 150); at 2,900 equity 100 < maintenance 145.
    client.sendTicks([{ market: 5, source: 1, price: 2900, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]);
    expect(await order).toBe('1-5-3');
    client.close();
    child!.kill('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('generates and prints tokens when the config has none', async () => {
    const config = join(dir, 'no-tokens.json');
    writeFileSync(config, JSON.stringify({ server: { port: 0 }, engine: { scanWorkers: 1, capacity: { accounts: 10, positions: 40 } } }));
    const { lines, exit } = await start(['--config', config, '--stats-every', '0'], /^subscriber token/);
    const url = /(ws:\/\/\S+)/.exec(lines.find((l) => l.startsWith('unwind serve: ws://'))!)![1]!;
    const token = /publisher token \(generated\): (\S+)/.exec(lines.join('\n'))![1]!;
    expect(token.length).toBeGreaterThanOrEqual(16);
    const client = await FeedClient.connect({ url, token });
    const status = await new Promise<number>((r) => client.on('engineStatus', (s) => r(s.markets)));
    expect(status).toBe(4); // the demo's four markets
    client.close();
    child!.kill('SIGINT');
    expect(await exit).toBe(0);
  });

  it('exits 2 naming the bad key of an invalid config', async () => {
    const config = join(dir, 'bad.json');
    writeFileSync(config, JSON.stringify({ server: { port: 0, publisherTokens: ['short'] } }));
    const c = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => c.on('exit', r));
    expect(code).toBe(2);
    expect(stderr).toMatch(/INVALID_CONFIG: publisherTokens\[0\]/);
  });
});
