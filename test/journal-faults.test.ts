/**
 * Startup and I/O faults are explicit: what the journal does when the process dies while it writes the
 * initial book, when the disk will not take a write, when a record that was on disk is damaged or a segment is
 * gone, and when its directory cannot be one. Real files throughout; real `unwind serve` processes killed with
 * SIGKILL where a crash is involved; a real ENOSPC (the segment's descriptor pointed at /dev/full) and a real EFBIG
 * (a file size limit) where the disk fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Engine, isUnwindError, type EngineConfig, type LiquidationOrder, type UnwindError } from '../src/index.js';
import { encodeSubscribe, encodeTicks } from '../src/feed/codec.js';
import { Feed, FeedClient, PUBLISHER_TOKEN, SUBSCRIBER_TOKEN, TIERS as FEED_TIERS, until } from './support/feed.js';
import {
  BASE_CONFIG,
  CUT,
  firstSequenceOf,
  journaled,
  Kind,
  loadBook,
  playSteps,
  RECORD_HEADER,
  recordsOf,
  removeTempDirs,
  SEED,
  segmentsOf,
  snapshotsOf,
  startFailure,
  tempDir,
  writeJournal,
  writeSyncMark,
  flipByte,
  overwrite,
} from './support/journal.js';
import { Random } from './support/random.js';
import { logMessage } from './support/cli.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const NO_SNAPSHOTS = { snapshotEveryRecords: Infinity };

afterAll(removeTempDirs);

// ---- helpers ----

/**
 * Points the descriptor this process holds on `path` at /dev/full: from now on every write through it fails with
 * ENOSPC, as on a full disk (and fdatasync with EINVAL). The engine's code is untouched: the kernel fails the call.
 */
function fillDiskUnder(path: string): void {
  const target = realpathSync(path);
  const fds = readdirSync('/proc/self/fd')
    .map(Number)
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === target;
      } catch {
        return false;
      }
    });
  expect(fds).toHaveLength(1);
  const fd = fds[0]!;
  closeSync(fd);
  // open() takes the lowest free descriptor: fill any lower holes, then `fd` itself is taken by /dev/full.
  const holes: number[] = [];
  for (;;) {
    const got = openSync('/dev/full', 'r+');
    if (got === fd) break;
    holes.push(got);
    if (got > fd) throw new Error(`descriptor ${fd} was taken by someone else`);
  }
  for (const h of holes) closeSync(h);
}

/** A journaled engine (autoEpoch as given) holding the seeded book, its first epoch done and on disk. */
async function engineWithBook(dir: string, log: string[], config: EngineConfig = {}): Promise<Engine> {
  const engine = await Engine.start(journaled(dir, log, NO_SNAPSHOTS, config));
  const first = new Promise<void>((resolve) => engine.onEpoch(() => resolve()));
  loadBook(engine, SEED);
  if (engine.config.autoEpoch) await first;
  else await engine.step();
  await engine.durable();
  return engine;
}

/** Market 1 falls from 100 to 60: its longs go under, so the epoch that takes this price issues orders. */
const CRASH = { market: 1, price: 60 } as const;

/** The orders the crash gives without a journal (what the failed epoch would have emitted). */
async function ordersOfTheCrash(): Promise<LiquidationOrder[]> {
  const engine = await Engine.start(BASE_CONFIG);
  try {
    loadBook(engine, SEED);
    await engine.step();
    engine.pushPrice(CRASH.market, CRASH.price);
    return (await engine.step()).orders;
  } finally {
    await engine.close();
  }
}

function codeOf(e: unknown): string {
  return isUnwindError(e) ? e.code : `not an UnwindError: ${String(e)}`;
}

// ---- unwind serve as a child process ----

