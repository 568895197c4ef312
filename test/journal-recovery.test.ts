/**
 * Recovery from a real journal directory (README "Journal"): an engine closed after the first CUT steps of the seeded
 * script and started again on its journal continues as if it had never stopped: same output digest, same ledger, same
 * accounts as one engine that ran the whole script without a journal. From a snapshot or from the first record,
 * with scan workers or without, past damaged snapshots, and through an epoch whose end the journal does not hold.
 */
import { openSync, readFileSync, truncateSync, writeSync, closeSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig, type LiquidationOrder } from '../src/index.js';
import {
  CUT,
  journaled,
  Kind,
  lastOfKind,
  loadBook,
  playSteps,
  recordsOf,
  referenceState,
  removeTempDirs,
  SEED,
  segmentsOf,
  settle,
  snapshotsOf,
  startFailure,
  stateOf,
  STEPS,
  tempDir,
  writeJournal,
  writeSyncMark,
} from './support/journal.js';

afterEach(removeTempDirs);

/** Flips every bit of the byte at `offset` of `path`. */
function flipByte(path: string, offset: number): void {
  const b = readFileSync(path);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([b[offset]! ^ 0xff]), 0, 1, offset);
  closeSync(fd);
}

/** Starts an engine on `dir`, checks it sits where the first one closed, plays the rest, and returns its state. */
async function recoverAndFinish(dir: string, log: string[], journal: Parameters<typeof journaled>[2], config: EngineConfig, closed: { digest: string; inputs: number }): Promise<{ engine: Engine; state: unknown }> {
  const engine = await Engine.start(journaled(dir, log, journal, config));
  try {
    expect(engine.outputDigest()).toBe(closed.digest);
    expect(engine.inputCount).toBe(closed.inputs);
    await playSteps(engine, SEED, CUT, STEPS);
    return { engine, state: stateOf(engine) };
  } finally {
    await engine.close();
  }
}

/** Plays steps 0 to CUT - 1 into a journal in a new directory and closes; returns the digest and input count then. */
async function writeUntilCut(journal: Parameters<typeof journaled>[2], config: EngineConfig = {}): Promise<{ dir: string; digest: string; inputs: number }> {
  const dir = tempDir();
  const engine = await Engine.start(journaled(dir, [], journal, config));
  loadBook(engine, SEED);
  const played = await playSteps(engine, SEED, 0, CUT);
  // The script reaches the outputs recovery must reproduce.
  expect(played.orders).toBeGreaterThan(0);
  expect(played.marginCalls).toBeGreaterThan(0);
  expect(played.fills).toBeGreaterThan(0);
  expect(played.expiries).toBeGreaterThan(0);
  const closed = { dir, digest: engine.outputDigest(), inputs: engine.inputCount };
  await engine.close();
  return closed;
}

/** Records after the journal's last EpochEnd: the inputs the next epoch takes. */
function recordsAfterLastEpochEnd(dir: string): number {
  const records = segmentsOf(dir).flatMap(recordsOf);
  const lastEnd = lastOfKind(records, Kind.EpochEnd);
  return records.filter((r) => r.sequence > lastEnd.sequence).length;
}

