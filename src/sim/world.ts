/**
 * The simulated world both demos run: four markets with tiered margins, a seeded population of accounts and
 * positions, and a seeded price path with a crash and a rebound. Pure functions of the seed.
 */
import { type MarginTier } from '../domain/tiers.js';
import { mulberry32, normal } from './random.js';

export const MARKETS = [
  { id: 0, symbol: 'BTC-USD', price: 60_000, vol: 0.002, beta: 1.0 },
  { id: 1, symbol: 'ETH-USD', price: 3_000, vol: 0.0025, beta: 1.2 },
  { id: 2, symbol: 'SOL-USD', price: 150, vol: 0.0035, beta: 1.5 },
  { id: 3, symbol: 'DOGE-USD', price: 0.15, vol: 0.0045, beta: 1.8 },
] as const;

export const TIERS: readonly MarginTier[] = [
  { maxNotional: 50_000, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
  { maxNotional: 250_000, initialMarginFraction: 0.04, maintenanceMarginFraction: 0.02 },
  { maxNotional: 1_000_000, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
  { maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
];

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