interface Serving {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: () => string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

/** Starts `unwind serve --config FILE` (through `bash -c` when `shell` prefixes it, e.g. with a ulimit). */
function serveProcess(config: string, shell?: string): Serving {
  const args = [CLI, 'serve', '--config', config, '--stats-every', '0'];
  const child =
    shell === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `${shell}; exec "${process.execPath}" ${args.map((a) => `'${a}'`).join(' ')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(logMessage(line))); // JSON log lines: their messages
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, lines, stderr: () => stderr, exit };
}

/** Resolves once the server printed its `engine:` line (it listens), or rejects if it exits first. */
async function ready(s: Serving, ms = 60_000): Promise<string> {
  const deadline = Date.now() + ms;
  let exited: unknown;
  void s.exit.then((e) => (exited = e));
  for (;;) {
    const url = s.lines.find((l) => l.startsWith('unwind serve: ws://'));
    if (url !== undefined && s.lines.some((l) => l.startsWith('engine:'))) return /(ws:\/\/\S+)/.exec(url)![1]!;
    if (exited !== undefined) throw new Error(`serve exited (${JSON.stringify(exited)}): ${s.stderr()}`);
    if (Date.now() > deadline) throw new Error(`serve not ready within ${ms} ms: ${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What a subscriber hears first: the EngineStatus frame with the engine's counts. */
async function countsAt(url: string): Promise<{ markets: number; accounts: number; positions: number }> {
  const client = await FeedClient.connect(url, { token: SUBSCRIBER_TOKEN });
  try {
    const s = await client.next(10_000);
    if (s.kind !== 'engineStatus') throw new Error(`the first frame is ${s.kind}, expected engineStatus`);
    return { markets: s.markets, accounts: s.accounts, positions: s.positions };
  } finally {
    await client.close();
  }
}

async function kill(s: Serving): Promise<void> {
  s.child.kill('SIGKILL');
  await s.exit;
  children.delete(s.child);
}

const BOOK_ACCOUNTS = 20_000;
const BOOK = {
  markets: [1, 2].map((id) => ({ id, symbol: `M${id}-USD`, price: 100, tiers: FEED_TIERS })),
  accounts: Array.from({ length: BOOK_ACCOUNTS }, (_, i) => ({
    id: i + 1,
    collateral: 1_000 + (i % 97),
    positions: [{ market: 1 + (i % 2), size: (i % 3 === 0 ? -1 : 1) * (1 + (i % 5)), entryPrice: 100, isolatedCollateral: null }],
  })),
};
const WHOLE = { markets: 2, accounts: BOOK_ACCOUNTS, positions: BOOK_ACCOUNTS };

/** A serve config file: the 20,000-account book, a journal in `journal`, the tests' tokens. */
function serveConfig(journal: string, book: { markets: unknown[]; accounts: unknown[] } = BOOK): string {
  const file = join(tempDir('unwind-serve-config-'), 'serve.json');
  writeFileSync(
    file,
    JSON.stringify({
      server: { port: 0, publisherTokens: [PUBLISHER_TOKEN], subscriberTokens: [SUBSCRIBER_TOKEN], statusIntervalMs: 0 },
      engine: { scanWorkers: 0, capacity: { markets: 2, accounts: BOOK_ACCOUNTS, positions: 2 * BOOK_ACCOUNTS }, journal: { dir: journal } },
      ...book,
    }),
  );
  return file;
}

describe('the initial book of unwind serve', () => {
  it('comes back whole after a crash tore the journal anywhere inside it: recovery finds none of it and serve loads it again', async () => {
    // A whole run, killed once it serves: the journal as it is on disk.
    const whole = tempDir();
    const first = serveProcess(serveConfig(whole));
    const url = await ready(first);
    expect(await countsAt(url)).toEqual(WHOLE);
    await kill(first);
    const [segment] = segmentsOf(whole) as [string];
    const records = recordsOf(segment);
    expect(records[0]!.kind).toBe(Kind.Config);
    const bookStart = records[1]!.offset;
    const bookEnd = records.find((r) => r.kind === Kind.EpochStart)!.offset;
    expect(bookEnd - bookStart).toBeGreaterThan(BOOK_ACCOUNTS * 40);

    // The same journal as a kill while its book was being written would leave it: cut at seeded offsets inside
    // the book, nothing after the Config synced yet (the book and the first epoch are synced together).
    const rand = new Random(0xb00c);
    const cuts = [bookStart + 1, bookStart + RECORD_HEADER + 8, ...Array.from({ length: 5 }, () => rand.int(bookStart + 1, bookEnd - 1)), bookEnd - 1];
    for (const at of cuts) {
      const dir = tempDir();
      cpSync(whole, dir, { recursive: true });
      const torn = join(dir, basename(segment));
      truncateSync(torn, at);
      writeSyncMark(dir, { segment: 1, bytes: 16, sequence: 0 });
      const again = serveProcess(serveConfig(dir));
      const counts = await countsAt(await ready(again));
      expect({ at, ...counts }).toEqual({ at, ...WHOLE });
      expect(again.lines.join('\n')).toContain(`unwind journal: cut a torn record off ${torn} at offset ${bookStart}`); // logged
      await kill(again);
    }
  }, 120_000);

  it('is never partial after SIGKILLs at seeded moments while serve starts and journals it', async () => {
    // How long a start takes here, to spread the kills over it.
    const probe = tempDir();
    const t0 = Date.now();
    const s = serveProcess(serveConfig(probe));
    await ready(s);
    const startMs = Date.now() - t0;
    await kill(s);

    const rand = new Random(0x5e7e);
    for (let trial = 0; trial < 6; trial++) {
      const dir = tempDir();
      const config = serveConfig(dir);
      for (let k = 0; k < 2; k++) {
        const victim = serveProcess(config);
        await new Promise((r) => setTimeout(r, rand.int(Math.floor(startMs * 0.3), Math.floor(startMs * 1.1))));
        await kill(victim);
      }
      const last = serveProcess(config);
      expect({ trial, ...(await countsAt(await ready(last))) }).toEqual({ trial, ...WHOLE });
      await kill(last);
    }
  }, 120_000);

  it('leaves nothing of a book rejected part way in the journal: a fixed config then loads it whole', async () => {
    const dir = tempDir();
    const bad = { ...BOOK, accounts: BOOK.accounts.map((a, i) => (i === 12_345 ? { ...a, id: 7 } : a)) }; // account 7 twice
    const refused = serveProcess(serveConfig(dir, bad));
    const { code } = await refused.exit;
    expect(code).toBe(2);
    expect(refused.stderr()).toMatch(/DUPLICATE_ACCOUNT: accounts\[12345\]\.id/);
    const fixed = serveProcess(serveConfig(dir));
    expect(await countsAt(await ready(fixed))).toEqual(WHOLE);
    await kill(fixed);
  }, 60_000);
});

describe('a journal the disk will not take', () => {
  it('fails the epoch whose records did not reach the disk with JOURNAL_IO, emits none of its orders, and rejects every later input, changing nothing', async () => {
    const dir = tempDir();
    const log: string[] = [];
    const engine = await engineWithBook(dir, log, { autoEpoch: false });
    const errors: unknown[] = [];
    engine.onError((e) => errors.push(e));
    const orders: LiquidationOrder[] = [];
    engine.onOrder((o) => orders.push(o));
    engine.pushPrice(CRASH.market, CRASH.price);
    await engine.durable(); // the price is on disk; the epoch's records will not be

    fillDiskUnder(segmentsOf(dir)[0]!);
    const failed = await engine.step().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(codeOf(failed)).toBe('JOURNAL_IO');
    expect((failed as UnwindError).message).toContain('ENOSPC');
    expect((failed as UnwindError).message).toContain(dir);
    expect(orders).toEqual([]);
    expect((await ordersOfTheCrash()).length).toBeGreaterThan(0); // what that epoch would have emitted
    await new Promise((r) => setTimeout(r, 20));
    expect(errors.map(codeOf)).toEqual(['JOURNAL_IO']);
    expect(log.filter((l) => l.includes('JOURNAL_IO') || l.includes('takes no more inputs'))).toHaveLength(1);

    const before = { account: engine.account(1), inputs: engine.inputCount, epochs: engine.epochs, sequence: engine.lastSequence };
    const inputs: (() => void)[] = [
      () => engine.pushPrice(1, 50),
      () => engine.addAccount(9_999, 10),
      () => engine.setCollateral(1, 1),
      () => engine.upsertPosition({ account: 1, market: 2, size: 3, entryPrice: 100 }),
      () => engine.depositInsurance(1, 5),
      () => engine.setKillSwitch('halt'),
    ];
    for (const input of inputs) expect(codeOf(catching(input))).toBe('JOURNAL_IO');
    expect(codeOf(catching(() => void engine.step()))).toBe('JOURNAL_IO'); // refused at the call, as inputs are
    expect({ account: engine.account(1), inputs: engine.inputCount, epochs: engine.epochs, sequence: engine.lastSequence }).toEqual(before);
    expect(engine.hasAccount(9_999)).toBe(false);
    expect(errors).toHaveLength(1);
    await engine.close();

    // Nothing of the failed epoch is on disk: a restart runs it again, and only now are its orders emitted.
    const again = await Engine.start(journaled(dir, [], NO_SNAPSHOTS, { autoEpoch: false }));
    try {
      expect(again.recovery).toMatchObject({ pendingInputs: 1, interruptedEpoch: false });
      const r = await again.step();
      expect(r.orders).toEqual(await ordersOfTheCrash());
    } finally {
      await again.close();
    }
  });

  it('does not throw out of the automatic epoch: onError hears one JOURNAL_IO, and without a listener the journal log says it', async () => {
    for (const listening of [true, false]) {
      const dir = tempDir();
      const log: string[] = [];
      const engine = await engineWithBook(dir, log, { autoEpoch: true });
      const errors: unknown[] = [];
      if (listening) engine.onError((e) => errors.push(e));
      const orders: LiquidationOrder[] = [];
      engine.onOrder((o) => orders.push(o));
      const epochs = engine.epochs;
      fillDiskUnder(segmentsOf(dir)[0]!);
      engine.pushPrice(CRASH.market, CRASH.price); // accepted; its write at the end of this turn fails
      await until(() => log.some((l) => l.includes('JOURNAL_IO')), 'the failure logged');
      await new Promise((r) => setTimeout(r, 30)); // the epoch the price scheduled has run (and failed)
      expect(errors.map(codeOf)).toEqual(listening ? ['JOURNAL_IO'] : []);
      expect(orders).toEqual([]);
      expect(engine.epochs).toBe(epochs);
      expect(codeOf(catching(() => engine.pushPrice(1, 50)))).toBe('JOURNAL_IO');
      await engine.close();
    }
  });

  it('tells every feed connection: an ErrorFrame JOURNAL_IO, then EngineStatus closing, and no orders', async () => {
    const feed = new Feed();
    try {
      const dir = tempDir();
      const log: string[] = [];
      const { engine, server } = await feed.start({
        engine: { ...BASE_CONFIG, autoEpoch: true, journal: { dir, log: (l) => log.push(l), ...NO_SNAPSHOTS } },
        setup: (e) => loadBook(e, SEED),
      });
      await engine.durable();
      const subscriber = await feed.connect(server, 'subscriber');
      const publisher = await feed.connect(server, 'publisher');
      subscriber.send((q) => encodeSubscribe(q, { markets: [], accounts: [], allOrders: true }));
      await subscriber.sync();
      fillDiskUnder(segmentsOf(dir)[0]!);
      publisher.send((q) => encodeTicks(q, [{ market: CRASH.market, source: 1, price: CRASH.price, confidence: 0, eventTimeUs: Date.now() * 1000, sourceSequence: 1 }]));
      await subscriber.closed;
      expect(subscriber.drain().map(heardAs)).toEqual(['errorFrame JOURNAL_IO', 'engineStatus closing']);
      expect(subscriber.closeCode).toBe(1001);
      await publisher.closed;
      expect(publisher.drain().map(heardAs)).toEqual(['engineStatus running', 'errorFrame JOURNAL_IO', 'engineStatus closing']);
      expect(codeOf(catching(() => engine.pushPrice(1, 50)))).toBe('JOURNAL_IO');
    } finally {
      await feed.closeAll();
    }
  });

  it('stops unwind serve cleanly when the journal passes the file size limit (EFBIG): subscribers hear why, the process exits 1', async () => {
    const dir = tempDir();
    const small = { markets: BOOK.markets, accounts: BOOK.accounts.slice(0, 100) };
    // 256 KiB: the book and the first epochs fit; a few frames of ticks do not.
    const s = serveProcess(serveConfig(dir, small), 'ulimit -f 256');
    const url = await ready(s);
    const subscriber = await FeedClient.connect(url, { token: SUBSCRIBER_TOKEN });
    const publisher = await FeedClient.connect(url, { token: PUBLISHER_TOKEN });
    const now = Date.now() * 1000;
    const ticks = Array.from({ length: 1_000 }, (_, i) => ({ market: 1 + (i % 2), source: 1, price: 100 + (i % 7) / 100, confidence: 0, eventTimeUs: now + i, sourceSequence: 1 + i }));
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void s.exit.then((e) => (exit = e));
    for (let i = 0; i < 200 && exit === undefined; i++) {
      if (publisher.closeCode !== undefined) break; // the server closed the connection
      publisher.send((q) => encodeTicks(q, ticks));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await s.exit).toEqual({ code: 1, signal: null });
    children.delete(s.child);
    expect(s.stderr()).toMatch(/JOURNAL_IO: journal in .*EFBIG/);
    expect(s.stderr()).not.toMatch(/\n\s+at /); // a report, not a stack trace
    await subscriber.closed;
    expect(subscriber.drain().map(heardAs)).toEqual(['engineStatus running', 'errorFrame JOURNAL_IO', 'engineStatus closing']);
    expect(subscriber.closeCode).toBe(1001);
    // What is on disk replays: a restart without the limit serves the book.
    const again = serveProcess(serveConfig(dir, small));
    expect(await countsAt(await ready(again))).toMatchObject({ markets: 2, accounts: 100 });
    await kill(again);
  }, 60_000);
});

/** A frame as the tests compare it: its kind, with an ErrorFrame's code or an EngineStatus's state. */
function heardAs(m: { kind: string; code?: string; state?: string }): string {
  return m.kind === 'errorFrame' ? `errorFrame ${m.code}` : m.kind === 'engineStatus' ? `engineStatus ${m.state}` : m.kind;
}

function catching(f: () => void): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('damage the reader tells apart', () => {
  /**
   * A journal whose last `unsynced` inputs were written but not yet synced, as a kill -9 would leave it: the
   * directory is copied between the end-of-turn write and any fdatasync (then the engine closes normally).
   */
  async function journalWithUnsyncedTail(unsynced: number): Promise<{ dir: string; segment: string; synced: number }> {
    const dir = tempDir();
    const engine = await Engine.start(journaled(dir, [], NO_SNAPSHOTS));
    loadBook(engine, SEED);
    await playSteps(engine, SEED, 0, 3);
    await engine.durable();
    const synced = statSync(segmentsOf(dir)[0]!).size;
    for (let i = 0; i < unsynced; i++) engine.pushPrice(1, 100 - i);
    await new Promise((r) => setImmediate(r)); // the turn's write is done, no sync was asked for
    const copy = tempDir();
    cpSync(dir, copy, { recursive: true });
    await engine.close();
    return { dir: copy, segment: segmentsOf(copy)[0]!, synced };
  }

  it('takes a synced last record with a bad checksum for corruption, naming file and offset, and cuts nothing', async () => {
    const { dir } = await writeJournal(CUT, NO_SNAPSHOTS);
    const [segment] = segmentsOf(dir) as [string];
    const last = recordsOf(segment).at(-1)!;
    flipByte(segment, last.offset + RECORD_HEADER + 2);
    const size = statSync(segment).size;
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${segment} at offset ${last.offset}: checksum`);
    expect(e.message).toContain('on disk');
    expect(statSync(segment).size).toBe(size);
  });

  it('takes a synced segment cut short at a record boundary for corruption', async () => {
    const { dir } = await writeJournal(CUT, NO_SNAPSHOTS);
    const [segment] = segmentsOf(dir) as [string];
    const records = recordsOf(segment);
    const keep = records.at(-4)!;
    truncateSync(segment, keep.end);
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${segment} at offset ${keep.end}:`);
    expect(e.message).toContain(`${records.at(-1)!.end} bytes`);
  });

  it('cuts a torn record past the synced end, and takes a complete bad record followed by more data there for corruption', async () => {
    const torn = await journalWithUnsyncedTail(3);
    const tail = recordsOf(torn.segment).filter((r) => r.offset >= torn.synced);
    expect(tail.map((r) => r.kind)).toEqual([Kind.Prices, Kind.Prices, Kind.Prices]);
    truncateSync(torn.segment, tail[1]!.end - 5);
    const log: string[] = [];
    const engine = await Engine.start(journaled(torn.dir, log, NO_SNAPSHOTS));
    await engine.close();
    expect(log).toContain(`unwind journal: cut a torn record off ${torn.segment} at offset ${tail[1]!.offset} (${tail[1]!.end - 5 - tail[1]!.offset} bytes; it was never acknowledged)`);
    expect(engine.recovery).toMatchObject({ lastSequence: tail[0]!.sequence });

    const damaged = await journalWithUnsyncedTail(3);
    const a = recordsOf(damaged.segment).find((r) => r.offset >= damaged.synced)!;
    // No good record follows a, but more data does.
    for (const r of recordsOf(damaged.segment).filter((r) => r.offset >= damaged.synced)) flipByte(damaged.segment, r.offset + RECORD_HEADER);
    const e = await startFailure(journaled(damaged.dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${damaged.segment} at offset ${a.offset}: checksum`);
  });

  /** A journal of several small segments, cleanly closed. */
  async function severalSegments(journal = {}): Promise<string> {
    const dir = tempDir();
    const engine = await Engine.start(journaled(dir, [], { ...NO_SNAPSHOTS, segmentBytes: 1024, ...journal }));
    loadBook(engine, SEED);
    await playSteps(engine, SEED, 0, 8);
    await engine.close();
    expect(segmentsOf(dir).length).toBeGreaterThanOrEqual(3);
    return dir;
  }

  it('detects a missing newest segment by the sync mark, naming the file', async () => {
    const dir = await severalSegments();
    const newest = segmentsOf(dir).at(-1)!;
    unlinkSync(newest);
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${newest} is missing`);
  });

  it('detects a missing segment after a snapshot even without the sync mark', async () => {
    const dir = await severalSegments({ snapshotEveryRecords: 200 });
    const snapshot = snapshotsOf(dir).at(-1)!;
    const sequence = Number(/snapshot-(\d{20})\.snap$/.exec(snapshot)![1]);
    const after = segmentsOf(dir).find((p) => firstSequenceOf(p) === sequence + 1)!;
    expect(after).toBeDefined();
    for (const p of segmentsOf(dir)) if (firstSequenceOf(p) > sequence) unlinkSync(p);
    unlinkSync(join(dir, 'sync-mark'));
    const e = await startFailure(journaled(dir, [], { snapshotEveryRecords: 200 }));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${after} is missing`);
    expect(e.message).toContain(snapshot);
  });

  it('detects a gap in the segments, naming the segment after it', async () => {
    const dir = await severalSegments();
    const [, middle, next] = segmentsOf(dir) as [string, string, string];
    unlinkSync(middle);
    const e = await startFailure(journaled(dir, [], NO_SNAPSHOTS));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(`${next} at offset 0: the segment starts at sequence ${firstSequenceOf(next)}, expected ${firstSequenceOf(middle)}`);
  });

  it('ignores a damaged sync mark with a log line and reads the journal as without one', async () => {
    const { dir } = await writeJournal(3, NO_SNAPSHOTS);
    flipByte(join(dir, 'sync-mark'), 12);
    const log: string[] = [];
    const engine = await Engine.start(journaled(dir, log, NO_SNAPSHOTS));
    await engine.close();
    expect(log.some((l) => l.startsWith(`unwind journal: passed over the sync mark ${join(dir, 'sync-mark')}`))).toBe(true);
    expect(engine.recovery!.tornBytes).toBe(0);
  });
});

describe('a journal directory that cannot be one', () => {
  it.each([
    { label: 'under a regular file', at: (file: string) => join(file, 'journal') },
    { label: 'a regular file', at: (file: string) => file },
  ])('is refused at start with INVALID_CONFIG naming journal.dir when it is $label', async ({ at }) => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    const e = await startFailure(journaled(at(file), []));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.field).toBe('journal.dir');
    expect(e.message).toContain(at(file));
  });
});

