/**
 * A deployed two-shard run on one machine (README "Sharding beyond one machine"): three `unwind serve` processes,
 * shard 0 of 2, shard 1 of 2 and a single engine, the same config but for `engine.shard` (the seeded book in `accounts`),
 * fed the same frames by one feed client each: prices, expiries of some of the orders, and now and then new accounts
 * and positions. Each process's orders come from its all-orders topic; the two shards' orders merged equal the single
 * engine's, epoch by epoch, byte for byte, ids included.
 *
 * Epoch boundaries must be the same in the three processes. A served engine forms an epoch from the inputs that landed
 * before it began (autoEpoch), so a frame sent while an epoch is in flight would make one of its own elsewhere. The
 * feed sends one frame at a time to all three and then waits for its epoch to have left each of them: a Subscribe to
 * marketSummaries is answered "as of an epoch that holds every earlier frame of the connection", after that epoch's
 * orders (README "Wire protocol"), so the answer is the barrier; it carries the epoch's number, which must agree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../src/feed/client.js';
import { shardOf, type LiquidationOrder } from '../src/index.js';
import { CLI, logMessage } from './support/cli.js';
import { mulberry32 } from '../src/sim/random.js';
import { compareOrders, shardBook } from './support/shard-book.js';

const PUBLISHER = 'shard-publisher-token-0123456789';
const SUBSCRIBER = 'shard-subscriber-token-0123456789';
const root = mkdtempSync(join(tmpdir(), 'unwind-shard-serve-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

interface Served {
  readonly name: string;
  readonly url: string;
  readonly output: () => string;
  readonly exit: Promise<number | null>;
}

/** Starts `unwind serve --config FILE`; resolves once it listens, with its feed URL. */
function serve(name: string, config: unknown): Promise<Served> {
  const file = join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const c = spawn(process.execPath, [CLI, 'serve', '--config', file, '--stats-every', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let output = '';
  c.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    createInterface({ input: c.stdout! }).on('line', (line) => {
      output += `${line}\n`;
      const url = /^unwind serve: (ws:\/\/\S+)/.exec(logMessage(line))?.[1];
      if (url !== undefined) resolve({ name, url, output: () => output, exit });
    });
    void exit.then((code) => reject(new Error(`${name} exited ${code}: ${output}`)));
  });
}

/** A feed client of one process: it publishes the frames, hears every order, and waits for a frame's epoch to leave. */
class Feed {
  readonly orders: LiquidationOrder[] = [];
  readonly errors: string[] = [];
  private barrier: ((epoch: number) => void) | undefined;

  private constructor(
    readonly name: string,
    readonly client: FeedClient,
  ) {
    client.on('orders', (os) => this.orders.push(...os));
    client.on('serverError', (e) => this.errors.push(`${e.code}: ${e.message}`));
    client.on('marketSummaries', (u) => {
      if (u.snapshot) this.barrier?.(u.epoch);
    });
  }

  static async connect(s: Served): Promise<Feed> {
    const feed = new Feed(s.name, await FeedClient.connect({ url: s.url, token: PUBLISHER, reconnect: false }));
    feed.client.subscribe({ allOrders: true });
    return feed;
  }

  /** The epoch that holds every frame this client sent, once it has left (its orders came before this answer). */
  async settled(): Promise<number> {
    const epoch = new Promise<number>((resolve) => (this.barrier = resolve));
    this.client.subscribe({ marketSummaries: true });
    const e = await epoch;
    this.barrier = undefined;
    this.client.unsubscribe({ marketSummaries: true });
    return e;
  }
}

