/**
 * Signed reports verified on worker threads (src/oracle/verifier.ts) and landed in arrival order (src/oracle/intake.ts):
 * real worker threads (the built dist/workers/verify.worker.js), real Ed25519 signatures, real journal files and a
 * real uWS server. Outcomes are those of inline verification: the same codes, the same journal, the same digest.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig } from '../src/index.js';
import { replayJournal } from '../src/engine/replay.js';
import { VerifyingIntake, BYTES_PER_SIGNED_TICK } from '../src/oracle/intake.js';
import { SignatureVerifier } from '../src/oracle/verifier.js';
import { seal, VERDICT_INVALID } from '../src/oracle/verdicts.js';
import { JOB_ROWS, jobLayout, jobViews } from '../src/concurrency/verify-batch.js';
import { tickBatchOf, type Tick } from '../src/oracle/report.js';
import { encodeTicks, encodeSignedPriceTicks, encodeSubscribe, type FeedMessage } from '../src/feed/codec.js';
import { Feed } from './support/feed.js';
import { MARKET, oracleMarket, signer, Sources, T0 } from './support/oracle.js';

const PLAIN = 2;
const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const dirs: string[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function config(extra: EngineConfig = {}): EngineConfig {
  return { scanWorkers: 0, autoEpoch: false, capacity: { markets: 4, accounts: 32, positions: 64 }, sizing: { emergencyHealth: 1 }, oracle: { markets: [oracleMarket()] }, ...extra };
}

async function engineWith(extra: EngineConfig = {}): Promise<Engine> {
  const e = await Engine.start(config(extra));
  closers.push(() => e.close());
  e.addMarket({ id: MARKET, symbol: 'BTC-USD', price: 100, tiers: TIERS });
  e.addMarket({ id: PLAIN, symbol: 'ETH-USD', price: 50, tiers: TIERS });
  for (let a = 1; a <= 12; a++) {
    e.addAccount(a, 6 + a);
    e.upsertPosition({ account: a, market: a % 3 === 0 ? PLAIN : MARKET, size: a % 2 === 0 ? 1 : -1, entryPrice: a % 3 === 0 ? 50 : 100 });
  }
  return e;
}

function intakeFor(engine: Engine, workers = 2, limits = { maxBytes: 1 << 22, maxBytesPerOwner: 1 << 20 }): VerifyingIntake {
  const intake = new VerifyingIntake(new SignatureVerifier(engine.oracleConfig, { workers }), limits);
  closers.push(() => intake.close());
  return intake;
}

const codeOf = (e: unknown): string => (e as { code?: string }).code ?? String(e);

/** One input of a seeded script: signed reports (some forged or replayed), a direct price, a position, an epoch. */
type Op =
  | { readonly kind: 'reports'; readonly reports: Tick[]; readonly signatures: Uint8Array }
  | { readonly kind: 'price'; readonly price: number }
  | { readonly kind: 'position'; readonly account: number; readonly size: number }
  | { readonly kind: 'step' };

/** A seeded script of `n` inputs over MARKET (5 signed sources) and PLAIN (direct prices). */
function script(seed: number, n: number): Op[] {
  const [draws] = fc.sample(fc.array(fc.tuple(fc.nat(99), fc.nat(999), fc.nat(4), fc.integer({ min: 1, max: 12 })), { minLength: n, maxLength: n }), { seed, numRuns: 1 });
  const sources = new Sources(undefined, MARKET, T0);
  let price = 100;
  const ops: Op[] = [];
  draws!.forEach(([roll, move, pick, rows], i) => {
    price = Math.max(60, Math.min(140, price * (1 + (move - 500) / 20_000)));
    if (roll < 55) {
      const ids = Array.from({ length: rows }, (_, r) => ((pick + r) % 5) + 1);
      const reports = ids.flatMap((id) => sources.report(i * 0.01, { [id]: Math.round(price * 100 * (1 + id * 1e-4)) / 100 }));
      const signatures = sources.sign(reports);
      if (roll < 5) signatures.set(signer(9).sign(reports[0]!), 0); // forged: BAD_SIGNATURE
      if (roll >= 5 && roll < 8) reports.push({ ...reports[0]! }); // replayed: REPLAYED_REPORT
      const all = roll >= 5 && roll < 8 ? new Uint8Array([...signatures, ...signatures.subarray(0, 64)]) : signatures;
      ops.push({ kind: 'reports', reports, signatures: all });
    } else if (roll < 75) ops.push({ kind: 'price', price: 50 * (price / 100) });
    else if (roll < 90) ops.push({ kind: 'position', account: 3 * ((pick % 4) + 1), size: (rows - 6) / 4 || 0.5 });
    else ops.push({ kind: 'step' });
  });
  ops.push({ kind: 'step' });
  return ops;
}

