/**
 * Sharding across engines (README "Replication", "Sharding beyond one machine"): accounts split by a hash of their id
 * across two engines that take the same prices in the same epochs; each shard's orders are the single engine's orders
 * of its accounts, in the same order, and the two streams merged by the executor's own ordering (docs/domain.md
 * section 7) are the single engine's stream, epoch by epoch, byte for byte but for the ids (which derive from each
 * engine's own input sequence). Seeded books over several seeds; cross accounts in several markets, isolated
 * positions, jumps that liquidate and margin-call many accounts at once.
 */
import { describe, expect, it } from 'vitest';
import { Engine, type LiquidationOrder, type MarginCall } from '../src/index.js';
import { underwaterness } from '../src/domain/liquidation.js';
import { mulberry32 } from '../src/sim/random.js';

const MARKETS = 3;
const TIERS = [
  { maxNotional: 50_000, initialMarginFraction: 0.05, maintenanceMarginFraction: 0.03 },
  { maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
];

/** The shard of an account: a multiplicative hash of its id (Knuth), so neighbouring ids spread. */
const shardOf = (account: number, shards: number): number => (Math.imul(account, 2654435761) >>> 0) % shards;

interface Book {
  readonly accounts: { id: number; collateral: number; positions: { market: number; size: number; entryPrice: number; isolatedCollateral: number | null }[] }[];
  readonly steps: { market: number; price: number }[][];
}

function book(seed: number): Book {
  const random = mulberry32(seed);
  const prices = [100, 2_000, 30_000];
  const accounts: Book['accounts'] = [];
  for (let id = 1; id <= 400; id++) {
    const positions: Book['accounts'][number]['positions'] = [];
    let gross = 0;
    for (let m = 0; m < MARKETS; m++) {
      if (random() < 0.5) continue;
      const notional = 1_000 + random() * 40_000;
      const isolated = random() < 0.15 ? notional * (0.04 + random() * 0.1) : null;
      positions.push({ market: m + 1, size: ((random() < 0.6 ? 1 : -1) * notional) / prices[m]!, entryPrice: prices[m]! * (0.98 + random() * 0.04), isolatedCollateral: isolated });
      if (isolated === null) gross += notional;
    }
    accounts.push({ id, collateral: gross * (0.04 + random() * 0.2), positions });
  }
  const steps: Book['steps'] = [];
  for (let e = 0; e < 30; e++) {
    const step: { market: number; price: number }[] = [];
    for (let m = 0; m < MARKETS; m++) {
      const jump = random() < 0.15 ? (random() - 0.5) * 0.1 : (random() - 0.5) * 0.01;
      prices[m] = prices[m]! * (1 + jump);
      step.push({ market: m + 1, price: prices[m]! });
    }
    steps.push(step);
  }
  return { accounts, steps };
}

/** An engine holding the accounts `keep` selects; returns each epoch's orders and margin calls. */
async function run(b: Book, keep: (account: number) => boolean): Promise<{ orders: LiquidationOrder[][]; calls: MarginCall[][] }> {
  const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: MARKETS, accounts: 512, positions: 2_048 } });
  try {
    for (let m = 1; m <= MARKETS; m++) {
      engine.addMarket({ id: m, price: [100, 2_000, 30_000][m - 1]!, tiers: TIERS });
      engine.depositInsurance(m, 1e9);
    }
    for (const a of b.accounts) {
      if (!keep(a.id)) continue;
      engine.addAccount(a.id, a.collateral);
      for (const p of a.positions) engine.upsertPosition({ account: a.id, ...p });
    }
    await engine.step();
    const orders: LiquidationOrder[][] = [];
    const calls: MarginCall[][] = [];
    for (const step of b.steps) {
      engine.pushPrices(step);
      const r = await engine.step();
      orders.push(r.orders);
      calls.push(r.marginCalls);
    }
    return { orders, calls };
  } finally {
    await engine.close();
  }
}

/**
 * An order without what derives from its own engine's input sequence: the id (`<account>-<market>-<sequence>`) and
 * the position's sequence. A shard numbers only its accounts' inputs, so these differ from the single engine's; the
 * rest (who, what, how much, at what limit, why, in which epoch and in what order) must be equal.
 */
const decision = ({ id: _id, positionSequence: _s, ...o }: LiquidationOrder): Omit<LiquidationOrder, 'id' | 'positionSequence'> => o;
const decisions = (orders: readonly LiquidationOrder[]): string => JSON.stringify(orders.map(decision));

/** The executor's order (docs/domain.md section 7): most underwater first, then larger notional, then account, market. */
function compare(x: LiquidationOrder, y: LiquidationOrder): number {
  const kx = underwaterness(x.limitPrice, x.oraclePrice);
  const ky = underwaterness(y.limitPrice, y.oraclePrice);
  return ky - kx || y.quantity * y.oraclePrice - x.quantity * x.oraclePrice || x.account - y.account || x.market - y.market;
}

describe('two shards of accounts', () => {
  for (const seed of [1, 2, 3]) {
    it(`merged, give the single engine's orders and margin calls at every epoch (seed ${seed})`, async () => {
      const b = book(seed);
      const single = await run(b, () => true);
      const shards = await Promise.all([0, 1].map((k) => run(b, (a) => shardOf(a, 2) === k)));
      const liquidated = single.orders.flat().length;
      expect(liquidated).toBeGreaterThan(20); // the jumps do liquidate
      expect(shards.every((s) => s.orders.flat().length > 0)).toBe(true); // both shards take part
      for (let e = 0; e < b.steps.length; e++) {
        // Each shard: exactly the single engine's orders of its accounts, in the same order.
        for (const [k, s] of shards.entries()) {
          expect(decisions(s.orders[e]!), `epoch ${e}, shard ${k}`).toBe(decisions(single.orders[e]!.filter((o) => shardOf(o.account, 2) === k)));
        }
        const merged = [...shards[0]!.orders[e]!, ...shards[1]!.orders[e]!].sort(compare);
        expect(decisions(merged), `epoch ${e}`).toBe(decisions(single.orders[e]!));
        const calls = [...shards[0]!.calls[e]!, ...shards[1]!.calls[e]!].map((c) => JSON.stringify(c)).sort();
        expect(calls, `margin calls, epoch ${e}`).toEqual(single.calls[e]!.map((c) => JSON.stringify(c)).sort());
      }
    }, 60_000);
  }
});
