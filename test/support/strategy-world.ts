/**
 * The seeded world the execution-strategy tests share (test/executor-strategies.test.ts, test/executor-volatility.test.ts):
 * 3 markets, `accounts` accounts, prices falling then recovering over `steps` epochs 3 s of event time apart, with
 * noise of `noise` of the price, each order half filled (70%) or expired.
 */
import { Engine, type EngineConfig } from '../../src/index.js';
import { mulberry32 } from '../../src/sim/random.js';

const SECOND = 1_000_000;
const T0 = 1_767_225_600 * SECOND;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];

export interface StrategyWorldRun {
  readonly digest: string;
  readonly orders: number;
  /** Orders per position (`account-market`). */
  readonly children: Map<string, number>;
}

export async function strategyWorld(
  config: EngineConfig,
  accounts: number,
  steps: number,
  o: { readonly noise: number; readonly onEpoch?: (i: number, engine: Engine) => Promise<Engine> },
): Promise<StrategyWorldRun> {
  const rand = mulberry32(7);
  let engine = await Engine.start(config);
  const children = new Map<string, number>();
  for (let m = 1; m <= 3; m++) {
    engine.addMarket({ id: m, price: 100 * m, tiers: TIERS });
    engine.depositInsurance(m, 1e7);
  }
  for (let a = 1; a <= accounts; a++) {
    engine.addAccount(a, 500 + rand() * 2_000);
    for (let m = 1; m <= 3; m++) if (rand() < 0.6) engine.upsertPosition({ account: a, market: m, size: (rand() < 0.5 ? -1 : 1) * (1 + rand() * 200), entryPrice: 100 * m });
  }
  let orders = 0;
  for (let i = 0; i < steps; i++) {
    const t = T0 + i * 3 * SECOND;
    const drift = i < steps / 2 ? -0.01 * i : -0.01 * (steps - i);
    engine.pushPrices([1, 2, 3].map((m) => ({ market: m, price: 100 * m * (1 + drift * (m === 2 ? -1 : 1) + o.noise * (rand() - 0.5)), eventTimeUs: t })));
    const r = await engine.step();
    orders += r.orders.length;
    for (const x of r.orders) {
      children.set(`${x.account}-${x.market}`, (children.get(`${x.account}-${x.market}`) ?? 0) + 1);
      if (rand() < 0.7) engine.fill({ orderId: x.id, account: x.account, market: x.market, quantity: x.quantity / 2, price: x.limitPrice, eventTimeUs: t });
      else engine.expire(x.id);
    }
    if (o.onEpoch !== undefined) engine = await o.onEpoch(i, engine);
  }
  const digest = engine.outputDigest();
  await engine.close();
  return { digest, orders, children };
}
