/**
 * GET /healthz and /readyz of `unwind serve` (README "Observability"): a real child process whose market takes its
 * prices from two oracle sources (unsigned reports, oracle.signatures off). Not ready until enough sources are fresh,
 * ready once they are, not ready again once they go stale; alive throughout. With a journal, the probe listener
 * answers while recovery replays, and says so.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FeedClient } from '../src/feed/client.js';
import { get, serveProcess, type Serving } from './support/prometheus.js';
import { removeTempDirs, tempDir } from './support/journal.js';

const dir = tempDir('unwind-probes-');
const SOURCE = 'a-source-token-for-probes-1';
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

function configFile(name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Polls `url` until `accept` holds for its answer (the server decides when; the test waits for it, within `ms`). */
async function until(url: string, accept: (r: { status: number; body: string }) => boolean, ms = 30_000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await get(url).catch(() => ({ status: 0, type: '', body: '' }));
    if (accept(r)) return r;
    if (Date.now() > deadline) throw new Error(`${url}: last answer ${r.status} ${r.body}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('GET /readyz and /healthz of unwind serve', () => {
  it('is not ready until enough oracle sources are fresh, ready once they are, and not ready once they go stale', async () => {
    const file = configFile('oracle.json', {
      server: { port: 0, tokens: [{ token: SOURCE, role: 'source', sources: [1, 2] }], metrics: { port: 0 } },
      engine: {
        scanWorkers: 0,
        capacity: { accounts: 10, positions: 10 },
        // Two fresh sources of two; a quote is fresh for 3 s of the server's clock (the wall clock).
        oracle: { signatures: 'off', markets: [{ market: ETH, sources: [{ id: 1 }, { id: 2 }], aggregation: { minFreshSources: 2, maxAgeUs: 3_000_000 } }] },
      },
      markets: [{ id: ETH, symbol: 'ETH-USD', price: 3000, tiers: TIERS }],
    });
    const s = serveProcess(['--config', file, '--stats-every', '0']);
    children.add(s);
    const listening = await s.line(/^unwind serve: ws:\/\//);
    const probe = listening.metricsUrl as string;
    const feed = (listening.url as string).replace(/^ws:\/\/([^/]+).*$/, 'http://$1');

    for (const base of [probe, feed]) {
      const r = await get(`${base}/readyz`);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toEqual({ ready: false, missing: [{ check: 'oracle', detail: 'too few fresh sources (ORACLE_STALE) for market 5', markets: [ETH] }] });
      expect((await get(`${base}/healthz`)).status).toBe(200);
    }

    const source = await FeedClient.connect({ url: listening.url as string, token: SOURCE, acks: true, reconnect: false });
    clients.add(source);
    const report = (id: number, sequence: number) => ({ market: ETH, source: id, price: 3000, confidence: 0, eventTimeUs: Date.now() * 1000, sourceSequence: sequence });
    // One source of the two: still stale.
    await source.accepted(source.sendTicks([report(1, 1)]));
    expect((await get(`${probe}/readyz`)).status).toBe(503);
    // Both: the market resumes and the server is ready.
    await source.accepted(source.sendTicks([report(1, 2), report(2, 1)]));
    const ready = await until(`${probe}/readyz`, (r) => r.status !== 503 || !r.body.includes('ORACLE_STALE'));
    expect(ready).toMatchObject({ status: 200, body: '{"ready":true}' });
    expect((await get(`${feed}/readyz`)).status).toBe(200);
    // Nothing more from the sources: once their quotes are 3 s old, not ready again (the health of the process holds).
    const stale = await until(`${probe}/readyz`, (r) => r.status === 503);
    expect(JSON.parse(stale.body).missing.map((m: { check: string }) => m.check)).toEqual(['oracle']);
    const health = await get(`${probe}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
  }, 60_000);

  it('answers on its probe listener while recovery replays the journal, then is ready', async () => {
    // A book of 60,000 accounts, no snapshot: 120,000 inputs the restart replays.
    const journal = join(dir, 'journal');
    const accounts = Array.from({ length: 60_000 }, (_, i) => ({ id: i + 1, collateral: 1_000, positions: [{ market: ETH, size: 1 + (i % 5), entryPrice: 3000, isolatedCollateral: null }] }));
    const file = configFile('journaled.json', {
      server: { port: 0, publisherTokens: ['a-publisher-token-for-probes'], metrics: { port: 0 }, statusIntervalMs: 0 },
      engine: { scanWorkers: 0, capacity: { markets: 1, accounts: 60_000, positions: 60_000 }, journal: { dir: journal, snapshotEveryRecords: 1e12 } },
      markets: [{ id: ETH, symbol: 'ETH-USD', price: 3000, tiers: TIERS }],
      accounts,
    });
    const first = serveProcess(['--config', file, '--stats-every', '0']);
    children.add(first);
    await first.line(/^engine:/);
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);

    const again = serveProcess(['--config', file, '--stats-every', '0']);
    children.add(again);
    const probe = (await again.line(/^metrics: /)).metricsUrl as string;
    const base = probe.replace(/\/metrics$/, '');
    // Every answer is either "recovering" (503, check recovery) or, once the server listens, ready: never silence.
    const answers: { status: number; check?: string }[] = [];
    for (;;) {
      const r = await get(`${base}/readyz`);
      const body = JSON.parse(r.body) as { ready: boolean; missing?: { check: string; detail: string }[] };
      answers.push({ status: r.status, check: body.missing?.[0]?.check });
      if (r.status === 200) break;
      expect(r.status).toBe(503);
      expect(body.missing).toHaveLength(1);
      expect(body.missing![0]!.check).toBe('recovery');
      expect(body.missing![0]!.detail).toMatch(/^(the engine is starting|replaying the journal: [\d.]+ of [\d.]+ MB, \d+ records)$/);
      expect((await get(`${base}/healthz`)).status).toBe(200);
    }
    const recovered = await again.line(/^recovery: /);
    expect(recovered.recovery).toMatchObject({ replayedRecords: expect.any(Number) });
    expect((recovered.recovery as { replayedRecords: number }).replayedRecords).toBeGreaterThanOrEqual(120_000);
    // The first answer came while the engine started (the replay takes far longer than a request on loopback).
    expect(answers[0]).toEqual({ status: 503, check: 'recovery' });
    expect(answers.at(-1)).toEqual({ status: 200, check: undefined });
  }, 120_000);
});
