/**
 * Thread: the feed bench's client (one worker_thread), so the WebSocket clients do not run on the server's main
 * thread. It holds every client socket (`ws` package) of bench/feed-*.ts: a publisher and an allOrders subscriber
 * for the latency samples, and one connection per ingest run (to the feed server or to the bare echo server).
 * Writes: nothing shared; it answers the main thread's requests (feed-protocol.ts) over postMessage, one reply each.
 * Reads:  the frames its sockets receive. Every interval is measured here with this thread's performance.now(), so
 * a send time and a receipt time come from one clock.
 */
import { once } from 'node:events';
import { type Socket } from 'node:net';
import { parentPort } from 'node:worker_threads';
import WebSocket, { type RawData } from 'ws';
import { decodeFrame, encodeSubscribe, encodeTicks, setFrameSequence } from '../src/feed/codec.js';
import { ingestFrames, tick } from './feed-frames.js';
import { type IngestReply, type LatencyCloseReply, type LatencySampleReply, type Reply, type Request, type SamplesReply } from './feed-protocol.js';

const port = parentPort;
if (port === null) throw new Error('feed-client.worker.ts runs as a worker_thread');

/** Frames received here are ours and trusted; the bound only has to pass the largest echo. */
const MAX_FRAME_BYTES = 64 << 20;
/** Past this many unsent bytes an ingest run waits for its socket to drain before sending more. */
const HIGH_WATER_BYTES = 1 << 20;
/** Distinct frames an ingest run cycles through (each re-numbered before it is sent). */
const DISTINCT_FRAMES = 32;

const open = new Set<WebSocket>();

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES });
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => {
      open.add(ws);
      ws.once('close', () => open.delete(ws));
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade to ${url} refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close(1000);
  });
}

/** Resolves when the peer answers a ping sent after everything already sent on `ws`. */
function pingBarrier(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    ws.once('pong', () => resolve());
    ws.ping();
  });
}

const bytesOf = (data: RawData): Uint8Array => {
  const b = data as Buffer; // binaryType 'nodebuffer', unfragmented
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
};

// ---- latency: publisher -> feed server -> allOrders subscriber ----

/** performance.now() is this thread's clock; adding timeOrigin puts it on the clock the main thread also reads. */
const shared = (t: number): number => performance.timeOrigin + t;

interface Armed {
  readonly account: number;
  readonly positionSequence: number;
  readonly t0: number;
  readonly resolve: (t1: number) => void;
  readonly reject: (e: Error) => void;
}

class LatencyClients {
  private armed: Armed | undefined;
  private echoed: ((t1: number) => void) | undefined;
  private ordersReceived = 0;
  private sequence = 0;

  private constructor(
    private readonly publisher: WebSocket,
    private readonly subscriber: WebSocket,
    private readonly echo: WebSocket,
  ) {
    subscriber.on('message', (data) => {
      const t1 = performance.now(); // receipt: before decoding, which the in-process path does not pay either
      const m = decodeFrame(bytesOf(data), MAX_FRAME_BYTES);
      if (m.kind === 'errorFrame') this.fail(`the feed rejected the subscriber's frame: ${m.code} ${m.message}`);
      if (m.kind !== 'orders') return;
      for (const o of m.orders) {
        this.ordersReceived++;
        const a = this.armed;
        if (a !== undefined && o.account === a.account && o.positionSequence === a.positionSequence) {
          this.armed = undefined;
          a.resolve(t1);
        }
      }
    });
    publisher.on('message', (data) => {
      const m = decodeFrame(bytesOf(data), MAX_FRAME_BYTES);
      if (m.kind === 'errorFrame') this.fail(`the feed rejected the publisher's tick: ${m.code} ${m.message}`);
    });
    echo.on('message', () => {
      const t1 = performance.now();
      const e = this.echoed;
      this.echoed = undefined;
      e?.(t1);
    });
  }

  static async open(r: Extract<Request, { cmd: 'latency.open' }>): Promise<LatencyClients> {
    const subscriber = await connect(`${r.url}?token=${r.subscriberToken}`);
    const publisher = await connect(`${r.url}?token=${r.publisherToken}`);
    const echo = await connect(r.echoUrl);
    subscriber.send(encodeSubscribe(1, { markets: [], accounts: [], allOrders: true }));
    await pingBarrier(subscriber); // the subscription is in place once the server has read past it
    return new LatencyClients(publisher, subscriber, echo);
  }

  private fail(why: string): void {
    const a = this.armed;
    this.armed = undefined;
    if (a !== undefined) a.reject(new Error(why));
    else throw new Error(why);
  }

  /** Runs `send` at t0 and resolves with the reply once `arm` is called back with t1, or rejects at the timeout. */
  private timed(
    timeoutMs: number,
    what: string,
    arm: (t0: number, resolve: (t1: number) => void, reject: (e: Error) => void) => void,
    send: () => void,
  ): Promise<LatencySampleReply> {
    return new Promise<LatencySampleReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
      const t0 = performance.now();
      arm(
        t0,
        (t1) => {
          clearTimeout(timer);
          resolve({ micros: (t1 - t0) * 1000, sentAt: shared(t0), receivedAt: shared(t1) });
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
      send();
    });
  }

