/**
 * The live risk page, as a person sees it: the real `unwind serve` (a child process of the built CLI, a temp journal,
 * a seeded book) serves /dashboard; headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) opens it
 * with a subscriber token in the fragment; a publisher pushes the tick that liquidates two accounts and fills their
 * orders, an admin halts ETH; the page shows the liquidations, the market statuses and the funds, and the test writes
 * a screenshot to $UNWIND_TEST_ARTIFACTS (default: the system temp dir)/unwind-dashboard.png.
 *
 * The book (BTC 0 at 50,000; ETH 1 at 3,000; maintenance 10%, initial 20%):
 *   account 7: 0.1 BTC long from 50,000 on 600 (at 44,000: equity 0, its order's limit 43,560, a deficit when filled);
 *   account 8: 0.1 BTC long from 50,000 on 900 (at 44,000: liquidatable, its fill pays a fee into the fund);
 *   accounts 9 and 10: an ETH short and an ETH long, healthy (ETH's ADL queues).
 * Needs `npm run build` first (npm test runs it): the CLI and the page are served from dist/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../src/feed/client.js';
import type { LiquidationOrder } from '../src/feed/codec.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const PUBLISHER = 'dashboard-publisher-token-0001';
const SUBSCRIBER = 'dashboard-subscriber-token-0001';
const ADMIN = 'dashboard-admin-token-00000001';
const TEN_PERCENT = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const SCREENSHOT = join(process.env.UNWIND_TEST_ARTIFACTS ?? tmpdir(), 'unwind-dashboard.png');

if (!HAS_CHROMIUM) console.warn(`dashboard-page: the browser test is skipped: ${CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it)`);

/** A port nobody listens on now (asked of the OS, then released for the server). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let dir = '';
let port = 0;
let serve: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  if (!existsSync(CLI) || !existsSync(join(ROOT, 'dist/dashboard/app.js'))) throw new Error('dist/ is not built: run npm run build (npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'unwind-dashboard-'));
  port = await freePort();
  const config = {
    server: { host: '127.0.0.1', port, publisherTokens: [PUBLISHER], subscriberTokens: [SUBSCRIBER], adminTokens: [ADMIN], listenRetryMs: 0 },
    // An hour before an order times out: the server's clock readings must not expire the orders this test fills.
    engine: { journal: { dir: join(dir, 'journal') }, scanWorkers: 0, orderTimeoutUs: 3_600_000_000 },
    markets: [
      { id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TEN_PERCENT },
      { id: 1, symbol: 'ETH-USD', price: 3_000, tiers: TEN_PERCENT },
    ],
    accounts: [
      { id: 7, collateral: 600, positions: [{ market: 0, size: 0.1, entryPrice: 50_000, isolatedCollateral: null }] },
      { id: 8, collateral: 900, positions: [{ market: 0, size: 0.1, entryPrice: 50_000, isolatedCollateral: null }] },
      // ETH's two ADL queues, one position each.
      { id: 9, collateral: 2_000, positions: [{ market: 1, size: -1, entryPrice: 3_000, isolatedCollateral: null }] },
      { id: 10, collateral: 3_000, positions: [{ market: 1, size: 2, entryPrice: 2_900, isolatedCollateral: null }] },
    ],
  };
  writeFileSync(join(dir, 'serve.json'), JSON.stringify(config));
  serve = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'serve.json'), '--stats-every', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  serve.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  serve.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  // Ready when the page is served (whatever the server prints meanwhile).
  for (let i = 0; ; i++) {
    if (serve.exitCode !== null) throw new Error(`unwind serve exited ${serve.exitCode}: ${output}`);
    const ok = await fetch(`http://127.0.0.1:${port}/dashboard/`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 600) throw new Error(`unwind serve did not serve /dashboard/ within 60 s: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  if (serve !== undefined && serve.exitCode === null) {
    const exited = new Promise((r) => serve!.once('exit', r));
    serve.kill('SIGTERM');
    await exited;
  }
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('the live risk page', () => {
  it('is served as static files with their content types, the feed path filled in, and a bundle with no Node code', async () => {
    const page = await fetch(`http://127.0.0.1:${port}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('<meta name="unwind-feed-path" content="/v1/feed">');
    const app = await fetch(`http://127.0.0.1:${port}/dashboard/app.js`);
    expect(app.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(app.headers.get('x-content-type-options')).toBe('nosniff');
    const js = await app.text();
    expect(js).toBe(readFileSync(join(ROOT, 'dist/dashboard/app.js'), 'utf8'));
    // Browser code only: no Node builtin, no CommonJS require, no `ws` (browsers have their own WebSocket).
    expect(js).not.toMatch(/["']node:|\brequire\(|from ?["']ws["']|import\(["']ws["']\)/);
    expect((await fetch(`http://127.0.0.1:${port}/dashboard/..%2F..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/dashboard/serve.json`)).status).toBe(404);
  });

  it.skipIf(!HAS_CHROMIUM)(
    'connects in Chromium with a subscriber token, shows two liquidations after a tick, their fills, and a market halted by the kill switch',
    async () => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
      const url = `ws://127.0.0.1:${port}/v1/feed`;
      const venue = await FeedClient.connect({ url, token: PUBLISHER, reconnect: false });
      const admin = await FeedClient.connect({ url, token: ADMIN, reconnect: false });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`http://127.0.0.1:${port}/dashboard/#token=${SUBSCRIBER}`);
        await page.locator('#connection', { hasText: 'connected' }).waitFor();
        const btc = page.locator('#markets tr[data-market="0"]');
        await expect.poll(() => btc.textContent(), { timeout: 15_000 }).toContain('50,000.00');

        // The tick that liquidates accounts 7 and 8; the venue hears their orders.
        const orders = new Promise<LiquidationOrder[]>((resolve) => venue.on('orders', (os) => resolve([...os])));
        venue.subscribe({ allOrders: true });
        const now = (): number => Date.now() * 1000;
        venue.sendTicks([{ market: 0, source: 1, price: 44_000, confidence: 0, eventTimeUs: now(), sourceSequence: 1 }]);
        const issued = (await orders).sort((a, b) => a.account - b.account);
        expect(issued.map((o) => [o.account, o.side])).toEqual([
          [7, 'sell'],
          [8, 'sell'],
        ]);
        for (const o of issued) {
          const row = page.locator(`#liquidations tr[data-order-id="${o.id}"]`);
          await expect.poll(() => row.textContent(), { timeout: 15_000 }).toContain('issued');
        }
        await expect.poll(() => btc.textContent(), { timeout: 15_000 }).toContain('44,000.00');

        // The venue fills both at their limits: the page follows each to its settlement.
        venue.sendFills(issued.map((o) => ({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: now() })));
        for (const o of issued) {
          const row = page.locator(`#liquidations tr[data-order-id="${o.id}"]`);
          await expect.poll(() => row.textContent(), { timeout: 15_000 }).toContain(`filled ${Number(o.quantity.toPrecision(6))} @ ${o.limitPrice}`);
        }

        // An operator halts ETH; the next input's epoch carries the market's new status.
        admin.sendKillSwitch('halt', 1, 'desk halt');
        venue.sendTicks([{ market: 0, source: 1, price: 44_100, confidence: 0, eventTimeUs: now(), sourceSequence: 2 }]);
        const eth = page.locator('#markets tr[data-market="1"]');
        await expect.poll(() => eth.textContent(), { timeout: 15_000 }).toContain('paused (KILL_SWITCH)');
        expect(await eth.textContent()).toContain('halt');
        await expect.poll(() => page.locator('#latency-figures').textContent(), { timeout: 15_000 }).toMatch(/last \d+ us/);
        await expect.poll(() => page.locator('#funds-chart polyline').count(), { timeout: 15_000 }).toBe(2);
        await expect.poll(() => page.locator('#adl tbody tr').count(), { timeout: 15_000 }).toBe(2);
        expect(errors).toEqual([]);

        mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
        console.log(`dashboard-page: screenshot written to ${SCREENSHOT}`);
      } finally {
        venue.close();
        admin.close();
        await browser.close();
      }
    },
    120_000,
  );
});
