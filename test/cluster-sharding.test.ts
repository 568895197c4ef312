/**
 * Sharding across engines (README "Sharding beyond one machine"): two engines configured as shards 0 and 1 of 2 take
 * every input a single engine takes, and each applies those of the accounts `shardOf` gives it. Every input then has
 * the same sequence number in each, so the ids derived from them are the same: each shard's orders are the single
 * engine's orders of its accounts, in its order, and the two streams merged are the single engine's stream, epoch by
 * epoch, byte for byte, ids included (both put in the order the orders' own fields give: the executor's, docs/domain.md
 * section 7, but for orders equally underwater, which it ranks by their positions' notional, not carried by an order). Seeded books over several seeds; cross
 * accounts in several markets, isolated positions, batches that mix the shards' accounts, jumps that liquidate and
 * margin-call many accounts at once, fills and expiries of the orders (which re-stamp positions under new sequences).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, ErrorCode, shardOf, type EngineConfig, type Fill, type Input, type LiquidationOrder, type MarginCall, type PositionUpdate } from '../src/index.js';
import { replayJournal } from '../src/engine/replay.js';
import { mulberry32 } from '../src/sim/random.js';
import { codeOf } from './support/errors.js';
import { firstDifference, tableBytes } from './support/feed.js';
import { compareOrders as compare, MARKETS, shardBook, TIERS, type ShardBook } from './support/shard-book.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The seeded book as inputs: markets and funds, then accounts and positions in batches that mix both shards' accounts. */
function bookInputs(book: ShardBook): Input[] {
  const inputs: Input[] = [];
  for (const m of book.markets) inputs.push({ kind: 'market', spec: m }, { kind: 'insurance', market: m.id, amount: 1e9 });
  const batch: PositionUpdate[] = [];
  for (const { id, collateral, positions } of book.accounts) {
    // Three ways in: one account at a time, a collateral batch that opens accounts, an account then a collateral update.
    const way = id % 3;
    if (way === 0) inputs.push({ kind: 'account', id, collateral });
    else if (way === 1) inputs.push({ kind: 'collaterals', updates: [{ account: id, collateral }], createAccounts: true });
    else inputs.push({ kind: 'account', id, collateral: 0 }, { kind: 'collateral', account: id, collateral });
    for (const p of positions) ((id + p.market) % 3 === 0 ? inputs.push({ kind: 'position', update: { ...p, account: id } }) : batch.push({ ...p, account: id }));
    if (batch.length >= 40) inputs.push({ kind: 'positions', updates: batch.splice(0) });
  }
  if (batch.length > 0) inputs.push({ kind: 'positions', updates: batch.splice(0) });
  return inputs;
}

const CONFIG: EngineConfig = { scanWorkers: 0, autoEpoch: false, orderTimeoutUs: Infinity, capacity: { markets: MARKETS, accounts: 512, positions: 2_048 } };

interface Epoch {
  readonly orders: LiquidationOrder[];
  readonly calls: MarginCall[];
  readonly lastSequence: number;
}

/**
 * Runs `seed`'s book through a single engine and shards 0 and 1 of 2, every input to all three. After each epoch a
 * seeded part of its orders is filled (whole or in part) and another part expired, one batch each for all engines.
 */