  sample(r: Extract<Request, { cmd: 'latency.sample' }>): Promise<LatencySampleReply> {
    if (this.armed !== undefined) throw new Error('a latency sample is already in flight');
    const frame = encodeTicks(++this.sequence, [tick(r.market, r.price, r.index)]);
    return this.timed(
      r.timeoutMs,
      `order for account ${r.account} (position sequence ${r.positionSequence})`,
      (t0, resolve, reject) => (this.armed = { account: r.account, positionSequence: r.positionSequence, t0, resolve, reject }),
      () => this.publisher.send(frame),
    ).finally(() => (this.armed = undefined));
  }

  echoOnce(r: Extract<Request, { cmd: 'latency.echo' }>): Promise<LatencySampleReply> {
    const frame = encodeTicks(r.index, [tick(r.market.id, r.market.price, r.index)]);
    return this.timed(r.timeoutMs, 'echo', (_t0, resolve) => (this.echoed = resolve), () => this.echo.send(frame));
  }

  async close(): Promise<LatencyCloseReply> {
    await pingBarrier(this.subscriber); // every orders frame the server sent before the pong has been read
    await Promise.all([closeSocket(this.publisher), closeSocket(this.subscriber), closeSocket(this.echo)]);
    return { ordersReceived: this.ordersReceived };
  }
}

// ---- echo round trips: one single-tick frame at a time ----

async function echoRoundTrips(r: Extract<Request, { cmd: 'echo.roundTrips' }>): Promise<SamplesReply> {
  const ws = await connect(r.url);
  try {
    const frame = encodeTicks(0, [tick(r.market.id, r.market.price, 0)]);
    let received: (() => void) | undefined;
    ws.on('message', () => received?.());
    const micros: number[] = [];
    for (let i = 0; i < r.warmup + r.samples; i++) {
      setFrameSequence(frame, i);
      const echoed = new Promise<void>((resolve) => (received = resolve));
      const t0 = performance.now();
      ws.send(frame);
      await echoed;
      const t1 = performance.now();
      if (i >= r.warmup) micros.push((t1 - t0) * 1000);
    }
    return { micros };
  } finally {
    await closeSocket(ws);
  }
}

// ---- ingest: frames as fast as the socket takes them, then a barrier ----

async function ingest(r: Extract<Request, { cmd: 'ingest' }>): Promise<IngestReply> {
  const frames = ingestFrames(r.markets, r.ticksPerFrame, Math.min(r.frames, DISTINCT_FRAMES), r.seed);
  const ws = await connect(r.url);
  try {
    let framesReceived = 0;
    let errorFrames = 0;
    let firstError: string | null = null;
    let lastEcho: (() => void) | undefined;
    ws.on('message', (data) => {
      framesReceived++;
      if (r.barrier === 'echo') {
        if (framesReceived === r.frames) lastEcho?.();
        return;
      }
      const m = decodeFrame(bytesOf(data), MAX_FRAME_BYTES);
      if (m.kind === 'errorFrame') {
        errorFrames++;
        firstError ??= `${m.code}: ${m.message}`;
      }
    });
    const allEchoed = new Promise<void>((resolve) => (lastEcho = resolve));
    // ws writes each frame with its own socket write (a syscall); corking the socket for `framesPerWrite` frames
    // hands them to the kernel in one writev, as a busy publisher's TCP stream would carry them.
    const socket = (ws as unknown as { _socket: Socket })._socket;
    let bytesSent = 0;
    const t0 = performance.now();
    for (let i = 0; i < r.frames; ) {
      const end = Math.min(r.frames, i + r.framesPerWrite);
      socket.cork();
      for (; i < end; i++) {
        const f = frames[i % frames.length]!;
        setFrameSequence(f, i + 1); // ws copies the frame as it masks it: patching the next use is safe
        bytesSent += f.byteLength;
        ws.send(f);
      }
      socket.uncork();
      if (ws.bufferedAmount > HIGH_WATER_BYTES && socket.writableNeedDrain) await once(socket, 'drain');
    }
    if (r.barrier === 'pong') await pingBarrier(ws);
    else await allEchoed;
    const millis = performance.now() - t0;
    return { millis, framesSent: r.frames, ticksSent: r.frames * r.ticksPerFrame, bytesSent, framesReceived, errorFrames, firstError };
  } finally {
    await closeSocket(ws);
  }
}

// ---- requests ----

let latency: LatencyClients | undefined;

async function handle(r: Request): Promise<unknown> {
  switch (r.cmd) {
    case 'latency.open':
      if (latency !== undefined) throw new Error('latency clients are already open');
      latency = await LatencyClients.open(r);
      return null;
    case 'latency.sample':
      if (latency === undefined) throw new Error('latency.sample before latency.open');
      return latency.sample(r);
    case 'latency.echo':
      if (latency === undefined) throw new Error('latency.echo before latency.open');
      return latency.echoOnce(r);
    case 'latency.close': {
      if (latency === undefined) throw new Error('latency.close before latency.open');
      const r = await latency.close();
      latency = undefined;
      return r;
    }
    case 'echo.roundTrips':
      return echoRoundTrips(r);
    case 'ingest':
      return ingest(r);
    case 'exit':
      return null;
  }
}

port.on('message', (r: Request) => {
  if (r.cmd === 'exit') {
    // Close every socket, then let the event loop empty: the thread ends without terminate().
    void Promise.all([...open].map(closeSocket)).then(() => port.close());
    return;
  }
  handle(r).then(
    (result) => port.postMessage({ id: r.id, ok: true, result } satisfies Reply),
    (e: unknown) => port.postMessage({ id: r.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies Reply),
  );
});
