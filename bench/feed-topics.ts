/**
 * Epochs per second while subscribers hold many account topics (README "Wire protocol", connection policy).
 *
 *   client worker: 1 ws publisher --TCP--> uWS FeedServer (main): ingest ; auto epoch (inline scan)
 *                  N ws subscribers <--TCP-- uWS FeedServer: AccountStates of their account topics
 *
 * The engine holds ACCOUNTS accounts with one cross position each, spread over 4 markets. The publisher keeps a
 * bounded backlog of frames in flight, so an epoch always has an input waiting and epochs/s is the server's pace:
 *   ticks:  each frame one tick, the markets in turn, the price alternating by 0.1% (every holder's equity moves)
 *   quiet:  each frame one collateral update of one account, the accounts in turn (the others' states do not change)
 * Each run measures epochs/s over WINDOW_MS with no subscribers, then with `subscribers` x `topics` account topics
 * (every subscriber watches accounts 0 .. topics-1), and prints one JSON line per run.
 *
 *   npm run build --silent && node dist/bench/feed-topics.js [--subscribers 20] [--topics 100000] [--mode ticks|quiet]
 *
 * Thread: main (engine and server) and one worker_thread (every client socket), started from this same file.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { encodeCollateral, encodeSubscribe, encodeTicks, setFrameSequence } from '../src/feed/codec.js';
import { FeedServer } from '../src/feed/server.js';
import { Engine } from '../src/index.js';

const ACCOUNTS = 100_000;
const MARKETS = [1, 2, 3, 4];
const PRICE = 1_000;
const TIERS = [{ maxNotional: null, maintenanceMarginFraction: 0.005, initialMarginFraction: 0.01 }];
const PUBLISHER = 'bench-publisher-token-0001';
const SUBSCRIBER = 'bench-subscriber-token-0001';
const WINDOW_MS = 5_000;
/** The publisher's unsent backlog at most; it sends up to 64 frames per turn of its event loop below that. */
const HIGH_WATER_BYTES = 64 << 10;

interface Job {
  readonly url: string;
  readonly subscribers: number;
  readonly topics: number;
  readonly mode: 'ticks' | 'quiet';
  /** Which window this is: collateral values differ from every earlier window's, so each update changes a state. */
  readonly round: number;
}

if (isMainThread) await main();
else await client(workerData as Job);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      subscribers: { type: 'string', default: '20' },
      topics: { type: 'string', default: String(ACCOUNTS) },
      mode: { type: 'string', default: 'ticks' },
      /** FeedServerOptions.accountStateBudget (default: the server's). */
      budget: { type: 'string' },
      /** Rounds of (none, subscribers), interleaved so that both see the same machine load; medians are printed. */
      rounds: { type: 'string', default: '3' },
      /** Writes a CPU profile of the main thread over each window to FILE.ROUND.N.cpuprofile. */
      profile: { type: 'string' },
    },
  });
  const subscribers = Number(values.subscribers);
  const topics = Number(values.topics);
  const mode = values.mode === 'quiet' ? 'quiet' : 'ticks';
  const engine = await Engine.start({ scanWorkers: 0, capacity: { markets: MARKETS.length, accounts: ACCOUNTS, positions: ACCOUNTS + 64 } });
  for (const id of MARKETS) engine.addMarket({ id, symbol: `M${id}-USD`, price: PRICE, tiers: TIERS });
  for (let a = 0; a < ACCOUNTS; a++) {
    engine.addAccount(a, 200);
    engine.upsertPosition({ account: a, market: MARKETS[a % MARKETS.length]!, size: a % 2 === 0 ? 1 : -1, entryPrice: PRICE });
  }
  await engine.step();
  const server = await FeedServer.start(engine, {
    port: 0,
    publisherTokens: [PUBLISHER],
    subscriberTokens: [SUBSCRIBER],
    statusIntervalMs: 0,
    maxTopicsPerConnection: topics,
    maxTopicsTotal: Math.max(1, subscribers * topics),
    ...(values.budget === undefined ? {} : { accountStateBudget: Number(values.budget) }),
  });
  const runs: Record<string, number>[] = [];
  try {
    const rounds = Number(values.rounds);
    for (let round = 0; round < rounds * 2; round++) {
      const n = round % 2 === 0 ? 0 : subscribers;
      const worker = new Worker(new URL(import.meta.url), { workerData: { url: server.url, subscribers: n, topics, mode, round } satisfies Job });
      const ready = new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      await ready;
      const session = values.profile === undefined ? undefined : new Session();
      if (session !== undefined) {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
      }
      const before = { epochs: engine.epochs, stats: server.stats() };
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const seconds = (performance.now() - t0) / 1000;
      const after = { epochs: engine.epochs, stats: server.stats() };
      if (session !== undefined) {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(`${values.profile}.${round >> 1}.${n}.cpuprofile`, JSON.stringify(profile));
        session.disconnect();
      }
      worker.postMessage('stop');
      const received = await new Promise<{ frames: number; bytes: number; closed: number[] }>((resolve) => worker.once('message', resolve));
      await worker.terminate();
      const run = {
        subscribers: n,
        epochsPerSecond: Math.round((after.epochs - before.epochs) / seconds),
        accountStatesOutPerSecond: Math.round((after.stats.accountStatesOut - before.stats.accountStatesOut) / seconds),
        bytesOutPerSecond: Math.round((after.stats.bytesOut - before.stats.bytesOut) / seconds),
        slowConsumersDropped: after.stats.slowConsumersDropped - before.stats.slowConsumersDropped,
        subscribersClosed: received.closed.length,
      };
      runs.push(run);
      console.log(JSON.stringify({ mode, round: round >> 1, ...run }));
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await server.close();
    await engine.close();
  }
  const median = (n: number) => {
    const v = runs.filter((r) => r.subscribers === n).map((r) => r.epochsPerSecond!).sort((a, b) => a - b);
    return v[v.length >> 1];
  };
  const budget = server.options.accountStateBudget;
  console.log(JSON.stringify({ mode, accounts: ACCOUNTS, budget, topicsEach: topics, medianEpochsPerSecond: { none: median(0), [subscribers]: median(subscribers) } }));
}

