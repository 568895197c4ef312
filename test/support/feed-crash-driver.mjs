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
import { crashScript, resumeAt } from './crash-script.mjs';

const [dir, workers] = process.argv.slice(2);
const PUBLISHER = 'feed-crash-publisher-token-0001';
const SUBSCRIBER = 'feed-crash-subscriber-token-0001';
const ACCOUNTS = 48;
const ROUNDS = 60;
/** Milliseconds between actions: a client on loopback keeps up, and a kill lands while orders are being issued. */
const PACE_MS = 2;
const print = (line) => process.stdout.write(`${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
const actions = crashScript({ seed: 0xfeed, accounts: ACCOUNTS, rounds: ROUNDS, funds: [1, 2], flatShare: 0.25, settleEvery: 3 });
for (let at = resumeAt(engine, actions); at < actions.length; at++) {
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