function apply(engine: Engine, op: Exclude<Op, { kind: 'step' | 'reports' }>): void {
  if (op.kind === 'price') engine.pushPriceColumns([PLAIN], [op.price], 1);
  else engine.upsertPosition({ account: op.account, market: PLAIN, size: op.size, entryPrice: 50 });
}

/** The script inline: each input checked and verified on the main thread, as without workers. Returns each input's code ('' accepted). */
async function runInline(engine: Engine, ops: readonly Op[]): Promise<string[]> {
  const codes: string[] = [];
  for (const op of ops) {
    if (op.kind === 'step') {
      await engine.step();
      codes.push('');
      continue;
    }
    try {
      if (op.kind === 'reports') engine.pushReports(op.reports, op.signatures);
      else apply(engine, op);
      codes.push('');
    } catch (e) {
      codes.push(codeOf(e));
    }
  }
  return codes;
}

/** The script through the intake, without waiting between inputs (epoch boundaries wait for what came before). */
async function runIntake(engine: Engine, intake: VerifyingIntake, ops: readonly Op[]): Promise<{ codes: string[]; landed: number[] }> {
  const codes: string[] = new Array(ops.length).fill('?');
  const landed: number[] = [];
  let waiting: Promise<void>[] = [];
  for (const [i, op] of ops.entries()) {
    if (op.kind === 'step') {
      await Promise.all(waiting);
      waiting = [];
      landed.push(i);
      await engine.step();
      codes[i] = '';
      continue;
    }
    if (op.kind === 'reports') {
      const target = { oracleConfig: engine.oracleConfig, pushTicks: (b: Parameters<Engine['pushTicks']>[0]) => (landed.push(i), engine.pushTicks(b)) };
      waiting.push(intake.pushReports(target, op.reports, op.signatures, 'source').then(() => void (codes[i] = ''), (e) => void (codes[i] = codeOf(e))));
    } else {
      waiting.push(
        new Promise<void>((resolve) =>
          intake.inTurn('matching', 64, () => {
            landed.push(i);
            try {
              apply(engine, op);
              codes[i] = '';
            } catch (e) {
              codes[i] = codeOf(e);
            }
            resolve();
          }),
        ),
      );
    }
  }
  await Promise.all(waiting);
  return { codes, landed };
}

function journalBytes(dir: string): Buffer {
  const segments = readdirSync(dir).filter((f) => /^\d{20}/.test(f)).sort();
  return Buffer.concat(segments.map((f) => readFileSync(join(dir, f))));
}

const signedReports = (sources: Sources, t: number, ids: readonly number[], price: number): { reports: Tick[]; signatures: Uint8Array } => {
  const reports = sources.report(t, Object.fromEntries(ids.map((id) => [id, price])));
  return { reports, signatures: sources.sign(reports) };
};

describe('a verification job\'s byte map (src/concurrency/verify-batch.ts)', () => {
  it('lays keys, messages, signatures and verdicts end to end, without overlap, keys 4-byte aligned', () => {
    for (const rows of [1, 7, JOB_ROWS]) {
      const l = jobLayout(rows);
      expect([l.keys, l.messages, l.signatures, l.verdicts, l.bytes]).toEqual([0, 4 * rows, 4 * rows + 54 * rows, 4 * rows + 118 * rows, 4 * rows + 119 * rows]);
      const v = jobViews(new ArrayBuffer(l.bytes), rows);
      expect([v.keys.byteLength, v.messages.byteLength, v.signatures.byteLength, v.verdicts.byteLength]).toEqual([4 * rows, 54 * rows, 64 * rows, rows]);
    }
    expect(() => jobViews(new ArrayBuffer(10), JOB_ROWS)).toThrow(RangeError);
  });
});

