/**
 * `unwind serve` with scoped tokens in its config file (README "unwind serve and the client SDK"): a real child
 * process, a real config file, SDK clients. With `server.tokens` no token is generated, each token acts within its
 * role, and a bad token entry stops the process (exit 2) naming the field.
 */
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
const dir = mkdtempSync(join(tmpdir(), 'unwind-serve-tokens-'));
let child: ChildProcess | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

const SOURCE = 'a-source-token-for-the-test-1';
const MATCHING = 'a-matching-token-for-the-test';
const ETH = 5;
const config = (server: unknown) =>
  JSON.stringify({
    server,
    engine: { scanWorkers: 1, capacity: { accounts: 100, positions: 100 } },
    markets: [{ id: ETH, symbol: 'ETH-USD', price: 3000, tiers: [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }] }],
    accounts: [{ id: 1, collateral: 200, positions: [{ market: ETH, size: 1, entryPrice: 3000, isolatedCollateral: null }] }],
  });

function run(file: string): { lines: string[]; stderr: () => string; exit: Promise<number | null>; ready: Promise<void> } {
  const c = spawn(process.execPath, [CLI, 'serve', '--config', file, '--stats-every', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = c;
  const lines: string[] = [];
  let stderr = '';
  c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: c.stdout! }).on('line', (line) => {
      lines.push(logMessage(line)); // JSON log lines: their messages
      if (/^engine:/.test(lines.at(-1)!)) resolve();
    });
    void exit.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  void ready.catch(() => {}); // the tests of a refused config wait for the exit, not for this
  return { lines, stderr: () => stderr, exit, ready };
}

describe('unwind serve with server.tokens', () => {
  it('generates no token, and serves each configured token within its role and scopes', async () => {
    const file = join(dir, 'scoped.json');
    writeFileSync(
      file,
      config({
        port: 0,
        tokens: [
          { token: SOURCE, role: 'source', sources: [1], markets: [[ETH, ETH]] },
          { token: MATCHING, role: 'matching', accounts: [[0, 9]] },
        ],
      }),
    );
    const served = run(file);
    await served.ready;
    const url = /(ws:\/\/\S+)/.exec(served.lines.find((l) => l.startsWith('unwind serve: ws://'))!)![1]!;
    expect(served.lines.join('\n')).not.toMatch(/token \(generated\)/);

    const source = await FeedClient.connect({ url, token: SOURCE });
    const errors: string[] = [];
    source.on('serverError', (e) => errors.push(`${e.code} ${e.message}`));
    const order = new Promise<string>((r) => source.on('orders', (o) => r(o[0]!.id)));
    source.subscribe({ allOrders: true });
    // 1 ETH long, collateral 200, MMR 5%: at 2,900 equity 100 < maintenance 145.
    source.sendTicks([{ market: ETH, source: 7, price: 2900, confidence: 0, eventTimeUs: Date.now() * 1000, sourceSequence: 1 }]);
    source.sendTicks([{ market: ETH, source: 1, price: 2900, confidence: 0, eventTimeUs: Date.now() * 1000, sourceSequence: 1 }]);
    const id = await order;
    expect(errors).toEqual(["FORBIDDEN ticks[0].source: source 7 is outside this token's sources (1)"]);

    // The price source may not fill; the matching engine may, for its accounts.
    source.sendFills([{ orderId: id, account: 1, market: ETH, quantity: 1, price: 2900, eventTimeUs: Date.now() * 1000 }]);
    const matching = await FeedClient.connect({ url, token: MATCHING, acks: true });
    const sequence = matching.sendCollateral([{ account: 50, collateral: 1 }]);
    await expect(matching.accepted(sequence)).rejects.toMatchObject({ serverCode: 'FORBIDDEN' });
    await expect.poll(() => errors.length).toBe(2);
    expect(errors[1]).toBe('FORBIDDEN a source token may not send Fills frames; a matching token may');
    source.close();
    matching.close();
    child!.kill('SIGTERM');
    expect(await served.exit).toBe(0);
  });

  it('exits 2 naming the field of a bad token entry', async () => {
    const file = join(dir, 'bad-tokens.json');
    writeFileSync(file, config({ port: 0, tokens: [{ token: SOURCE, role: 'source', sources: [1], accounts: [[0, 9]] }] }));
    const served = run(file);
    expect(await served.exit).toBe(2);
    expect(served.stderr()).toMatch(/INVALID_CONFIG: tokens\[0\]\.accounts/);
  });

  it('exits 2 when server is not an object', async () => {
    const file = join(dir, 'bad-server.json');
    writeFileSync(file, config(['not', 'an', 'object']));
    const served = run(file);
    expect(await served.exit).toBe(2);
    expect(served.stderr()).toMatch(/INVALID_CONFIG: server/);
  });
});
