/**
 * State frames never run ahead of their epoch or of the disk: an AccountStates frame labelled with
 * epoch E shows exactly the inputs of epoch E, and the answer to `Subscribe { accounts }` shows every frame the
 * connection sent before it (schemas/README.md, "Connecting"). A real FeedServer on loopback, `ws` clients, an engine
 * with automatic epochs and a journal on disk (`durability: 'sync'`), a publisher streaming frames so that some arrive
 * while an epoch scans or while its journal records are being synced.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encodeCollateral, encodeSubscribe, type AccountState, type FeedMessage } from '../src/feed/codec.js';
import { readJournal } from '../src/journal/reader.js';
import { RecordKind } from '../src/journal/format.js';
import { Feed, TIERS, until, type Started } from './support/feed.js';

const BTC = 1;
const feed = new Feed();
afterEach(() => feed.closeAll());
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** An engine with a synced journal, accounts 1..accounts each holding `collateral`, and a server in front of it. */
async function start(accounts: number, scanWorkers: number): Promise<Started & { dir: string; epochs: Map<number, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'unwind-state-frames-'));
  dirs.push(dir);
  const started = await feed.start({
    engine: { scanWorkers, capacity: { markets: 1, accounts: accounts + 1, positions: 4 }, journal: { dir, durability: 'sync', log: () => {} } },
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      for (let a = 1; a <= accounts; a++) e.addAccount(a, 0);
    },
  });
  // Every epoch's last input sequence, as the engine emitted it (after its journal records were synced).
  const epochs = new Map<number, number>();
  started.engine.onEpoch((r) => epochs.set(r.epoch, r.lastSequence));
  return { ...started, dir, epochs };
}

const states = (frames: readonly FeedMessage[]): AccountState[] => frames.flatMap((f) => (f.kind === 'accountStates' ? f.accounts : []));

/** The epochs whose EpochEnd record is in the journal's files now (written, not just buffered). */
function epochsOnDisk(dir: string): Set<number> {
  const ended = new Set<number>();
  try {
    for (const r of readJournal(dir, { repair: false, log: () => {} })) {
      if (r.kind === RecordKind.EpochEnd) ended.add(r.payload.readDoubleLE(0));
    }
  } catch {
    // A record being written as we read is torn: the ones before it were read.
  }
  return ended;
}

describe('state frames and the journal', () => {
  it('labels each account state with the epoch whose inputs it shows, never with inputs that arrived during the sync', async () => {
    const FRAMES = 600;
    const { engine, server, dir, epochs } = await start(1, 0);
    const sub = await feed.connect(server, 'subscriber');
    await sub.next(); // EngineStatus
    sub.send((s) => encodeSubscribe(s, { markets: [], accounts: [1], allOrders: false }));
    await sub.sync();
    const pub = await feed.connect(server, 'publisher');
    await pub.next();

    // Only this publisher sends inputs from here: collateral update i takes input sequence base + i + 1.
    const base = engine.lastSequence;
    const onDisk: boolean[] = [];
    sub.ws.on('message', () => {
      const last = sub.received.at(-1);
      if (last?.kind === 'accountStates' && onDisk.length < 20) onDisk.push(epochsOnDisk(dir).has(last.accounts[0]!.epoch));
    });
    let racing = 0; // epochs that emitted while later inputs had already been accepted
    const off = engine.onEpoch((r) => {
      if (engine.lastSequence > r.lastSequence) racing++;
    });
    for (let i = 0; i < FRAMES; i++) {
      pub.send((s) => encodeCollateral(s, [{ account: 1, collateral: 1_000 + i }]));
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    await until(() => engine.lastSequence === base + FRAMES, 'every collateral update accepted');
    await pub.sync();
    await engine.settled();
    await until(() => [...epochs.values()].includes(base + FRAMES), 'the epoch of the last update emitted');
    off();
    const seen = states(await sub.sync());

    expect(racing, 'inputs arrived while an epoch was in flight (the case under test)').toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(1);
    for (const s of seen) {
      const last = epochs.get(s.epoch);
      expect(last, `epoch ${s.epoch} was emitted before its state`).toBeDefined();
      // The last collateral update the epoch covers.
      const expected = last! <= base ? 0 : 1_000 + (last! - base - 1);
      expect(s.collateral, `account state of epoch ${s.epoch} (inputs through ${last})`).toBe(expected);
    }
    expect(seen.at(-1)!.collateral).toBe(1_000 + FRAMES - 1);
    expect(onDisk.length).toBeGreaterThan(0);
    expect(onDisk.every(Boolean), 'each state frame arrived after its epoch was in the journal file').toBe(true);
  });

  it('answers Subscribe { accounts } with states that show every frame the connection sent before it, even while an epoch is in flight', async () => {
    const ACCOUNTS = 120;
    const { engine, server, epochs } = await start(ACCOUNTS, 1);
    const pub = await feed.connect(server, 'publisher');
    await pub.next();
    const sequenceOf = new Map<number, number>();
    const base = engine.lastSequence;
    // Each round: a collateral update for a fresh account, then a subscription to it, in one burst.
    for (let a = 1; a <= ACCOUNTS; a++) {
      pub.send((s) => encodeCollateral(s, [{ account: a, collateral: 100 + a }]));
      sequenceOf.set(a, base + a);
      pub.send((s) => encodeSubscribe(s, { markets: [], accounts: [a], allOrders: false }));
    }
    await until(() => engine.lastSequence === base + ACCOUNTS, 'every collateral update accepted');
    const frames = await pub.sync();
    await engine.settled();
    const answered = new Map<number, AccountState>();
    const take = (fs: readonly FeedMessage[]): void => {
      for (const s of states(fs)) if (!answered.has(s.account)) answered.set(s.account, s);
    };
    take(frames);
    await until(() => {
      take(pub.drain().flatMap((r) => (r.kind === 'error' ? [] : [r])));
      return answered.size === ACCOUNTS;
    }, 'an answer for every subscription');
    for (let a = 1; a <= ACCOUNTS; a++) {
      const s = answered.get(a)!;
      expect(s.collateral, `the answer for account ${a}`).toBe(100 + a);
      // Labelled with an epoch that covers the update: the state is that epoch's.
      expect(epochs.get(s.epoch) ?? -1, `epoch ${s.epoch} of the answer for account ${a}`).toBeGreaterThanOrEqual(sequenceOf.get(a)!);
    }
  });
});
