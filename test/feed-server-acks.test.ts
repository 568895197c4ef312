/**
 * Acknowledgement frames (schemas/README.md "Acknowledgements"): a connection that asks for them
 * (`Subscribe { acks: true }`) gets an Ack `accepted` for each input frame right after it is applied, naming the
 * input sequences its inputs took, then an Ack `durable` once the journal holds it (one per flush may cover many
 * frames). Without a journal each frame gets one Ack `durable`. A real FeedServer on loopback, `ws` clients and the
 * SDK, real journal files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FeedClient as Sdk, FeedClientError } from '../src/feed/client.js';
import { encodeCollateral, encodeKillSwitch, encodePositions, encodeSubscribe, encodeTicks, encodeUnsubscribe, type Ack, type FeedMessage } from '../src/feed/codec.js';
import { RecordKind } from '../src/journal/format.js';
import { readJournal } from '../src/journal/reader.js';
import type { EngineConfig } from '../src/index.js';
import { Feed, PUBLISHER_TOKEN, TIERS, until, type FeedClient, type Started } from './support/feed.js';

const BTC = 1;
const feed = new Feed();
const sdks: Sdk[] = [];
afterEach(async () => {
  for (const c of sdks.splice(0)) c.close();
  await feed.closeAll();
});
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A journal in a fresh directory, synced to disk before each acknowledgement. */
function journal(): NonNullable<EngineConfig['journal']> {
  const dir = mkdtempSync(join(tmpdir(), 'unwind-acks-'));
  dirs.push(dir);
  return { dir, durability: 'sync', log: () => {} };
}

/** An engine with BTC and accounts 1..8, and a server (an admin token too, for the kill switch). */
function start(engine: EngineConfig = {}): Promise<Started> {
  return feed.start({
    engine: { capacity: { markets: 1, accounts: 16, positions: 16 }, ...engine },
    server: { adminTokens: ['an-admin-token-for-the-ack-tests'] },
    setup: (e) => {
      e.addMarket({ id: BTC, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      for (let a = 1; a <= 8; a++) e.addAccount(a, 1_000);
      e.setCollateral(1, 1_000); // an input that starts an epoch (markets and accounts alone do not)
    },
  });
}

/** A publisher that asked for acks (its Subscribe is frame 0, which gets none). */
async function publisher(server: Started['server']): Promise<FeedClient> {
  const pub = await feed.connect(server, 'publisher');
  await pub.next();
  pub.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, acks: true }));
  expect(await pub.sync()).toEqual([]);
  return pub;
}

const acks = (frames: readonly FeedMessage[]): (Ack & { kind: 'ack' })[] => frames.filter((f): f is Extract<FeedMessage, { kind: 'ack' }> => f.kind === 'ack');

/** Input records (not epoch boundaries, not the config) in the journal's files now. */
function inputRecordsOnDisk(dir: string): number {
  let n = 0;
  for (const r of readJournal(dir, { repair: false, log: () => {} })) {
    if (r.kind !== RecordKind.EpochStart && r.kind !== RecordKind.EpochEnd && r.kind !== RecordKind.Config) n++;
  }
  return n;
}

