/**
 * The simulated world both demos run: four markets with tiered margins, a seeded population of accounts and
 * positions, and a seeded price path with a crash and a rebound. Pure functions of the seed.
 */
import { type MarginTier } from '../domain/tiers.js';
import { mulberry32, normal } from './random.js';

/** `maxLeverage`: Hyperliquid's for the market (mainnet margin tiers, 2025: BTC 40x, ETH 25x, SOL 20x, DOGE 10x). */
export const MARKETS = [
  { id: 0, symbol: 'BTC-USD', price: 60_000, vol: 0.002, beta: 1.0, maxLeverage: 40 },
  { id: 1, symbol: 'ETH-USD', price: 3_000, vol: 0.0025, beta: 1.2, maxLeverage: 25 },
  { id: 2, symbol: 'SOL-USD', price: 150, vol: 0.0035, beta: 1.5, maxLeverage: 20 },
  { id: 3, symbol: 'DOGE-USD', price: 0.15, vol: 0.0045, beta: 1.8, maxLeverage: 10 },
] as const;

/** The demos' tiers, the same in every market: by position size, maintenance half the initial margin. */
export const TIERS: readonly MarginTier[] = [
  { maxNotional: 50_000, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
  { maxNotional: 250_000, initialMarginFraction: 0.04, maintenanceMarginFraction: 0.02 },
  { maxNotional: 1_000_000, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
  { maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
];

/**
 * The backtest's tiers for market `id`: TIERS with every fraction raised to the market's own, an initial margin of
 * 1 / maxLeverage and a maintenance of half that (Hyperliquid's rule: BTC 2.5% / 1.25%, ETH 4% / 2%, SOL 5% / 2.5%,
 * DOGE 10% / 5%). A more volatile market gets more margin, as on every venue: under TIERS alone DOGE, which moves
 * 1.8 times BTC, had BTC's 1% maintenance, and the health band between 1 and the emergency level 2/3 (a third of
 * the maintenance fraction of the price) was 0.33% of DOGE's price, 0.19% of BTC's: one epoch of a crash.
 */
export function marketTiers(id: number): MarginTier[] {
  const m = MARKETS.find((x) => x.id === id);
  if (m === undefined) throw new RangeError(`no market ${id}`);
  const initial = 1 / m.maxLeverage;
  return TIERS.map((t) => ({
    maxNotional: t.maxNotional,
    initialMarginFraction: Math.max(t.initialMarginFraction, initial),
    maintenanceMarginFraction: Math.max(t.maintenanceMarginFraction, initial / 2),
  }));
}

/**
 * The fillable price's spreadToMaintenanceMarginRatio (SMMR) the backtest's engines run: 1.5, what dYdX v4 mainnet
 * runs (docs/domain.md sections 2.1 and 8). The engine's default, 0.1, is dYdX's code default (the demos keep it). A liquidation order's limit
 * concedes `(1 - health) x SMMR` of the position's maintenance margin: at 0.1 an order decided near health 1 conceded
 * 0.15-0.33 bp of the price on BTC, inside the simulated books' half spread (the best bid 0.57-1.16 bp below the mid
 * on seed 1 of gbm and cascade), so 80-90% of the orders decided above the emergency health got no fill. At 1.5 an
 * order at health 0.99 concedes 1.9 bp of BTC's price (1.25% maintenance), and the fee's healing bound lowers the
 * default share of released margin it may take to 1/6 (docs/domain.md section 2.4).
 */
export const SIM_SPREAD_TO_MAINTENANCE_MARGIN_RATIO = 1.5;

export interface SimPosition {
  readonly market: number;
  readonly size: number;
  readonly entryPrice: number;
  /** null: cross-margined. */
  readonly isolatedCollateral: number | null;
}

export interface SimAccount {
  readonly id: number;
  readonly collateral: number;
  readonly positions: readonly SimPosition[];
}

/** Accounts 1..n: each holds about half the markets, 2k-24k quote per position, mostly modest leverage, 10% isolated. */
export function population(rand: () => number, n: number): SimAccount[] {
  const accounts: SimAccount[] = [];
  for (let a = 1; a <= n; a++) {
    const held: { m: (typeof MARKETS)[number]; size: number }[] = [];
    let notional = 0;
    for (const m of MARKETS) {
      if (rand() < 0.45) continue;
      const usd = 2_000 * Math.exp(2.5 * rand());
      const size = ((rand() < 0.6 ? 1 : -1) * usd) / m.price;
      held.push({ m, size });
      notional += usd;
    }
    const leverage = 1.5 + 10.5 * rand() ** 3; // mostly modest, a tail near 12x
    const collateral = Math.round((notional / leverage) * 100) / 100;
    const positions = held.map((h) => {
      const isolated = rand() < 0.1;
      const iso = isolated ? Math.round(Math.abs(h.size) * h.m.price * 0.08 * 100) / 100 : null;
      return { market: h.m.id, size: h.size, entryPrice: h.m.price, isolatedCollateral: iso };
    });
    accounts.push({ id: a, collateral, positions });
  }
  return accounts;
}

/** The backtest's liquidity vault (execution strategy 'backstop'): an account id above any population's. */
export const VAULT_ACCOUNT = 900_000_000;

/**
 * The vault's collateral as a share of the book's notional at entry: 2%, as Hyperliquid's HLP (about 300 M USDC in
 * October 2025, the vault behind its backstop liquidations) against its open interest (13.8 B before 2025-10-10).
 */
export const VAULT_SHARE = 0.02;

/** The vault of `book`: VAULT_SHARE of its notional at entry as collateral, no position. */
export function vaultAccount(book: readonly SimAccount[]): SimAccount {
  let notional = 0;
  for (const a of book) for (const p of a.positions) notional += Math.abs(p.size) * p.entryPrice;
  return { id: VAULT_ACCOUNT, collateral: Math.round(VAULT_SHARE * notional * 100) / 100, positions: [] };
}

/**
 * The price path: correlated log-normal steps; from 55% of the way a crash of -3% x beta per step for 6% of the
 * steps, then a rebound of +1.2% x beta for as long. `next()` returns every market's price at the next step.
 */
export class PricePath {
  readonly crashAt: number;
  private readonly crashLength: number;
  private readonly gauss: () => number;
  private readonly prices: number[] = MARKETS.map((m) => m.price);
  step = 0;

  constructor(
    rand: () => number,
    readonly steps: number,
  ) {
    this.gauss = normal(rand);
    this.crashAt = Math.floor(steps * 0.55);
    this.crashLength = Math.max(3, Math.floor(steps * 0.06));
  }

  next(): { market: number; price: number }[] {
    const s = ++this.step;
    const common = this.gauss();
    const crash = s >= this.crashAt && s < this.crashAt + this.crashLength ? -0.03 : 0;
    const rebound = s >= this.crashAt + this.crashLength && s < this.crashAt + 2 * this.crashLength ? 0.012 : 0;
    return MARKETS.map((m, i) => {
      const r = m.beta * (crash + rebound) + m.vol * (0.7 * common + 0.7 * this.gauss());
      this.prices[i] = this.prices[i]! * Math.exp(r);
      return { market: m.id, price: Number(this.prices[i]!.toPrecision(8)) };
    });
  }
}

export { mulberry32 };
