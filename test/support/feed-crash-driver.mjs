/**
 * A child process for test/feed-crash-open-orders.test.ts: an engine with a journal behind a real FeedServer, driven
 * by a fixed script of inputs and epochs (as test/support/journal-driver.mjs, at a pace a feed client can follow),
 * that the test kills with SIGKILL while orders are being issued, and starts again.
 *
 *   node test/support/feed-crash-driver.mjs DIR WORKERS
 *
 * Plain JavaScript over the compiled engine (dist/, built by `npm test`). On start it recovers from DIR and starts
 * the server at once, on a free port of 127.0.0.1 (so an epoch recovery completes emits its orders before any client
 * can be connected: they reach clients only in the OpenOrders answer to a Subscribe), then goes on with the script
 * where the journal ends. It prints, one line each, synchronously:
 *   listening <port>
 *   recovered <inputs> <epochs> <interrupted 0|1>
 *   order <id>       an order reached the onOrder listener (and so the feed)
 *   open <id>        at the end: an order still open (neither filled nor expired nor timed out)
 *   done
 * and then waits for SIGTERM, which closes the server and the engine.
 */
import { Engine, FeedServer } from '../../dist/src/index.js';
import { mulberry32 } from '../../dist/src/sim/random.js';

const [dir, workers] = process.argv.slice(2);
const PUBLISHER = 'feed-crash-publisher-token-0001';
const SUBSCRIBER = 'feed-crash-subscriber-token-0001';
const ACCOUNTS = 48;
const ROUNDS = 60;
const MARKETS = [1, 2];
/** Milliseconds between actions: a client on loopback keeps up, and a kill lands while orders are being issued. */
const PACE_MS = 2;
const tiers = [
  { maxNotional: 20_000, maintenanceMarginFraction: 0.05, initialMarginFraction: 0.1 },
  { maxNotional: null, maintenanceMarginFraction: 0.1, initialMarginFraction: 0.2 },
];
const print = (line) => process.stdout.write(`${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The script: the same on every run. Each action is one accepted input, or 'epoch'. */
function script() {
  const random = mulberry32(0xfeed);
  const actions = [];
  for (const id of MARKETS) actions.push((e) => e.addMarket({ id, symbol: `M${id}`, tiers, price: 100 }));
  actions.push((e) => e.depositInsurance(1, 500));
  actions.push((e) => e.depositInsurance(2, 500));
  for (let a = 1; a <= ACCOUNTS; a++) {
    const collateral = 40 + Math.floor(random() * 200);
    actions.push((e) => e.addAccount(a, collateral));
  }
  const positions = [];
  for (let a = 1; a <= ACCOUNTS; a++) {
    for (const market of MARKETS) {
      if (random() < 0.25) continue;
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
    // The matching engine, every third round: fill, half-fill or expire one of the engine's own open orders.
    actions.push((e) => {
      const open = e.openOrders();
      if (j % 3 === 0 && open.length > 0) {
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
  journal: { dir, durability: 'sync', snapshotEveryRecords: 40, log: () => {} },
});
engine.onOrder((o) => print(`order ${o.id}`));
// At once: the orders of an epoch that recovery completes leave before any client can have connected.
const server = await FeedServer.start(engine, {
  host: '127.0.0.1',
  port: 0,
  publisherTokens: [PUBLISHER],
  subscriberTokens: [SUBSCRIBER],
  statusIntervalMs: 0,
  // The wall clock would be an input of its own (and this script's inputs are counted): one reading a minute at most.
  clockIntervalMs: 60_000,
});
process.on('SIGTERM', () => {
  void server
    .close()
    .then(() => engine.close())
    .then(() => process.exit(0));
});
print(`listening ${server.port}`);
print(`recovered ${engine.inputCount} ${engine.epochs} ${engine.recovery.interruptedEpoch ? 1 : 0}`);
await engine.settled();

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
  if (a === 'epoch') await engine.step();
  else {
    a(engine);
    await engine.durable();
  }
  await sleep(PACE_MS);
}
for (const { order } of engine.openOrders()) print(`open ${order.id}`);
print('done');