describe('recovery after a clean close', () => {
  it.each([
    { label: 'no snapshots, no scan workers', snapshotEveryRecords: Infinity, scanWorkers: 0, durability: 'sync' as const },
    { label: 'snapshots, no scan workers', snapshotEveryRecords: 20, scanWorkers: 0, durability: 'sync' as const },
    { label: 'no snapshots, two scan workers', snapshotEveryRecords: Infinity, scanWorkers: 2, durability: 'sync' as const },
    { label: 'snapshots, two scan workers', snapshotEveryRecords: 20, scanWorkers: 2, durability: 'sync' as const },
    { label: 'snapshots, group durability', snapshotEveryRecords: 20, scanWorkers: 0, durability: 'group' as const },
  ])('gives the same digest, ledger, accounts and input count as an uninterrupted run ($label)', async ({ snapshotEveryRecords, scanWorkers, durability }) => {
    const journal = { snapshotEveryRecords, durability };
    const closed = await writeUntilCut(journal, { scanWorkers });
    const log: string[] = [];
    const { engine, state } = await recoverAndFinish(closed.dir, log, journal, { scanWorkers }, closed);
    expect(state).toEqual(await referenceState());
    // The digest covers every kind of output the script provokes.
    const { outputs } = state as { outputs: Record<string, number> };
    for (const kind of ['order', 'marginCall', 'stateChange', 'fill', 'deleverage', 'marketStatus']) expect(outputs[kind], kind).toBeGreaterThan(0);
    expect(engine.recovery).toMatchObject({ dir: closed.dir, tornBytes: 0, interruptedEpoch: false });
    expect(engine.recovery!.snapshot === undefined).toBe(snapshotEveryRecords === Infinity);
    expect(log.filter((l) => /torn|passed over/.test(l))).toEqual([]);
  });

  it('starts from the newest snapshot and replays only the journal after it', async () => {
    const journal = { snapshotEveryRecords: 20 };
    const closed = await writeUntilCut(journal);
    const snapshots = snapshotsOf(closed.dir);
    expect(snapshots).toHaveLength(2); // older ones are deleted
    const newest = snapshots[1]!;
    const sequence = Number(/snapshot-(\d{20})\.snap$/.exec(newest)![1]);
    const records = segmentsOf(closed.dir).flatMap(recordsOf);
    const lastSequence = records.at(-1)!.sequence;

    const log: string[] = [];
    const engine = await Engine.start(journaled(closed.dir, log, journal));
    try {
      expect(engine.recovery).toEqual({
        dir: closed.dir,
        snapshot: { path: newest, sequence },
        replayedRecords: lastSequence - sequence,
        lastSequence,
        tornBytes: 0,
        interruptedEpoch: false,
        pendingInputs: recordsAfterLastEpochEnd(closed.dir),
      });
      expect(lastSequence - sequence).toBeLessThan(lastSequence / 2);
      expect(log).toContain(`unwind journal: loaded ${newest} (records through ${sequence})`);
      expect(engine.outputDigest()).toBe(closed.digest);
      await playSteps(engine, SEED, CUT, STEPS);
      expect(stateOf(engine)).toEqual(await referenceState());
    } finally {
      await engine.close();
    }
  });

  it('passes over a newest snapshot that fails its checksum, says so, and gets the same result from the older one', async () => {
    const journal = { snapshotEveryRecords: 20 };
    const closed = await writeUntilCut(journal);
    const [older, newest] = snapshotsOf(closed.dir) as [string, string];
    flipByte(newest, statSync(newest).size - 5);
    const log: string[] = [];
    const { engine, state } = await recoverAndFinish(closed.dir, log, journal, {}, closed);
    expect(log).toContain(`unwind journal: passed over snapshot ${newest}: checksum does not match`);
    expect(engine.recovery!.snapshot!.path).toBe(older);
    expect(state).toEqual(await referenceState());
  });

  it('replays the journal from its first record when no snapshot is whole, naming each one passed over', async () => {
    const journal = { snapshotEveryRecords: 20 };
    const closed = await writeUntilCut(journal);
    const [older, newest] = snapshotsOf(closed.dir) as [string, string];
    truncateSync(newest, 20); // shorter than a snapshot's header
    flipByte(older, 40);
    const log: string[] = [];
    const { engine, state } = await recoverAndFinish(closed.dir, log, journal, {}, closed);
    expect(log.filter((l) => l.includes('passed over snapshot'))).toEqual([
      `unwind journal: passed over snapshot ${newest}: not a snapshot of this version`,
      `unwind journal: passed over snapshot ${older}: checksum does not match`,
    ]);
    expect(engine.recovery!.snapshot).toBeUndefined();
    expect(engine.recovery!.replayedRecords).toBe(engine.recovery!.lastSequence);
    expect(state).toEqual(await referenceState());
  });
});

describe('recovery of an epoch the stop interrupted', () => {
  it('completes an epoch whose end is not in the journal and emits its orders once the caller is listening', async () => {
    // The live run: the epoch of step CUT - 1 is the one the cut will interrupt; keep what it issued.
    const dir = tempDir();
    const live = await Engine.start(journaled(dir, [], { snapshotEveryRecords: Infinity }));
    loadBook(live, SEED);
    await playSteps(live, SEED, 0, CUT - 1);
    let issued: { orders: LiquidationOrder[]; digest: string } | undefined;
    live.onEpoch((r) => (issued = { orders: r.orders, digest: live.outputDigest() }));
    await playSteps(live, SEED, CUT - 1, CUT);
    await live.close();
    expect(issued!.orders.length).toBeGreaterThan(0);

    // The process stopped right after the epoch's start reached the disk.
    const [segment] = segmentsOf(dir) as [string];
    const start = lastOfKind(recordsOf(segment), Kind.EpochStart);
    truncateSync(segment, start.end);
    writeSyncMark(dir, { segment: 1, bytes: start.end, sequence: start.sequence }); // synced through the epoch's start

    const engine = await Engine.start(journaled(dir, [], { snapshotEveryRecords: Infinity }));
    try {
      expect(engine.recovery).toMatchObject({ interruptedEpoch: true, lastSequence: start.sequence, pendingInputs: 0, tornBytes: 0 });
      const orders: LiquidationOrder[] = [];
      engine.onOrder((o) => orders.push(o));
      const epoch = await new Promise<number>((resolve) => engine.onEpoch((r) => resolve(r.epoch)));
      expect(epoch).toBe(CUT);
      expect(orders).toEqual(issued!.orders);
      expect(engine.outputDigest()).toBe(issued!.digest);
      // The matching engine answers those orders as it would have; the rest of the script follows.
      settle(engine, SEED, CUT - 1, orders);
      await playSteps(engine, SEED, CUT, STEPS);
      expect(stateOf(engine)).toEqual(await referenceState());
    } finally {
      await engine.close();
    }
  });
});