describe('acks with a journal', () => {
  it('acknowledges each applied frame as accepted with the input sequences it took, then as durable once the journal file holds it', async () => {
    const j = journal();
    const { engine, server } = await start({ journal: j });
    const pub = await publisher(server);
    const before = engine.lastSequence;
    const positions = pub.send((s) =>
      encodePositions(s, [
        { account: 1, market: BTC, size: 1, entryPrice: 50_000 },
        { account: 2, market: BTC, size: -2, entryPrice: 50_000 },
      ]),
    );
    const collateral = pub.send((s) => encodeCollateral(s, [{ account: 3, collateral: 5_000 }]));
    // Input records the engine holds once both frames are applied; the durable ack must find them in the file.
    let inputs = 0;
    let onDisk = -1;
    pub.ws.on('message', () => {
      const last = pub.received.at(-1);
      if (last?.kind === 'ack' && last.state === 'durable' && last.frameSequence === collateral && onDisk < 0) onDisk = inputRecordsOnDisk(j.dir);
    });
    await until(() => engine.lastSequence === before + 3, 'both frames applied');
    inputs = engine.inputCount;
    await until(() => acks(pub.received.flatMap((r) => (r.kind === 'error' ? [] : [r]))).some((a) => a.state === 'durable' && a.frameSequence === collateral), 'a durable ack');
    const got = acks(await pub.sync());

    // The accepted acks come in frame order, each naming its frame and the sequences its rows took (one per row).
    const accepted = got.filter((a) => a.state === 'accepted');
    expect(accepted).toEqual([
      { kind: 'ack', sequence: expect.any(Number), state: 'accepted', frameSequence: positions, firstSequence: before + 1, lastSequence: before + 2 },
      { kind: 'ack', sequence: expect.any(Number), state: 'accepted', frameSequence: collateral, firstSequence: before + 3, lastSequence: before + 3 },
    ]);
    // Durable acks cover every accepted frame up to theirs, in order, and come after the frame's accepted ack.
    const durable = got.filter((a) => a.state === 'durable');
    expect(durable.at(-1)).toMatchObject({ frameSequence: collateral, lastSequence: before + 3 });
    expect(durable[0]!.firstSequence).toBe(before + 1);
    expect(got.findIndex((a) => a.state === 'durable')).toBeGreaterThan(got.findIndex((a) => a.frameSequence === positions));
    expect(onDisk, 'input records in the journal file when the durable ack arrived').toBeGreaterThanOrEqual(inputs);
  });

  it('coalesces many frames into fewer durable acks, which together cover every accepted frame once, in order', async () => {
    const { engine, server } = await start({ journal: journal() });
    const pub = await publisher(server);
    const FRAMES = 300;
    const base = engine.lastSequence;
    const sent: number[] = [];
    for (let i = 0; i < FRAMES; i++) sent.push(pub.send((s) => encodeCollateral(s, [{ account: 1 + (i % 8), collateral: 1_000 + i }])));
    await until(() => engine.lastSequence === base + FRAMES, 'every frame applied');
    await until(() => pub.received.some((r) => r.kind === 'ack' && r.state === 'durable' && r.frameSequence === sent.at(-1)), 'the last durable ack');
    const got = acks(await pub.sync());
    expect(got.filter((a) => a.state === 'accepted').map((a) => a.frameSequence)).toEqual(sent);
    const durable = got.filter((a) => a.state === 'durable');
    expect(durable.length).toBeLessThan(FRAMES);
    // Consecutive ranges: each durable ack starts where the one before ended, from the first input to the last.
    let next = base + 1;
    let frame = -1;
    for (const d of durable) {
      expect(d.firstSequence).toBe(next);
      expect(d.frameSequence).toBeGreaterThan(frame);
      next = d.lastSequence + 1;
      frame = d.frameSequence;
    }
    expect(next).toBe(base + FRAMES + 1);
  });

  it('gives a rejected frame its ErrorFrame and no ack, a Subscribe none, and a frame whose inputs took no sequence an empty range', async () => {
    const { engine, server } = await start({ journal: journal() });
    const pub = await publisher(server);
    const bad = pub.send((s) => encodeCollateral(s, [{ account: 999, collateral: Number.NaN }]));
    const subscribe = pub.send((s) => encodeSubscribe(s, { markets: [BTC], accounts: [], allOrders: false }));
    const good = pub.send((s) => encodeTicks(s, [{ market: BTC, source: 1, price: 50_100, confidence: 0, eventTimeUs: 1, sourceSequence: 1 }]));
    const frames = await pub.sync();
    expect(frames.find((f) => f.kind === 'errorFrame')).toMatchObject({ code: 'INVALID_FIELD', offendingSequence: bad });
    const got = acks(frames);
    expect(got.filter((a) => a.state === 'accepted').map((a) => a.frameSequence)).toEqual([good]);
    expect(got.some((a) => a.frameSequence === subscribe || a.frameSequence === bad)).toBe(false);

    // An admin's kill switch that changes no market's mode takes no input sequence: first = last + 1.
    const admin = await feed.connect(server, { token: 'an-admin-token-for-the-ack-tests' });
    await admin.next();
    admin.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, acks: true }));
    const last = engine.lastSequence;
    const normal = admin.send((s) => encodeKillSwitch(s, { level: 'normal', market: undefined, reason: '' }));
    const [ack] = acks(await admin.sync());
    expect(ack).toMatchObject({ state: 'accepted', frameSequence: normal, firstSequence: last + 1, lastSequence: last });
  });

  it('sends acks only to a connection that asked, and stops after Unsubscribe { acks }', async () => {
    const { server } = await start({ journal: journal() });
    const quiet = await feed.connect(server, 'publisher');
    await quiet.next();
    quiet.send((s) => encodeCollateral(s, [{ account: 1, collateral: 7 }]));
    expect(acks(await quiet.sync())).toEqual([]);
    const pub = await publisher(server);
    const acked = pub.send((s) => encodeCollateral(s, [{ account: 1, collateral: 8 }]));
    await until(() => pub.received.some((r) => r.kind === 'ack' && r.state === 'durable'), 'a durable ack');
    pub.send((s) => encodeUnsubscribe(s, { markets: [], accounts: [], allOrders: false, acks: true }));
    pub.send((s) => encodeCollateral(s, [{ account: 1, collateral: 9 }]));
    const all = acks([...pub.drain().flatMap((r) => (r.kind === 'error' ? [] : [r])), ...(await pub.sync())]);
    expect(new Set(all.map((a) => a.frameSequence))).toEqual(new Set([acked]));
  });
});