describe('signed reports through the verify workers', () => {
  it('lands a valid batch verified on a worker thread, and refuses a forged one with BAD_SIGNATURE, changing nothing', async () => {
    const engine = await engineWith();
    const intake = intakeFor(engine);
    const sources = new Sources(undefined);
    const good = signedReports(sources, 0, [1, 2, 3], 101);
    await intake.pushReports(engine, good.reports, good.signatures);
    expect(engine.oracleStats()).toMatchObject({ accepted: 3, verified: 3, rejected: {} });
    expect(intake.verifier.stats()).toMatchObject({ workers: 2, rowsVerified: 3, rowsUnchecked: 0 });
    expect(engine.tables.markets.oraclePrice[0]).toBe(101);

    const before = { price: engine.tables.markets.oraclePrice[0], digest: engine.outputDigest(), sequence: engine.lastSequence };
    const forged = sources.report(1, { 1: 90, 2: 90, 3: 90 });
    const signatures = sources.sign(forged);
    signatures.set(signer(9).sign(forged[1]!), 64);
    const refused = await intake.pushReports(engine, forged, signatures).then(() => 'accepted', codeOf);
    expect(refused).toBe('BAD_SIGNATURE');
    expect({ price: engine.tables.markets.oraclePrice[0], digest: engine.outputDigest(), sequence: engine.lastSequence }).toEqual(before);
    expect(engine.oracleStats()).toMatchObject({ accepted: 3, rejected: { BAD_SIGNATURE: 3 } });
    // Inline, the same batch gets the same code.
    const inline = await engineWith();
    expect(() => inline.pushReports(forged, signatures)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
  });

  it('takes a sealed verdict in place of verifying, but only under the engine\'s own key registry', async () => {
    const engine = await engineWith();
    const sources = new Sources(undefined);
    const { reports, signatures } = signedReports(sources, 0, [1], 100);
    const forgedVerdict = tickBatchOf(reports, signatures);
    seal(forgedVerdict, engine.oracleConfig, new Uint8Array([VERDICT_INVALID]));
    expect(() => engine.pushTicks(forgedVerdict)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    const otherRegistry = tickBatchOf(reports, signatures);
    seal(otherRegistry, { ...engine.oracleConfig }, new Uint8Array([VERDICT_INVALID]));
    engine.pushTicks(otherRegistry); // verified inline: the signature is good
    expect(engine.oracleStats().accepted).toBe(1);
  });

  it('lands many signed batches interleaved with unsigned inputs in arrival order, with the codes, journal and digest of inline verification', async () => {
    const ops = script(20261124, 300);
    expect(ops.filter((o) => o.kind === 'reports').length).toBeGreaterThan(100);
    const [inlineDir, workerDir] = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'unwind-verify-')));
    dirs.push(inlineDir!, workerDir!);
    const journal = (dir: string): EngineConfig => ({ journal: { dir, snapshotEveryRecords: 1e9, log: () => {} } });

    const inline = await engineWith(journal(inlineDir!));
    const inlineCodes = await runInline(inline, ops);
    const inlineState = { digest: inline.outputDigest(), counts: inline.outputCounts, oracle: inline.oracleStats() };
    await inline.close();

    const engine = await engineWith(journal(workerDir!));
    const intake = intakeFor(engine, 2);
    const { codes, landed } = await runIntake(engine, intake, ops);
    expect(landed).toEqual(ops.map((_, i) => i));
    expect(codes).toEqual(inlineCodes);
    expect(new Set(codes)).toEqual(new Set(['', 'BAD_SIGNATURE', 'REPLAYED_REPORT']));
    expect(intake.verifier.stats().rowsUnchecked).toBe(0);
    expect({ digest: engine.outputDigest(), counts: engine.outputCounts, oracle: engine.oracleStats() }).toEqual(inlineState);
    expect(inlineState.counts.order).toBeGreaterThan(0);
    await intake.close();
    await engine.close();

    expect(journalBytes(workerDir!).equals(journalBytes(inlineDir!))).toBe(true);
    // Replay verifies the journaled signatures again, inline, and reaches the same outputs.
    const replayed = await replayJournal(workerDir!, { workers: 0 });
    expect(replayed.outputDigest).toBe(inlineState.digest);
  });

  it('verifies inline, with the same outcomes, the rows a worker never checked (verifier closed under load)', async () => {
    const engine = await engineWith();
    const intake = intakeFor(engine, 1);
    const sources = new Sources(undefined);
    const results: Promise<string>[] = [];
    for (let k = 0; k < 40; k++) {
      const { reports, signatures } = signedReports(sources, k * 0.01, [1, 2, 3, 4, 5], 100 + k / 10);
      if (k % 10 === 7) signatures.set(signer(9).sign(reports[2]!), 128);
      results.push(intake.pushReports(engine, reports, signatures).then(() => '', codeOf));
    }
    await intake.verifier.close();
    const codes = await Promise.all(results);
    expect(codes).toEqual(Array.from({ length: 40 }, (_, k) => (k % 10 === 7 ? 'BAD_SIGNATURE' : '')));
    expect(intake.verifier.stats().rowsUnchecked).toBeGreaterThan(0);
    expect(engine.oracleStats()).toMatchObject({ accepted: 36 * 5, rejected: { BAD_SIGNATURE: 4 * 5 } });
  });

  it('holds its bounds: beyond a sender\'s share, or everyone\'s, a batch is refused with BACKPRESSURE and changes nothing', async () => {
    const engine = await engineWith();
    const perOwner = 10 * BYTES_PER_SIGNED_TICK;
    const limits = { maxBytes: 25 * BYTES_PER_SIGNED_TICK, maxBytesPerOwner: perOwner };
    const intake = intakeFor(engine, 1, limits);
    const sources = new Sources(undefined);
    const outcomes: Promise<string>[] = [];
    let peak = 0;
    // 20 one-report batches from each of three senders, all in one turn: nothing lands in between.
    for (const owner of ['a', 'b', 'c']) {
      for (let k = 0; k < 20; k++) {
        const { reports, signatures } = signedReports(sources, k * 0.01, [1 + (k % 5)], 100);
        outcomes.push(intake.pushReports(engine, reports, signatures, owner).then(() => owner, codeOf));
        peak = Math.max(peak, intake.stats().bytes);
      }
    }
    expect(peak).toBe(limits.maxBytes);
    const settled = await Promise.all(outcomes);
    expect(settled.filter((o) => o === 'a')).toHaveLength(10);
    expect(settled.filter((o) => o === 'b')).toHaveLength(10);
    expect(settled.filter((o) => o === 'c')).toHaveLength(5);
    expect(settled.filter((o) => o === 'BACKPRESSURE')).toHaveLength(35);
    expect(engine.oracleStats()).toMatchObject({ accepted: 25, rejected: {} });
    expect(intake.stats()).toMatchObject({ waiting: 0, bytes: 0, refused: 35 });
    // Once what waited has landed, the sender's share is free again.
    const { reports, signatures } = signedReports(sources, 1, [1], 100);
    await intake.pushReports(engine, reports, signatures, 'a');
    expect(engine.oracleStats().accepted).toBe(26);
  });
});