describe('the config a journal was written under', () => {
  it('refuses another marginCallHealth with JOURNAL_MISMATCH naming the first differing path, and leaves the journal as it was', async () => {
    const { dir } = await writeJournal(3);
    const sizes = segmentsOf(dir).map((p) => statSync(p).size);
    const e = await startFailure(journaled(dir, [], {}, { marginCallHealth: 1.3 }));
    expect(e.code).toBe('JOURNAL_MISMATCH');
    expect(e.message).toContain(`the journal in ${dir} was written under another engine config (first difference at config.marginCallHealth)`);
    expect(segmentsOf(dir).map((p) => statSync(p).size)).toEqual(sizes);
  });

  it('refuses another capacity, naming the nested field', async () => {
    const { dir } = await writeJournal(1);
    const e = await startFailure(journaled(dir, [], {}, { capacity: { markets: 4, accounts: 401, positions: 1_200 } }));
    expect(e.code).toBe('JOURNAL_MISMATCH');
    expect(e.message).toContain('first difference at config.capacity.accounts');
  });

  it('takes another scanWorkers or autoEpoch, which do not decide outputs', async () => {
    const closed = await writeUntilCut({}, { scanWorkers: 0 });
    const auto = await Engine.start(journaled(closed.dir, [], {}, { scanWorkers: 1, autoEpoch: true }));
    expect(auto.outputDigest()).toBe(closed.digest);
    await auto.close();
    // autoEpoch may have run an epoch of its own above: continue from a fresh copy of the journal instead.
    const again = await writeUntilCut({}, { scanWorkers: 0 });
    const { state } = await recoverAndFinish(again.dir, [], {}, { scanWorkers: 2 }, again);
    expect(state).toEqual(await referenceState());
  });
});

describe('the output digest of fills', () => {
  const TIERS = [{ maxNotional: null, maintenanceMarginFraction: 0.05, initialMarginFraction: 0.1 }];

  // A fill settlement carries the caller's fill object as given (src/clearing/clearing.ts spreads it), while the
  // journal keeps only Fill's six fields in their own order: the digest line of the same fill then differs.
  it.each([
    { label: 'keys in another order', fill: (o: LiquidationOrder) => ({ eventTimeUs: 1, price: o.limitPrice, quantity: o.quantity, market: o.market, account: o.account, orderId: o.id }) },
    { label: 'an extra property', fill: (o: LiquidationOrder) => ({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: 1, venue: 'book-7' }) },
  ])('is recovered whatever fill objects the caller passed ($label)', async ({ fill }) => {
    const dir = tempDir();
    const live = await Engine.start(journaled(dir, []));
    live.addMarket({ id: 1, tiers: TIERS, price: 100 });
    live.addAccount(1, 40);
    live.upsertPosition({ account: 1, market: 1, size: 10, entryPrice: 100 });
    live.pushPrice(1, 96); // equity 0 < maintenance 48
    const [order] = (await live.step()).orders;
    live.fill(fill(order!));
    const digest = live.outputDigest();
    await live.close();

    const recovered = await Engine.start(journaled(dir, []));
    try {
      expect(recovered.outputDigest()).toBe(digest);
    } finally {
      await recovered.close();
    }
  });
});

describe('the output digest read along the way', () => {
  const TIERS = [{ maxNotional: null, maintenanceMarginFraction: 0.05, initialMarginFraction: 0.1 }];

  /** Two accounts liquidated in one epoch, both orders filled by separate calls; `read` between the two fills. */
  async function twoFills(dir: string, read: boolean): Promise<string> {
    const engine = await Engine.start(journaled(dir, []));
    engine.addMarket({ id: 1, tiers: TIERS, price: 100 });
    for (const account of [1, 2]) {
      engine.addAccount(account, 40);
      engine.upsertPosition({ account, market: 1, size: 10, entryPrice: 100 });
    }
    engine.pushPrice(1, 96);
    const { orders } = await engine.step();
    expect(orders).toHaveLength(2);
    const fill = (o: LiquidationOrder) => ({ orderId: o.id, account: o.account, market: o.market, quantity: o.quantity, price: o.limitPrice, eventTimeUs: 1 });
    engine.fill(fill(orders[0]!));
    if (read) engine.outputDigest();
    engine.fill(fill(orders[1]!));
    const digest = engine.outputDigest();
    await engine.close();
    return digest;
  }

  it('does not change when it is read between two inputs that produce outputs', async () => {
    const unread = await twoFills(tempDir(), false);
    const dir = tempDir();
    const read = await twoFills(dir, true);
    expect(read).toBe(unread);
    const recovered = await Engine.start(journaled(dir, []));
    try {
      expect(recovered.outputDigest()).toBe(read);
    } finally {
      await recovered.close();
    }
  });
});