describe('acks without a journal', () => {
  it('acknowledges each applied frame once, as durable: accepted is as durable as it gets', async () => {
    const { engine, server } = await start();
    const pub = await publisher(server);
    const before = engine.lastSequence;
    const a = pub.send((s) => encodeCollateral(s, [{ account: 1, collateral: 1 }, { account: 2, collateral: 2 }]));
    const b = pub.send((s) => encodeCollateral(s, [{ account: 3, collateral: 3 }]));
    expect(acks(await pub.sync()).map(({ sequence: _s, ...ack }) => ack)).toEqual([
      { kind: 'ack', state: 'durable', frameSequence: a, firstSequence: before + 1, lastSequence: before + 2 },
      { kind: 'ack', state: 'durable', frameSequence: b, firstSequence: before + 3, lastSequence: before + 3 },
    ]);
  });

  it('the input sequences of an ack are those the engine stamps on the orders the frame causes (position_sequence)', async () => {
    const { server } = await start();
    const pub = await publisher(server);
    pub.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: true }));
    // Account 4, 1,000 of collateral, long 1 BTC from 60,000 at a mark of 50,000: equity -9,000, liquidatable.
    const frame = pub.send((s) => encodePositions(s, [{ account: 4, market: BTC, size: 1, entryPrice: 60_000 }]));
    let order: Extract<FeedMessage, { kind: 'orders' }> | undefined;
    let ack: Ack | undefined;
    await until(() => {
      for (const f of pub.drain()) {
        if (f.kind === 'orders') order = f;
        if (f.kind === 'ack' && f.frameSequence === frame) ack = f;
      }
      return order !== undefined && ack !== undefined;
    }, 'the ack and the order');
    expect(order!.orders[0]!.positionSequence).toBe(ack!.firstSequence);
    expect(order!.orders[0]!.id).toBe(`4-${BTC}-${ack!.firstSequence}`);
  });
});

describe('the SDK', () => {
  const connect = async (server: Started['server'], acks = true): Promise<Sdk> => {
    const c = await Sdk.connect({ url: server.url, token: PUBLISHER_TOKEN, acks, reconnect: false });
    sdks.push(c);
    return c;
  };

  it('resolves durable(sequence) once the journal holds the frame, and accepted(sequence) with its input sequences', async () => {
    const { engine, server } = await start({ journal: journal() });
    const client = await connect(server);
    const seen: Ack[] = [];
    client.on('ack', (a) => seen.push(a));
    const before = engine.lastSequence;
    const sequence = client.sendCollateral([{ account: 5, collateral: 123 }]);
    const accepted = client.accepted(sequence);
    await client.durable(sequence);
    expect(await accepted).toEqual({ firstSequence: before + 1, lastSequence: before + 1 });
    expect(seen.map((a) => a.state)).toEqual(['accepted', 'durable']);
    // Already durable: resolves at once.
    await expect(client.durable(sequence)).resolves.toBeUndefined();
  });

  it('rejects durable() for a frame the server rejected (REJECTED, with its code), without acks (ACKS_OFF) and for a frame never sent (NOT_SENT)', async () => {
    const { server } = await start({ journal: journal() });
    const client = await connect(server);
    const bad = client.sendCollateral([{ account: 999, collateral: Number.POSITIVE_INFINITY }]);
    await expect(client.durable(bad)).rejects.toMatchObject({ code: 'REJECTED', serverCode: 'INVALID_FIELD' });
    await expect(client.durable(bad)).rejects.toMatchObject({ code: 'REJECTED' });
    await expect(client.durable(10_000)).rejects.toMatchObject({ code: 'NOT_SENT' });
    const plain = await connect(server, false);
    const e = await plain.durable(plain.sendCollateral([{ account: 5, collateral: 1 }])).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FeedClientError);
    expect(e).toMatchObject({ code: 'ACKS_OFF' });
  });

  it('rejects what is pending with CONNECTION_LOST when the connection closes before the ack', async () => {
    const { engine, server } = await start({ journal: journal() });
    const client = await connect(server);
    const before = engine.lastSequence;
    // The server (on this thread) closes before it can read the frame: it is never applied, never acknowledged.
    const pending = client.durable(client.sendCollateral([{ account: 5, collateral: 1 }]));
    void server.close();
    await expect(pending).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    expect(engine.lastSequence).toBe(before);
  });
});
