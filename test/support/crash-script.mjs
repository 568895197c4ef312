/**
 * The fixed script the crash drivers play (test/support/journal-driver.mjs, test/support/feed-crash-driver.mjs):
 * markets, funds, accounts and positions, then rounds of prices drifting down then up with a matching engine that
 * fills, half-fills or expires the engine's own open orders. Each action is exactly one accepted input, or 'epoch'
 * (after every third input). Plain JavaScript over the compiled engine, the same on every run for the same options.
 */
import { mulberry32 } from '../../dist/src/sim/random.js';

export const MARKETS = [1, 2];
const tiers = [
  { maxNotional: 20_000, maintenanceMarginFraction: 0.05, initialMarginFraction: 0.1 },
  { maxNotional: null, maintenanceMarginFraction: 0.1, initialMarginFraction: 0.2 },
];

/**
 * `seed`, `accounts`, `rounds`; `funds`: markets whose insurance fund gets 500; `flatShare`: the chance an account
 * has no position in a market; `settleEvery`: the matching engine answers every n-th round (else a collateral update).
 */
export function crashScript({ seed, accounts, rounds, funds, flatShare, settleEvery }) {
  const random = mulberry32(seed);
  const actions = [];
  for (const id of MARKETS) actions.push((e) => e.addMarket({ id, symbol: `M${id}`, tiers, price: 100 }));
  for (const id of funds) actions.push((e) => e.depositInsurance(id, 500));
  for (let a = 1; a <= accounts; a++) {
    const collateral = 40 + Math.floor(random() * 200);
    actions.push((e) => e.addAccount(a, collateral));
  }
  const positions = [];
  for (let a = 1; a <= accounts; a++) {
    for (const market of MARKETS) {
      if (random() < flatShare) continue;
      positions.push({ account: a, market, size: (random() < 0.5 ? -1 : 1) * (1 + Math.floor(random() * 20)), entryPrice: 100, isolatedCollateral: random() < 0.2 ? 30 : null });
    }
  }
  actions.push((e) => e.upsertPositions(positions));
  let price = { 1: 100, 2: 100 };
  for (let round = 0; round < rounds; round++) {
    const r = random();
    const j = round;
    for (const market of MARKETS) {
      // A drift down then up, with noise: liquidations on both sides.
      const drift = round < rounds / 2 ? -0.012 : 0.014;
      price = { ...price, [market]: Math.max(1, price[market] * (1 + drift * (market === 1 ? 1 : -0.7) + (random() - 0.5) * 0.02)) };
      const p = price[market];
      actions.push((e) => e.pushPrice(market, p, undefined));
    }
    // The matching engine: fill, half-fill or expire one of the engine's own open orders, at its limit.
    actions.push((e) => {
      const open = e.openOrders();
      if (j % settleEvery === 0 && open.length > 0) {
        const { order, remaining } = open[j % open.length];
        try {
          if (r < 0.2) return e.expire(order.id);
          const quantity = r < 0.6 ? remaining : remaining / 2;
          return e.fill({ orderId: order.id, account: order.account, market: order.market, quantity, price: order.limitPrice, eventTimeUs: 1_000_000 * (j + 1) });
        } catch {
          // not fillable now: fall through to an input that is always accepted
        }
      }
      e.setCollateral(1 + (j % accounts), 50 + j);
    });
  }
  const withEpochs = [];
  actions.forEach((a, i) => {
    withEpochs.push(a);
    if (i % 3 === 2) withEpochs.push('epoch');
  });
  withEpochs.push('epoch');
  return withEpochs;
}

/** Where the journal `engine` recovered ends in `actions`: the index of the next action to play. */
export function resumeAt(engine, actions) {
  let inputs = 0;
  let epochs = 0;
  let at = 0;
  while (at < actions.length && (inputs < engine.inputCount || epochs < engine.epochs)) {
    if (actions[at] === 'epoch') epochs++;
    else inputs++;
    at++;
  }
  if (inputs !== engine.inputCount || epochs !== engine.epochs) throw new Error(`the journal (${engine.inputCount} inputs, ${engine.epochs} epochs) is not a prefix of the script`);
  return at;
}