async function client(job: Job): Promise<void> {
  const port = parentPort!;
  const connect = (token: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${job.url}?token=${token}`, { perMessageDeflate: false, maxPayload: 1 << 30 });
      ws.binaryType = 'nodebuffer';
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  let frames = 0;
  let bytes = 0;
  const closed: number[] = [];
  const subs: WebSocket[] = [];
  const accounts = Array.from({ length: job.topics }, (_, i) => i);
  for (let i = 0; i < job.subscribers; i++) {
    const ws = await connect(SUBSCRIBER);
    ws.on('message', (data: Buffer) => {
      frames++;
      bytes += data.byteLength;
    });
    ws.on('close', (code) => closed.push(code));
    ws.send(encodeSubscribe(0, { markets: [], accounts, allOrders: false }));
    subs.push(ws);
  }
  // Every subscription answered (a snapshot per account topic) before the window opens: wait for the flow to settle.
  for (let quiet = 0; quiet < 3; ) {
    const seen = frames;
    await new Promise((r) => setTimeout(r, 200));
    quiet = frames === seen ? quiet + 1 : 0;
  }
  const pub = await connect(PUBLISHER);
  let sequence = 0;
  let running = true;
  const tick = (i: number) => {
    const m = MARKETS[i % MARKETS.length]!;
    const up = Math.floor(i / MARKETS.length) % 2 === 0;
    return encodeTicks(0, [{ market: m, source: 1, price: up ? PRICE * 1.001 : PRICE, confidence: 0, eventTimeUs: 1_700_000_000_000_000 + i, sourceSequence: i }]);
  };
  const collateral = (i: number) => encodeCollateral(0, [{ account: i % ACCOUNTS, collateral: 200 + 2 * job.round + (Math.floor(i / ACCOUNTS) % 2) }]);
  const pump = () => {
    if (!running) return;
    for (let k = 0; k < 64 && pub.bufferedAmount < HIGH_WATER_BYTES; k++) {
      const f = job.mode === 'ticks' ? tick(sequence) : collateral(sequence);
      setFrameSequence(f, sequence++);
      pub.send(f);
    }
    setImmediate(pump);
  };
  pump();
  port.postMessage('ready');
  await new Promise((r) => port.once('message', r));
  running = false;
  port.postMessage({ frames, bytes, closed });
  for (const ws of [pub, ...subs]) ws.terminate();
}
