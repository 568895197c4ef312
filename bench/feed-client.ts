/**
 * Main thread's handle on the feed bench's client worker (feed-client.worker.ts): starts it from the compiled
 * file next to this one in dist/bench, sends requests (feed-protocol.ts) and resolves each with its reply, and
 * stops it without terminate(): the worker closes its sockets and ends when its event loop is empty.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type IngestReply, type LatencyCloseReply, type LatencySampleReply, type Reply, type Request, type SamplesReply } from './feed-protocol.js';

/** Distributes Omit over the union, so each command keeps its own fields. */
type Body<R> = R extends Request ? Omit<R, 'id'> : never;

interface Results {
  'latency.open': null;
  'latency.sample': LatencySampleReply;
  'latency.close': LatencyCloseReply;
  'latency.echo': LatencySampleReply;
  'echo.roundTrips': SamplesReply;
  ingest: IngestReply;
}

function workerPath(): string {
  // From dist/bench/*.js the worker is a sibling; from bench/*.ts (vitest) use the compiled one.
  const rel = import.meta.url.endsWith('.ts') ? '../dist/bench/feed-client.worker.js' : './feed-client.worker.js';
  const path = fileURLToPath(new URL(rel, import.meta.url));
  if (!existsSync(path)) throw new Error(`worker entry ${path} is missing: run \`npm run build\``);
  return path;
}

export class FeedClientWorker {
  private readonly worker = new Worker(workerPath());
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<number>;
  private failure: Error | undefined;

  constructor() {
    this.worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id);
      if (p === undefined) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      else p.reject(new Error(`client worker: ${r.error}`));
    });
    this.worker.on('error', (e) => this.failAll(new Error(`client worker crashed: ${e.stack ?? e.message}`)));
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    void this.exited.then((code) => this.failAll(new Error(`client worker exited (code ${code}) with requests pending`)));
  }

  private failAll(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  request<B extends Body<Exclude<Request, { cmd: 'exit' }>>>(body: B): Promise<Results[B['cmd']]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Results[B['cmd']]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...body, id });
    });
  }

  /** Asks the worker to close its sockets and end; terminates it only if it has not ended within `ms`. */
  async close(ms = 5000): Promise<void> {
    this.worker.postMessage({ id: 0, cmd: 'exit' } satisfies Request);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      await this.worker.terminate();
      throw new Error(`client worker did not end within ${ms} ms of 'exit' (terminated)`);
    }
  }
}
