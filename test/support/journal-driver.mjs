/**
 * A child process for the crash tests (test/journal-crash.test.ts): an engine with a journal, driven by a fixed
 * script of inputs and epochs, that the test kills with SIGKILL at random moments and starts again.
 *
 *   node test/support/journal-driver.mjs DIR DURABILITY WORKERS
 *
 * Plain JavaScript over the compiled engine (dist/, built by `npm test`), so it starts as a bare `node` process.
 * The script is a list of actions: inputs (each exactly one accepted input, one journal record) with an epoch
 * after every third. On start it recovers, finds where in the script the journal ends (inputs and epochs
 * recovered), and goes on from there. It prints, one line each, synchronously (stdout is a pipe):
 *   recovered <inputs> <epochs> <interrupted 0|1>
 *   open <id>      an order open at recovery: the gateway's reconciliation (it may not have left before the kill)
 *   ack <n>        input n (1-based) is acknowledged: engine.durable() resolved after it
 *   order <id>     an order reached the onOrder listener
 *   done <output digest> <state digest>
 */
import { createHash } from 'node:crypto';
import { Engine } from '../../dist/src/index.js';
import { mulberry32 } from '../../dist/src/sim/random.js';

const [dir, durability, workers] = process.argv.slice(2);
const ACCOUNTS = 40;
const ROUNDS = 70;
const MARKETS = [1, 2];
const tiers = [
  { maxNotional: 20_000, maintenanceMarginFraction: 0.05, initialMarginFraction: 0.1 },
  { maxNotional: null, maintenanceMarginFraction: 0.1, initialMarginFraction: 0.2 },
];
const print = (line) => process.stdout.write(`${line}\n`);

/** The script: the same on every run. Each action is one input, or 'epoch'. */
function script() {
  const random = mulberry32(0x10ad);
  const actions = [];
  for (const id of MARKETS) actions.push((e) => e.addMarket({ id, symbol: `M${id}`, tiers, price: 100 }));
  actions.push((e) => e.depositInsurance(1, 500));
  for (let a = 1; a <= ACCOUNTS; a++) {
    const collateral = 40 + Math.floor(random() * 200);
    actions.push((e) => e.addAccount(a, collateral));
  }
  const positions = [];
  for (let a = 1; a <= ACCOUNTS; a++) {
    for (const market of MARKETS) {
      if (random() < 0.3) continue;
      positions.push({ account: a, market, size: (random() < 0.5 ? -1 : 1) * (1 + Math.floor(random() * 20)), entryPrice: 100, isolatedCollateral: random() < 0.2 ? 30 : null });
    }
  }
  actions.push((e) => e.upsertPositions(positions));
  let price = { 1: 100, 2: 100 };
  for (let round = 0; round < ROUNDS; round++) {
    const r = random();
    const j = round;
    for (const market of MARKETS) {
      // A drift down then up, with noise: liquidations on both sides.
      const drift = round < ROUNDS / 2 ? -0.012 : 0.014;
      price = { ...price, [market]: Math.max(1, price[market] * (1 + drift * (market === 1 ? 1 : -0.7) + (random() - 0.5) * 0.02)) };
      const p = price[market];
      actions.push((e) => e.pushPrice(market, p, undefined));
    }
    // The matching engine: fill, half-fill or expire an open order, chosen from the engine's own open orders.
    actions.push((e) => {
      const open = e.openOrders();
      if (open.length > 0) {
        const { order, remaining } = open[j % open.length];
        try {
          if (r < 0.2) return e.expire(order.id);
          const quantity = r < 0.6 ? remaining : remaining / 2;
          return e.fill({ orderId: order.id, account: order.account, market: order.market, quantity, price: order.limitPrice, eventTimeUs: 1_000_000 * (j + 1) });
        } catch {
          // not fillable now: fall through to an input that is always accepted
        }
      }
      e.setCollateral(1 + (j % ACCOUNTS), 50 + j);
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

const engine = await Engine.start({
  scanWorkers: Number(workers),
  autoEpoch: false,
  capacity: { markets: 4, accounts: 64, positions: 256 },
  caps: { maxInFlight: 6 },
  journal: { dir, durability, snapshotEveryRecords: 25, log: () => {} },
});
engine.onOrder((o) => print(`order ${o.id}`));
const r = engine.recovery;
print(`recovered ${engine.inputCount} ${engine.epochs} ${r.interruptedEpoch ? 1 : 0}`);
for (const { order } of engine.openOrders()) print(`open ${order.id}`);
await engine.settled(); // an epoch the stop interrupted completes (and emits) before the script goes on

// Where the journal ends in the script: after `inputCount` inputs and `epochs` epochs.
const actions = script();
let inputs = 0;
let epochs = 0;
let at = 0;
while (at < actions.length && (inputs < engine.inputCount || epochs < engine.epochs)) {
  if (actions[at] === 'epoch') epochs++;
  else inputs++;
  at++;
}
if (inputs !== engine.inputCount || epochs !== engine.epochs) throw new Error(`the journal (${engine.inputCount} inputs, ${engine.epochs} epochs) is not a prefix of the script`);
for (; at < actions.length; at++) {
  const a = actions[at];
  if (a === 'epoch') {
    await engine.step();
  } else {
    a(engine);
    await engine.durable();
    print(`ack ${engine.inputCount}`);
  }
}
const state = createHash('sha256');
state.update(JSON.stringify(engine.ledger.entries(), (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
for (let a = 1; a <= ACCOUNTS; a++) state.update(JSON.stringify(engine.account(a)));
state.update(JSON.stringify(engine.openOrders()));
state.update(`${engine.epochs} ${engine.lastSequence} ${engine.inputCount}`);
print(`done ${engine.outputDigest()} ${state.digest('hex')}`);
await engine.close();