async function runAll(seed: number, journalOf?: (k: number) => string): Promise<{ single: Epoch[]; shards: Epoch[][]; engines: Engine[] }> {
  const engines = [await Engine.start(CONFIG)];
  for (const k of [0, 1]) engines.push(await Engine.start({ ...CONFIG, shard: { index: k, count: 2 }, ...(journalOf === undefined ? {} : { journal: { dir: journalOf(k), durability: 'group' } }) }));
  const deficits: string[] = [];
  for (const e of engines) {
    e.onDeleverage((d) => deficits.push(`deleverage ${d.account}`));
    e.onUnresolvedDeficit((u) => deficits.push(`unresolved ${u.account}`));
  }
  const all = (input: Input): void => engines.forEach((e) => e.submit(input));
  const book = shardBook(seed);
  for (const input of bookInputs(book)) all(input);
  const epochs: Epoch[][] = [[], [], []];
  const step = async (): Promise<EpochResultish[]> => Promise.all(engines.map((e) => e.step()));
  type EpochResultish = Awaited<ReturnType<Engine['step']>>;
  await step();
  const random = mulberry32(seed + 7);
  let timeUs = 1_000_000;
  for (const prices of book.steps) {
    all({ kind: 'prices', updates: prices });
    const results = await step();
    results.forEach((r, i) => epochs[i]!.push({ orders: r.orders, calls: r.marginCalls, lastSequence: r.lastSequence }));
    // The venue's answers to the single engine's orders (which the test checks are the shards' orders too).
    const fills: Fill[] = [];
    const expired: string[] = [];
    timeUs += 1_000_000;
    for (const o of results[0]!.orders) {
      const r = random();
      if (r < 0.4) fills.push({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: timeUs });
      else if (r < 0.6) fills.push({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity / 2, price: o.limitPrice, eventTimeUs: timeUs });
      else if (r < 0.8) expired.push(o.id);
    }
    if (fills.length > 0) all({ kind: 'fills', fills });
    if (expired.length > 0) all({ kind: 'expiries', orderIds: expired });
  }
  expect(deficits).toEqual([]); // the funds cover every fill: nothing here is a whole-book decision
  return { single: epochs[0]!, shards: [epochs[1]!, epochs[2]!], engines };
}

const json = (x: unknown): string => JSON.stringify(x);

describe('two shards of accounts, fed every input', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`merged, give the single engine's orders byte for byte, ids included, and its margin calls, at every epoch (seed ${seed})`, async () => {
      const { single, shards, engines } = await runAll(seed);
      try {
        expect(single.flat().length).toBeGreaterThan(0);
        const liquidated = single.flatMap((e) => e.orders).length;
        expect(liquidated).toBeGreaterThan(20); // the jumps do liquidate
        expect(shards.every((s) => s.some((e) => e.orders.length > 0))).toBe(true); // both shards take part
        // Fills and expiries re-stamped positions: some orders carry a sequence from after the book was loaded.
        const loaded = single[0]!.lastSequence - MARKETS; // the first price batch's sequence numbers
        expect(single.flatMap((e) => e.orders).some((o) => o.positionSequence > loaded)).toBe(true);
        for (let e = 0; e < single.length; e++) {
          for (const [k, s] of shards.entries()) {
            expect(s[e]!.lastSequence, `epoch ${e}, shard ${k}: input sequence`).toBe(single[e]!.lastSequence);
            expect(json(s[e]!.orders), `epoch ${e}, shard ${k}`).toBe(json(single[e]!.orders.filter((o) => shardOf(o.account, 2) === k)));
          }
          const merged = [...shards[0]![e]!.orders, ...shards[1]![e]!.orders].sort(compare);
          expect(json(merged), `epoch ${e}`).toBe(json([...single[e]!.orders].sort(compare)));
          const calls = [...shards[0]![e]!.calls, ...shards[1]![e]!.calls].map(json).sort();
          expect(calls, `margin calls, epoch ${e}`).toEqual(single[e]!.calls.map(json).sort());
        }
        // Each shard's tables hold its own accounts only, and it stayed exact.
        for (const k of [0, 1]) {
          const shard = engines[k + 1]!;
          expect(shard.counts.accounts).toBe(Array.from({ length: 400 }, (_, i) => i + 1).filter((a) => shardOf(a, 2) === k).length);
          expect(shard.shard).toEqual({ index: k, count: 2, inexact: 0, firstInexact: null });
          expect(shard.lastSequence).toBe(engines[0]!.lastSequence);
        }
      } finally {
        await Promise.all(engines.map((e) => e.close()));
      }
    }, 120_000);
  }

  it("replaying a shard's journal gives the same orders (the same output digest) and the same input sequence", async () => {
    const root = mkdtempSync(join(tmpdir(), 'unwind-shards-'));
    dirs.push(root);
    const { engines } = await runAll(5, (k) => join(root, `shard-${k}`));
    const live = engines.slice(1).map((e) => ({ digest: e.outputDigest(), sequence: e.lastSequence }));
    await Promise.all(engines.map((e) => e.close()));
    for (const k of [0, 1]) {
      const replayed = await replayJournal(join(root, `shard-${k}`), { workers: 0 });
      expect(replayed.outputDigest, `shard ${k}`).toBe(live[k]!.digest);
      expect(replayed.outputs.order).toBeGreaterThan(0);
      // Recovery (the RecordApplier, as a standby's) reaches the same state: the same input sequence and digest.
      const recovered = await Engine.start({ ...CONFIG, shard: { index: k, count: 2 }, journal: { dir: join(root, `shard-${k}`) } });
      expect(recovered.lastSequence).toBe(live[k]!.sequence);
      expect(recovered.outputDigest()).toBe(live[k]!.digest);
      await recovered.close();
    }
    // A shard's journal is its shard's: under the other shard's config it would decide otherwise, and is refused.
    await expect(Engine.start({ ...CONFIG, shard: { index: 1, count: 2 }, journal: { dir: join(root, 'shard-0') } })).rejects.toMatchObject({ code: ErrorCode.JournalMismatch });
  }, 120_000);
});