describe('a deployed two-shard run: unwind serve processes fed by feed clients', () => {
  it("gives, merged, the single engine process's orders byte for byte, ids included, epoch by epoch", async () => {
    const book = shardBook(11, 40);
    const config = (shard?: { index: number; count: number }): unknown => ({
      server: { host: '127.0.0.1', port: 0, publisherTokens: [PUBLISHER], subscriberTokens: [SUBSCRIBER], statusIntervalMs: 0 },
      // The insurance fund starts empty (the serve config has no deposit) and no fill comes: an order a single engine
      // would deleverage for want of a fund, against counterparties in every shard, stays an order (autoDeleverage off).
      // Order time-outs would re-stamp positions in one shard alone: none (the clock is the wall clock, and an order
      // issued before its first reading was issued at event time 0, so the timeout is past any date).
      engine: { scanWorkers: 0, autoDeleverage: false, orderTimeoutUs: 1e18, capacity: { accounts: 512, positions: 2_048 }, ...(shard === undefined ? {} : { shard }) },
      markets: book.markets,
      accounts: book.accounts,
    });
    const served = await Promise.all([serve('single', config()), serve('shard-0', config({ index: 0, count: 2 })), serve('shard-1', config({ index: 1, count: 2 }))]);
    const feeds = await Promise.all(served.map((s) => Feed.connect(s)));
    const epochsOf = async (): Promise<number[]> => Promise.all(feeds.map((f) => f.settled()));
    // The book loaded, in the same epochs everywhere.
    const first = await epochsOf();
    expect(new Set(first).size, `the book's epochs: ${first}`).toBe(1);
    // One frame to every process, then its epoch must have left each, under the same number everywhere.
    let expected = first[0]!;
    const boundaries: number[] = [];
    const frame = async (what: string, send: (c: FeedClient) => void): Promise<void> => {
      for (const f of feeds) send(f.client);
      const epochs = await epochsOf();
      expect(epochs, `${what}: the epochs (${feeds.flatMap((f) => f.errors.map((e) => `${f.name}: ${e}`)).join('; ')})`).toEqual([++expected, expected, expected]); // one frame, one epoch
      boundaries.push(expected);
    };
    const random = mulberry32(11);
    const [single] = feeds as [Feed];
    let opened = 1_000;
    const allExpired: string[] = [];
    for (const [k, step] of book.steps.entries()) {
      await frame(`step ${k}`, (c) => c.sendTicks(step.map(({ market, price }) => ({ market, source: 1, price, confidence: 0, eventTimeUs: (k + 1) * 1_000_000, sourceSequence: k + 1 }))));
      // The venue expires some of the epoch's orders (ids are the same in every process): each position is re-stamped
      // under the expiry's sequence number, and one still liquidatable gets a new order with a new id.
      const expired = single.orders.filter((o) => o.epoch === expected && random() < 0.3).map((o) => o.id);
      if (expired.length > 0) await frame(`step ${k}: expiries`, (c) => c.sendExpiries(expired, (k + 1) * 1_000_000));
      allExpired.push(...expired);
      if (k % 10 === 5) {
        // New accounts (a collateral update opens one) and positions, in frames that mix both shards' accounts.
        const accounts = Array.from({ length: 10 }, () => ++opened);
        const collateral = accounts.map((account) => ({ account, collateral: 500 + random() * 500 }));
        await frame(`step ${k}: accounts`, (c) => c.sendCollateral(collateral));
        const rows = accounts.map((account, i) => ({ account, market: 1 + (i % 3), size: ((i % 2 === 0 ? 1 : -1) * 8_000) / step[i % 3]!.price, entryPrice: step[i % 3]!.price, isolatedCollateral: null }));
        await frame(`step ${k}: positions`, (c) => c.sendPositions(rows));
      }
    }
    for (const f of feeds) expect(f.errors, f.name).toEqual([]);
    const [, shard0, shard1] = feeds as [Feed, Feed, Feed];
    expect(single.orders.length).toBeGreaterThan(20);
    expect(shard0.orders.length).toBeGreaterThan(0);
    expect(shard1.orders.length).toBeGreaterThan(0);
    expect(shard0.orders.every((o) => shardOf(o.account, 2) === 0) && shard1.orders.every((o) => shardOf(o.account, 2) === 1)).toBe(true);
    const json = (os: readonly LiquidationOrder[]): string => JSON.stringify(os);
    for (const epoch of boundaries) {
      const of = (f: Feed): LiquidationOrder[] => f.orders.filter((o) => o.epoch === epoch);
      // Each shard's stream is the single engine's orders of its accounts, in its order; merged, they are all of them.
      expect(json(of(shard0)), `epoch ${epoch}, shard 0`).toBe(json(of(single).filter((o) => shardOf(o.account, 2) === 0)));
      expect(json(of(shard1)), `epoch ${epoch}, shard 1`).toBe(json(of(single).filter((o) => shardOf(o.account, 2) === 1)));
      expect(json([...of(shard0), ...of(shard1)].sort(compareOrders)), `epoch ${epoch}`).toBe(json([...of(single)].sort(compareOrders)));
    }
    expect(shard0.orders.length + shard1.orders.length).toBe(single.orders.length);
    // Expired orders' positions were ordered again, under ids that carry the expiries' sequence numbers.
    const reordered = single.orders.filter((o) => allExpired.some((id) => id !== o.id && id.startsWith(`${o.account}-${o.market}-`)));
    expect(reordered.length).toBeGreaterThan(0);
    expect(served[1]!.output()).toMatch(/engine: 3 markets, \d+ accounts \(shard 0 of 2: its accounts only\)/);
    // No shard did what it cannot do exactly (it would say so once, as a process warning).
    for (const s of served) expect(s.output(), s.name).not.toMatch(/UNWIND_SHARD_INEXACT/);
    for (const f of feeds) f.client.close();
    for (const c of children) c.kill('SIGTERM');
    expect(await Promise.all(served.map((s) => s.exit))).toEqual([0, 0, 0]);
  }, 120_000);
});