describe('signed frames over the wire', () => {
  const feed = new Feed();
  afterEach(() => feed.closeAll());

  it('are verified on the workers and every frame lands in arrival order: acks in frame order, input sequences in the same order', async () => {
    const { engine, server } = await feed.start({
      engine: { autoEpoch: false, oracle: { markets: [oracleMarket()] } },
      server: { verifyWorkers: 2, clockIntervalMs: 60_000 },
      setup: (e) => {
        e.addMarket({ id: MARKET, symbol: 'BTC-USD', price: 100, tiers: TIERS });
        e.addMarket({ id: PLAIN, symbol: 'ETH-USD', price: 50, tiers: TIERS });
      },
    });
    const publisher = await feed.connect(server, 'publisher');
    await publisher.next();
    publisher.send((s) => encodeSubscribe(s, { markets: [], accounts: [], allOrders: false, acks: true }));
    const sources = new Sources(undefined, MARKET, Date.now() * 1000);
    const kinds: string[] = [];
    for (let k = 0; k < 60; k++) {
      if (k % 3 === 2) {
        kinds.push('plain');
        publisher.send((s) => encodeTicks(s, [{ market: PLAIN, source: 0, price: 50 + k / 100, confidence: 0, eventTimeUs: sources.t0, sourceSequence: k }]));
      } else {
        const { reports, signatures } = signedReports(sources, k * 0.001, [1 + (k % 5), 1 + ((k + 1) % 5)], 100 + k / 100);
        if (k === 31) signatures.set(signer(9).sign(reports[0]!), 0);
        kinds.push(k === 31 ? 'forged' : 'signed');
        publisher.send((s) => encodeSignedPriceTicks(s, reports, signatures));
      }
    }
    const answers = (await publisher.sync()).filter((m): m is Extract<FeedMessage, { kind: 'ack' | 'errorFrame' }> => m.kind === 'ack' || m.kind === 'errorFrame');
    const frames = answers.map((m) => (m.kind === 'ack' ? m.frameSequence : m.offendingSequence));
    expect(frames).toEqual(Array.from({ length: 60 }, (_, i) => i + 1)); // every frame after the subscribe (0), in order
    const errors = answers.filter((m) => m.kind === 'errorFrame');
    expect(errors.map((m) => [m.code, m.offendingSequence])).toEqual([['BAD_SIGNATURE', 32]]);
    const acks = answers.filter((m) => m.kind === 'ack');
    for (let i = 1; i < acks.length; i++) expect(acks[i]!.firstSequence).toBeGreaterThan(acks[i - 1]!.lastSequence);
    expect(engine.oracleStats()).toMatchObject({ accepted: 2 * (kinds.filter((k) => k === 'signed').length), verified: 2 * kinds.filter((k) => k === 'signed').length });
  });

  it('refuses frames beyond a connection\'s share with BACKPRESSURE; the refused ones change nothing', async () => {
    const { engine, server } = await feed.start({
      engine: { autoEpoch: false, oracle: { markets: [oracleMarket()] } },
      server: { verifyWorkers: 1, clockIntervalMs: 60_000, maxFrameBytes: 4096, maxIntakeBytesPerConnection: 4096 },
      setup: (e) => e.addMarket({ id: MARKET, symbol: 'BTC-USD', price: 100, tiers: TIERS }),
    });
    const publisher = await feed.connect(server, 'publisher');
    await publisher.next();
    const sources = new Sources(undefined, MARKET, Date.now() * 1000);
    // Frames of 25 reports (about 2.7 KB): one waits for its verdicts at a time, so a burst is mostly refused.
    for (let k = 0; k < 30; k++) {
      const reports = Array.from({ length: 5 }, (_, r) => sources.report(k * 0.01 + r * 0.001, { 1: 100, 2: 100, 3: 100, 4: 100, 5: 100 })).flat();
      const signatures = sources.sign(reports);
      publisher.send((s) => encodeSignedPriceTicks(s, reports, signatures));
    }
    const refused = (await publisher.sync()).filter((m) => m.kind === 'errorFrame');
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((m) => m.kind === 'errorFrame' && m.code))).toEqual(new Set(['BACKPRESSURE']));
    expect(engine.oracleStats()).toMatchObject({ accepted: 25 * (30 - refused.length), rejected: {} });
    expect(server.stats().rejected).toMatchObject({ BACKPRESSURE: refused.length });
  });
});