describe('a shard and the inputs of accounts it does not hold', () => {
  /** Accounts of shard 1 of 2 (so not shard 0's). */
  const others = Array.from({ length: 40 }, (_, i) => i + 1).filter((a) => shardOf(a, 2) === 1);

  async function engines(): Promise<{ single: Engine; shard: Engine; all: Engine[] }> {
    const single = await Engine.start(CONFIG);
    const shard = await Engine.start({ ...CONFIG, shard: { index: 0, count: 2 } });
    for (const e of [single, shard]) {
      e.addMarket({ id: 1, price: 100, tiers: TIERS });
      e.depositInsurance(1, 1e6);
      await e.step();
    }
    return { single, shard, all: [single, shard] };
  }

  it('are sequenced as a single engine sequences them, and change nothing in its tables, ledger or funds', async () => {
    const { single, shard, all } = await engines();
    try {
      const [a, b, c] = others as [number, number, number];
      const before = tableBytes(shard);
      const fund = shard.insuranceFund(1);
      const inputs: Input[] = [
        { kind: 'account', id: a, collateral: 1_000 },
        { kind: 'collaterals', updates: [{ account: b, collateral: 500 }, { account: c, collateral: 700 }], createAccounts: true },
        { kind: 'collateral', account: a, collateral: 2_000 },
        { kind: 'position', update: { account: a, market: 1, size: 100, entryPrice: 100 } },
        { kind: 'positions', updates: [{ account: b, market: 1, size: -2, entryPrice: 101, isolatedCollateral: 30 }, { account: c, market: 1, size: 1, entryPrice: 99 }] },
      ];
      for (const input of inputs) {
        for (const e of all) e.submit(input);
        expect(shard.lastSequence).toBe(single.lastSequence);
      }
      expect(firstDifference(tableBytes(shard), before)).toBe(-1);
      expect([a, b, c].some((x) => shard.hasAccount(x))).toBe(false);
      expect([a, b, c].every((x) => single.hasAccount(x))).toBe(true);
      expect(shard.counts).toEqual({ markets: 1, accounts: 0, positions: 0 });
      expect(String(shard.ledger.total())).toBe('0');
      // A price that liquidates account a in the single engine: its order's id is the shard's numbering too.
      for (const e of all) e.pushPrice(1, 60);
      const [s, h] = await Promise.all(all.map((e) => e.step()));
      expect(s!.orders.map((o) => o.account)).toContain(a);
      expect(h!.orders).toEqual([]);
      // Its fill and its expiry: sequenced, and nothing in the shard's funds, orders or ledger moves.
      const order = s!.orders.find((o) => o.account === a)!;
      const expiring = s!.orders.find((o) => o.account !== a);
      for (const e of all) e.fill({ orderId: order.id, account: a, market: 1, quantity: order.quantity / 2, price: order.limitPrice, eventTimeUs: 5_000_000 });
      if (expiring !== undefined) for (const e of all) e.expire(expiring.id);
      expect(shard.lastSequence).toBe(single.lastSequence);
      expect(shard.insuranceFund(1)).toBe(fund);
      expect(shard.openOrders()).toEqual([]);
      expect(String(shard.ledger.total())).toBe('0');
      expect(shard.shard.inexact).toBe(0);
    } finally {
      await Promise.all(all.map((e) => e.close()));
    }
  });

  it('are refused by every shard alike when malformed: the checks that need no account', async () => {
    const { single, shard, all } = await engines();
    try {
      const a = others[0]!;
      const bad: [Input, string][] = [
        [{ kind: 'account', id: a, collateral: Infinity }, ErrorCode.InvalidAmount],
        [{ kind: 'account', id: 1.5, collateral: 1 }, ErrorCode.InvalidId],
        [{ kind: 'collateral', account: a, collateral: NaN }, ErrorCode.InvalidAmount],
        [{ kind: 'position', update: { account: a, market: 1, size: NaN, entryPrice: 100 } }, ErrorCode.InvalidSize],
        [{ kind: 'position', update: { account: a, market: 9, size: 1, entryPrice: 100 } }, ErrorCode.UnknownMarket],
        [{ kind: 'positions', updates: [{ account: a, market: 1, size: 1, entryPrice: -3 }] }, ErrorCode.InvalidPrice],
        [{ kind: 'fills', fills: [{ orderId: 'not-an-id', account: a, market: 1, quantity: 1, price: 100, eventTimeUs: 0 }] }, ErrorCode.UnknownOrder],
        [{ kind: 'fills', fills: [{ orderId: `${a}-1-5`, account: a, market: 1, quantity: 0, price: 100, eventTimeUs: 0 }] }, ErrorCode.InvalidFill],
        [{ kind: 'expiries', orderIds: ['nope'] }, ErrorCode.UnknownOrder],
        [{ kind: 'expiries', orderIds: [`${a}-1-5`, `${a}-1-5`] }, ErrorCode.InvalidFill],
      ];
      for (const [input, code] of bad) {
        // The single engine may name a check on the account's state first (UNKNOWN_ACCOUNT, UNKNOWN_ORDER): it refuses too.
        expect(codeOf(() => shard.submit(input)), `${json(input)} in the shard`).toBe(code);
        expect(codeOf(() => single.submit(input)), `${json(input)} in the single engine`).not.toBe('accepted');
        expect(shard.lastSequence).toBe(single.lastSequence);
      }
      // What one shard cannot do: a deleveraging matches counterparties in every shard. Refused by each, no sequence taken.
      const sequence = shard.lastSequence;
      expect(codeOf(() => shard.deleverage(a, 1))).toBe(ErrorCode.ShardInexact);
      expect(shard.lastSequence).toBe(sequence);
      // The limit (README): a fill of an order no engine issued is refused by the shard holding its account only. The
      // other shard cannot know and takes its sequence; the client must refuse such a fill before it broadcasts.
      const unknown: Input = { kind: 'fills', fills: [{ orderId: `${a}-1-5`, account: a, market: 1, quantity: 1, price: 100, eventTimeUs: 0 }] };
      expect(codeOf(() => single.submit(unknown))).toBe(ErrorCode.UnknownOrder);
      shard.submit(unknown);
      expect(shard.lastSequence).toBe(single.lastSequence + 1);
    } finally {
      await Promise.all(all.map((e) => e.close()));
    }
  });

  it('says when it did what a single engine does across every account: an order short of the fund, deleveraged against its own ADL queue', async () => {
    const shard = await Engine.start({ ...CONFIG, shard: { index: 0, count: 2 } });
    try {
      const [a, b] = Array.from({ length: 40 }, (_, i) => i + 1).filter((x) => shardOf(x, 2) === 0) as [number, number];
      shard.addMarket({ id: 1, price: 100, tiers: TIERS }); // no insurance deposit: the fund cannot pay a bankrupt close
      shard.addAccount(a, 500);
      shard.addAccount(b, 1e6);
      shard.upsertPosition({ account: a, market: 1, size: 100, entryPrice: 100 });
      shard.upsertPosition({ account: b, market: 1, size: -100, entryPrice: 100 });
      await shard.step();
      expect(shard.shard.inexact).toBe(0);
      shard.pushPrice(1, 90); // a: equity 500 - 1,000 < 0; b holds the other side
      const warned = new Promise<string>((resolve) => process.once('warning', (w) => resolve(`${(w as { code?: string }).code}: ${w.message}`)));
      const r = await shard.step();
      expect(r.orders.filter((o) => o.account === a)).toEqual([]); // deleveraged instead, against b
      expect(shard.shard.inexact).toBeGreaterThan(0);
      // First the order's shortfall (a single engine's fund, and its ADL queue, are the whole book's), then the deleveraging.
      expect(shard.shard.firstInexact).toMatch(new RegExp(`^order ${a}-1-\\d+: filled at its limit it would need more than this shard's copy of the insurance fund`));
      expect(shard.shard.inexact).toBe(2);
      expect(await warned).toMatch(/^UNWIND_SHARD_INEXACT: shard 0 of 2 may differ from a single engine/);
    } finally {
      await shard.close();
    }
  });

  it('is configured by shard { index, count }: integers, index below count, nothing that counts a whole market', async () => {
    const refused: [EngineConfig, string][] = [
      [{ shard: { index: 2, count: 2 } }, 'shard.index'],
      [{ shard: { index: -1, count: 2 } }, 'shard.index'],
      [{ shard: { index: 0.5, count: 2 } }, 'shard.index'],
      [{ shard: { index: 0, count: 0 } }, 'shard.count'],
      [{ shard: { index: 0, count: 1.5 } }, 'shard.count'],
      [{ shard: { index: 0, count: '2' as unknown as number } }, 'shard.count'],
      [{ shard: { index: 0, count: 2, extra: 1 } as never }, 'shard.extra'],
      [{ shard: { index: 0, count: 2 }, caps: { marketNotionalPerWindow: 1e6 } }, 'caps.marketNotionalPerWindow'],
      [{ shard: { index: 0, count: 2 }, caps: { maxInFlight: 10 } }, 'caps.maxInFlight'],
      [{ shard: { index: 1, count: 2 }, execution: { strategy: { kind: 'backstop', vault: 7 } } }, 'execution'],
      [{ shard: { index: 1, count: 2 }, execution: { strategy: { kind: 'ioc' }, markets: [{ market: 1, strategy: { kind: 'almgren-chriss', horizonSec: 10, stepSec: 1, lambda: 1e-6 } }] } as never }, 'execution'],
    ];
    for (const [config, field] of refused) {
      await expect(Engine.start({ ...CONFIG, ...config }), json(config)).rejects.toMatchObject({ code: ErrorCode.InvalidConfig, field });
    }
    // One shard of one is a single engine, and its journal one's; per-account caps are a shard's to apply.
    const dir = join(mkdtempSync(join(tmpdir(), 'unwind-shard-one-')), 'journal');
    dirs.push(dirname(dir));
    const single = await Engine.start({ ...CONFIG, journal: { dir } });
    single.addMarket({ id: 1, price: 100, tiers: TIERS });
    await single.close();
    const one = await Engine.start({ ...CONFIG, shard: { index: 0, count: 1 }, journal: { dir } });
    expect(one.shard).toEqual({ index: 0, count: 1, inexact: 0, firstInexact: null });
    expect(one.hasMarket(1)).toBe(true);
    await one.close();
    await (await Engine.start({ ...CONFIG, shard: { index: 1, count: 2 }, caps: { accountNotionalPerInterval: 1e6 } })).close();
  });
});
