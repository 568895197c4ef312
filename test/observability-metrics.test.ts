/**
 * GET /metrics of `unwind serve` (README "Observability"), as Prometheus scrapes it: a real child process, real feed
 * clients over loopback, the text format parsed. Counters move by exactly what the feed did; the deficit and fund
 * figures match the engine's own events (an in-process server, real sockets).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FeedClient } from '../src/feed/client.js';
import { Engine } from '../src/index.js';
import { FeedServer } from '../src/feed/server.js';
import { get, parseMetrics, scrape, serveProcess, value, type Scrape, type Serving } from './support/prometheus.js';
import { removeTempDirs, tempDir } from './support/journal.js';

const dir = tempDir('unwind-observability-');
const SOURCE = 'a-source-token-for-metrics-1';
const DESK = 'a-subscriber-token-for-metrics';
const ETH = 5;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 }];

const children = new Set<Serving>();
const clients = new Set<FeedClient>();
afterEach(() => {
  for (const c of clients) c.close();
  clients.clear();
  for (const s of children) s.child.kill('SIGKILL');
  children.clear();
});
afterAll(removeTempDirs);

/** `unwind serve` with one ETH market and one account, 1 ETH long on 200 of collateral (liquidatable below 3,000 - 100/0.95). */
async function served(server: Record<string, unknown> = {}): Promise<{ s: Serving; url: string; metricsUrl: string }> {
  const file = join(dir, `serve-${children.size}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      server: { port: 0, tokens: [{ token: SOURCE, role: 'source', sources: [1] }, { token: DESK, role: 'subscriber' }], metrics: { port: 0 }, ...server },
      engine: { scanWorkers: 0, capacity: { accounts: 10, positions: 10 } },
      markets: [{ id: ETH, symbol: 'ETH-USD', price: 3000, tiers: TIERS }],
      accounts: [{ id: 1, collateral: 200, positions: [{ market: ETH, size: 1, entryPrice: 3000, isolatedCollateral: null }] }],
    }),
  );
  const s = serveProcess(['--config', file, '--stats-every', '0']);
  children.add(s);
  const listening = await s.line(/^unwind serve: ws:\/\//);
  // The probe listener's URL, when it has one (logged before the feed listens), else the feed listener's /metrics.
  return { s, url: listening.url as string, metricsUrl: `${(listening.metricsUrl as string | null) ?? listening.url}/metrics` };
}

async function connect(url: string, token: string, acks = false): Promise<FeedClient> {
  const c = await FeedClient.connect({ url, token, acks, reconnect: false });
  clients.add(c);
  return c;
}

const tick = (price: number, sourceSequence: number) => ({ market: ETH, source: 1, price, confidence: 0, eventTimeUs: Date.now() * 1000, sourceSequence });
const delta = (after: Scrape, before: Scrape, key: string): number => value(after, key) - value(before, key);

describe('GET /metrics of unwind serve', () => {
  it('counts the ticks taken, the frame rejected, and the liquidation with its tick-to-order latency', async () => {
    const { url, metricsUrl } = await served();
    const source = await connect(url, SOURCE, true);
    const desk = await connect(url, DESK);
    const orders: string[] = [];
    const order = new Promise<void>((resolve) =>
      desk.on('orders', (batch) => {
        orders.push(...batch.map((o) => o.id));
        resolve();
      }),
    );
    desk.subscribe({ allOrders: true });
    const before = await scrape(metricsUrl);

    // 4 frames of 3 ticks, all above the liquidation price; frames land in order, so the last one's Ack covers all.
    let sequence = 0;
    let last = 0;
    for (let f = 0; f < 4; f++) last = source.sendTicks([tick(3000 + f, ++sequence), tick(3001 + f, ++sequence), tick(3002 + f, ++sequence)]);
    await source.accepted(last);
    // A NaN price: the frame is rejected whole (INVALID_FIELD) and nothing of it lands.
    const rejected = await source.accepted(source.sendTicks([tick(3000, ++sequence), tick(Number.NaN, ++sequence)])).catch((e: { serverCode?: string }) => e.serverCode);
    expect(rejected).toBe('INVALID_FIELD');
    const quiet = await scrape(metricsUrl);
    expect(delta(quiet, before, 'unwind_inputs_total{kind="tick"}')).toBe(12);
    expect(delta(quiet, before, 'unwind_rejects_total{code="INVALID_FIELD"}')).toBe(1);
    expect(delta(quiet, before, 'unwind_orders_total')).toBe(0);
    expect(delta(quiet, before, 'unwind_tick_to_order_seconds_count')).toBe(0);
    expect(value(quiet, 'unwind_feed_connections{role="source"}')).toBe(1);
    expect(value(quiet, 'unwind_feed_connections{role="subscriber"}')).toBe(1);
    expect(delta(quiet, before, 'unwind_feed_frames_received_total')).toBeGreaterThanOrEqual(5);

    // 2,900: equity 100 < maintenance 145. One order, one tick-to-order sample.
    source.sendTicks([tick(2900, ++sequence)]);
    await order;
    const after = await scrape(metricsUrl);
    expect(orders).toHaveLength(1);
    expect(delta(after, quiet, 'unwind_inputs_total{kind="tick"}')).toBe(1);
    expect(delta(after, before, 'unwind_orders_total')).toBe(1);
    expect(value(after, 'unwind_open_orders')).toBe(1);
    expect(delta(after, before, 'unwind_tick_to_order_seconds_count')).toBe(1);
    expect(delta(after, before, 'unwind_tick_to_order_seconds_bucket{le="+Inf"}')).toBe(1);
    expect(delta(after, before, 'unwind_tick_to_order_seconds_sum')).toBeGreaterThan(0);
    // Every epoch that began was timed from its start to its decision; at least the liquidation's.
    const epochs = delta(after, before, 'unwind_epochs_total');
    const scans = delta(after, before, 'unwind_epoch_scan_seconds_count');
    expect(scans).toBeGreaterThanOrEqual(1);
    expect(scans).toBeLessThanOrEqual(epochs);
    expect(delta(after, before, 'unwind_rejects_total{code="INVALID_FIELD"}')).toBe(1);
  });

  it('writes the text format, every family with HELP and TYPE, the process metrics included', async () => {
    const { metricsUrl } = await served();
    const r = await get(metricsUrl);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const s = parseMetrics(r.body);
    for (const key of s.samples.keys()) {
      const name = key.replace(/\{.*$/, '');
      const family = [...s.types.keys()].find((f) => name === f || name === `${f}_bucket` || name === `${f}_sum` || name === `${f}_count`);
      expect(family, `the family of ${key}`).toBeDefined();
      expect(s.helps.has(family!), `HELP of ${family}`).toBe(true);
    }
    expect(s.types.get('unwind_inputs_total')).toBe('counter');
    expect(s.types.get('unwind_open_orders')).toBe('gauge');
    expect(s.types.get('unwind_tick_to_order_seconds')).toBe('histogram');
    expect(s.types.get('process_cpu_seconds_total')).toBe('counter');
    expect(s.types.get('nodejs_eventloop_lag_p99_seconds')).toBe('gauge');
    // The latency buckets span 10 us to 1 s.
    const les = [...s.samples.keys()].filter((k) => k.startsWith('unwind_epoch_scan_seconds_bucket')).map((k) => /le="([^"]+)"/.exec(k)![1]!);
    expect(les.slice(0, 1)).toEqual(['0.00001']);
    expect(les.slice(-2)).toEqual(['1', '+Inf']);
    // Labelled families exist before their first event, at 0.
    expect(s.samples.get('unwind_inputs_total{kind="kill_switch"}')).toBe(0);
    expect(s.samples.get('unwind_deficits_total{resolution="unresolved"}')).toBe(0);
    expect(s.samples.get('unwind_insurance_fund_quote{fund="5"}')).toBe(0);
  });

  it("needs a token of the server for /metrics on the feed's own listener, and none for the probes there", async () => {
    const { url } = await served({ metrics: undefined });
    const http = url.replace(/^ws:\/\/([^/]+).*$/, 'http://$1');
    expect((await get(`${http}/metrics`)).status).toBe(401);
    expect((await get(`${http}/metrics`, 'not-a-token-of-this-server')).status).toBe(401);
    const withToken = await get(`${http}/metrics`, DESK);
    expect(withToken.status).toBe(200);
    expect(parseMetrics(withToken.body).samples.has('unwind_orders_total')).toBe(true);
    expect((await get(`${http}/healthz`)).status).toBe(200);
    expect((await get(`${http}/readyz`)).status).toBe(200);
  });

  it('refuses a metrics listener without a port, naming the field (exit 2)', async () => {
    const file = join(dir, 'bad-metrics.json');
    writeFileSync(file, JSON.stringify({ server: { port: 0, metrics: { host: '127.0.0.1' } } }));
    const s = serveProcess(['--config', file]);
    children.add(s);
    expect(await s.exit).toBe(2);
    expect(s.stderr()).toMatch(/INVALID_CONFIG: metrics(\.port|: missing key "port")/);
  });
});

describe('deficits and insurance funds in /metrics', () => {
  /**
   * 1 ETH long on 200, the fund seeded with 10, the price gapping to 2,700 (bankruptcy 2,800): the order's fill at its
   * limit is 103.5 beyond what the fund pays. Where that goes depends on the policy and on who holds the other side.
   */
  const cases = [
    { policy: 'adl', counterparty: false, expected: { insurance: [1, 10], unresolved: [1, 103.5] } },
    { policy: 'socialized', counterparty: true, expected: { insurance: [1, 10], socialized: [1, 103.5] } },
    // Under 'adl' the order the fund could not pay is never sent: the position is deleveraged against the short.
    { policy: 'adl', counterparty: true, expected: { adl: [1, 100] } },
  ] as const;

  it.each(cases)('names each deficit by how it was paid (deficitPolicy $policy, a counterparty: $counterparty)', async ({ policy, counterparty, expected }) => {
    const engine = await Engine.start({ scanWorkers: 0, capacity: { markets: 1, accounts: 10, positions: 10 }, deficitPolicy: policy });
    const server = await FeedServer.start(engine, { port: 0, publisherTokens: ['publisher-token-for-metrics-1'], statusIntervalMs: 0 });
    try {
      engine.addMarket({ id: ETH, symbol: 'ETH-USD', price: 3000, tiers: TIERS });
      engine.addAccount(1, 200);
      engine.upsertPosition({ account: 1, market: ETH, size: 1, entryPrice: 3000 });
      if (counterparty) {
        engine.addAccount(2, 100_000);
        engine.upsertPosition({ account: 2, market: ETH, size: -1, entryPrice: 3000 });
      }
      engine.depositInsurance(ETH, 10);
      await engine.step();
      // What the engine itself reports, by the same names.
      const heard = new Map<string, [number, number]>();
      const add = (how: string, quote: number): void => {
        const [n, q] = heard.get(how) ?? [0, 0];
        heard.set(how, [n + 1, q + quote]);
      };
      engine.onFill((f) => f.insuranceCover > 0 && add('insurance', f.insuranceCover));
      engine.onUnresolvedDeficit((u) => add('unresolved', u.amount));
      engine.onSocializedLoss((l) => add(l.method === 'pro-rata' ? 'socialized' : 'adl', l.amount));
      engine.onDeleverage((d) => add('adl', d.absorbed));
      engine.pushPrice(ETH, 2700);
      const { orders } = await engine.step();
      for (const o of orders) engine.fill({ orderId: o.id, account: o.account, market: ETH, quantity: o.quantity, price: o.limitPrice, eventTimeUs: 1 });
      await engine.step();
      await engine.settled();
      expect(Object.fromEntries(heard)).toEqual(expected);
      const s = parseMetrics(await server.metrics.metrics());
      for (const how of ['insurance', 'adl', 'socialized', 'unresolved']) {
        const [n, quote] = heard.get(how) ?? [0, 0];
        expect(value(s, `unwind_deficits_total{resolution="${how}"}`), how).toBe(n);
        expect(value(s, `unwind_deficit_quote_total{resolution="${how}"}`), how).toBeCloseTo(quote, 9);
      }
      expect(value(s, `unwind_insurance_fund_quote{fund="${ETH}"}`)).toBe(engine.insuranceFund(ETH));
      expect(value(s, 'unwind_orders_total')).toBe(orders.length);
      expect(value(s, 'unwind_open_orders')).toBe(engine.openOrders().length);
    } finally {
      await server.close();
      await engine.close();
    }
  });
});
