/**
 * The in-process demo behind `npm start`: simulated markets, accounts and positions, a seeded price path with a
 * crash, the real engine (scan pool + executor thread), and a simulated matching engine that fills every
 * liquidation order at its limit price. Prints liquidations as they happen and a summary at the end.
 */
import { createHash } from 'node:crypto';
import { Engine } from '../engine/engine.js';
import { type LiquidationOrder } from '../execution/orders.js';
import { mulberry32, normal } from './random.js';

export interface DemoOptions {
  readonly seed: number;
  readonly accounts: number;
  readonly steps: number;
  readonly scanWorkers?: number;
  /** Orders printed per epoch before "... and N more". */
  readonly printPerEpoch: number;
  readonly log: (line: string) => void;
}

const MARKETS = [
  { id: 0, symbol: 'BTC-USD', price: 60_000, vol: 0.002, beta: 1.0 },
  { id: 1, symbol: 'ETH-USD', price: 3_000, vol: 0.0025, beta: 1.2 },
  { id: 2, symbol: 'SOL-USD', price: 150, vol: 0.0035, beta: 1.5 },
  { id: 3, symbol: 'DOGE-USD', price: 0.15, vol: 0.0045, beta: 1.8 },
] as const;

const TIERS = [
  { maxNotional: 50_000, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
  { maxNotional: 250_000, initialMarginFraction: 0.04, maintenanceMarginFraction: 0.02 },
  { maxNotional: 1_000_000, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
  { maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
];

export interface DemoSummary {
  readonly epochs: number;
  readonly orders: number;
  readonly marginCalls: number;
  readonly accountsLiquidated: number;
  readonly notionalLiquidated: number;
  readonly badDebt: number;
  readonly epochMicros: { p50: number; p99: number; max: number };
  readonly positions: number;
  readonly orderStreamDigest: string;
}

interface Held {
  size: number;
  entry: number;
  /** null: cross-margined. */
  isolatedCollateral: number | null;
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const rand = mulberry32(o.seed);
  const gauss = normal(rand);
  const engine = await Engine.start({
    scanWorkers: o.scanWorkers,
    autoEpoch: false,
    capacity: { markets: MARKETS.length, accounts: o.accounts, positions: o.accounts * MARKETS.length },
  });
  const log = o.log;
  try {
    for (const m of MARKETS) engine.addMarket({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS });
    // Positions mirror what the simulated matching engine holds; fills update both.
    const book = new Map<string, Held>();
    const collateral = new Map<number, number>();
    let positions = 0;
    for (let a = 1; a <= o.accounts; a++) {
      const held: { m: (typeof MARKETS)[number]; size: number }[] = [];
      let notional = 0;
      for (const m of MARKETS) {
        if (rand() < 0.45) continue;
        const usd = 2_000 * Math.exp(2.5 * rand()); // 2k .. 24k quote
        const size = ((rand() < 0.6 ? 1 : -1) * usd) / m.price;
        held.push({ m, size });
        notional += usd;
      }
      const leverage = 1.5 + 10.5 * rand() ** 3; // mostly modest, a tail near 12x
      const c = Math.round((notional / leverage) * 100) / 100;
      engine.addAccount(a, c);
      collateral.set(a, c);
      for (const h of held) {
        const isolated = rand() < 0.1;
        const iso = isolated ? Math.round((Math.abs(h.size) * h.m.price * 0.08) * 100) / 100 : null;
        engine.upsertPosition({ account: a, market: h.m.id, size: h.size, entryPrice: h.m.price, isolatedCollateral: iso });
        book.set(`${a}:${h.m.id}`, { size: h.size, entry: h.m.price, isolatedCollateral: iso });
        positions++;
      }
    }
    log(`unwind demo: ${MARKETS.length} markets, ${o.accounts} accounts, ${positions} positions, ${o.steps} price steps, seed ${o.seed}`);
    log(`engine: ${engine.config.scanWorkers} scan worker(s) + 1 executor thread`);
    await engine.step();

    const prices: number[] = MARKETS.map((m) => m.price);
    const crashAt = Math.floor(o.steps * 0.55);
    const crashLength = Math.max(3, Math.floor(o.steps * 0.06));
    let orders = 0;
    let calls = 0;
    let notionalLiquidated = 0;
    let badDebt = 0;
    const liquidated = new Set<number>();
    const epochMicros: number[] = [];
    const digest = createHash('sha256');

    for (let step = 1; step <= o.steps; step++) {
      const common = gauss();
      const crash = step >= crashAt && step < crashAt + crashLength ? -0.03 : 0;
      const rebound = step >= crashAt + crashLength && step < crashAt + 2 * crashLength ? 0.012 : 0;
      const updates = MARKETS.map((m, i) => {
        const r = m.beta * (crash + rebound) + m.vol * (0.7 * common + 0.7 * gauss());
        prices[i] = prices[i]! * Math.exp(r);
        return { market: m.id, price: Number(prices[i]!.toPrecision(8)) };
      });
      if (step === crashAt) log(`--- step ${step}: crash begins ---`);
      engine.pushPrices(updates);
      const t0 = process.hrtime.bigint();
      const r = await engine.step();
      epochMicros.push(Number(process.hrtime.bigint() - t0) / 1000);
      calls += r.marginCalls.length;
      r.orders.forEach((order, k) => {
        digest.update(JSON.stringify(order));
        if (k < o.printPerEpoch) log(formatOrder(step, order));
      });
      if (r.orders.length > o.printPerEpoch) log(`  ... and ${r.orders.length - o.printPerEpoch} more in epoch ${r.epoch}`);
      // The simulated matching engine fills each order in full at its limit price.
      for (const order of r.orders) {
        const key = `${order.account}:${order.market}`;
        const h = book.get(key)!;
        const realized = h.size * (order.limitPrice - h.entry);
        orders++;
        notionalLiquidated += order.quantity * order.limitPrice;
        liquidated.add(order.account);
        if (h.isolatedCollateral !== null) {
          const left = h.isolatedCollateral + realized;
          if (left < 0) badDebt -= left;
          else collateral.set(order.account, collateral.get(order.account)! + left);
        } else {
          collateral.set(order.account, collateral.get(order.account)! + realized);
        }
        book.set(key, { size: 0, entry: 0, isolatedCollateral: null });
        engine.upsertPosition({ account: order.account, market: order.market, size: 0, entryPrice: 0, isolatedCollateral: null });
        engine.setCollateral(order.account, collateral.get(order.account)!);
      }
    }
    // Cross accounts left with negative collateral after closing out are bad debt (an insurance fund's job).
    for (const a of liquidated) {
      const c = collateral.get(a)!;
      const report = engine.account(a);
      if (report.positions.every((p) => p.size === 0) && c < 0) badDebt -= c;
    }
    epochMicros.sort((x, y) => x - y);
    const pct = (q: number): number => Math.round(epochMicros[Math.min(epochMicros.length - 1, Math.floor(q * epochMicros.length))]!);
    return {
      epochs: engine.epochs,
      orders,
      marginCalls: calls,
      accountsLiquidated: liquidated.size,
      notionalLiquidated,
      badDebt,
      epochMicros: { p50: pct(0.5), p99: pct(0.99), max: Math.round(epochMicros[epochMicros.length - 1] ?? 0) },
      positions,
      orderStreamDigest: digest.digest('hex'),
    };
  } finally {
    await engine.close();
  }
}

function formatOrder(step: number, o: LiquidationOrder): string {
  return (
    `step ${String(step).padStart(4)}  LIQUIDATE ${o.side.toUpperCase().padEnd(4)} ${fmt(o.quantity).padStart(12)} ${o.symbol.padEnd(8)}` +
    ` limit ${fmt(o.limitPrice).padStart(10)} (oracle ${fmt(o.oraclePrice)})  account ${o.account}  health ${o.health.toFixed(3)}  ${o.reason}  id ${o.id}`
  );
}

function fmt(x: number): string {
  return Number(x.toPrecision(6)).toString();
}
