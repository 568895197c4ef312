/** The seeded book of the sharding tests (test/cluster-sharding*.test.ts): markets, accounts, and each epoch's prices. */
import type { LiquidationOrder } from '../../src/index.js';
import { underwaterness } from '../../src/domain/liquidation.js';
import { mulberry32 } from '../../src/sim/random.js';
import type { ScenarioAccount, ScenarioMarket } from '../../src/scenario.js';

export const MARKETS = 3;
export const PRICES = [100, 2_000, 30_000];
export const TIERS = [
  { maxNotional: 50_000, initialMarginFraction: 0.05, maintenanceMarginFraction: 0.03 },
  { maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
];

export interface ShardBook {
  readonly markets: ScenarioMarket[];
  /** 400 accounts: cross positions in some markets, a few isolated, collateral 4% to 24% of the cross notional. */
  readonly accounts: ScenarioAccount[];
  /** Each epoch's prices: small moves with seeded jumps of up to 5%. */
  readonly steps: { market: number; price: number }[][];
}

export function shardBook(seed: number, epochs = 30): ShardBook {
  const random = mulberry32(seed);
  const markets = PRICES.map((price, m) => ({ id: m + 1, symbol: `M${m + 1}`, price, tiers: TIERS }));
  const accounts: ScenarioAccount[] = [];
  for (let id = 1; id <= 400; id++) {
    const positions: ScenarioAccount['positions'][number][] = [];
    let gross = 0;
    for (let m = 0; m < MARKETS; m++) {
      if (random() < 0.5) continue;
      const notional = 1_000 + random() * 40_000;
      const isolated = random() < 0.15 ? notional * (0.04 + random() * 0.1) : null;
      positions.push({ market: m + 1, size: ((random() < 0.6 ? 1 : -1) * notional) / PRICES[m]!, entryPrice: PRICES[m]! * (0.98 + random() * 0.04), isolatedCollateral: isolated });
      if (isolated === null) gross += notional;
    }
    accounts.push({ id, collateral: gross * (0.04 + random() * 0.2), positions });
  }
  const prices = [...PRICES];
  const steps = Array.from({ length: epochs }, () =>
    prices.map((p, m) => {
      const jump = random() < 0.15 ? (random() - 0.5) * 0.1 : (random() - 0.5) * 0.01;
      prices[m] = p * (1 + jump);
      return { market: m + 1, price: prices[m]! };
    }),
  );
  return { markets, accounts, steps };
}

/**
 * The executor's order (docs/domain.md section 7) as far as an order's fields tell it: most underwater first, then the
 * larger order (the executor takes the larger position, which an order does not carry), then account, then market. A
 * total order: the shards' orders merged and the single engine's, both sorted by it, must be equal.
 */
export function compareOrders(x: LiquidationOrder, y: LiquidationOrder): number {
  const kx = underwaterness(x.limitPrice, x.oraclePrice);
  const ky = underwaterness(y.limitPrice, y.oraclePrice);
  return ky - kx || y.quantity * y.oraclePrice - x.quantity * x.oraclePrice || x.account - y.account || x.market - y.market;
}
