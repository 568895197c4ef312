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
import { crashScript, resumeAt } from './crash-script.mjs';

const [dir, durability, workers] = process.argv.slice(2);
const ACCOUNTS = 40;
const ROUNDS = 70;
const print = (line) => process.stdout.write(`${line}\n`);

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
const actions = crashScript({ seed: 0x10ad, accounts: ACCOUNTS, rounds: ROUNDS, funds: [1], flatShare: 0.3, settleEvery: 1 });
for (let at = resumeAt(engine, actions); at < actions.length; at++) {
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
