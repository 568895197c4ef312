/** The feed section's tables on stdout (bench/feed.ts); the JSON file carries the same figures unformatted. */
import { type FeedPlan, type FeedResult } from './feed.js';
import { int, PERCENTILE_HEADER, percentileCells, table } from './report.js';
import { fmtCount } from './scan-throughput.js';

const rate = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(1)} k`);
const ratio = (x: number): string => `${x.toFixed(2)}x`;

export function feedLatencyTable(r: FeedResult): string {
  const l = r.latency;
  const header = ['topology', 'size', 'ticked', 'touched', ...PERCENTILE_HEADER];
  const rows = l.rows.map((x) => [
    x.topology,
    x.touchedShare === null ? '-' : fmtCount(l.size),
    x.market,
    x.touchedShare === null ? '-' : `${(x.touchedShare * 100).toFixed(0)}%`,
    ...percentileCells(x.micros),
  ]);
  return table(header, rows, 1);
}

export function feedLatencyRatioLines(r: FeedResult): string {
  const header = ['ticked', 'socket/in-process p50', 'p99', 'p99.9', 'added us', 'vs echo paced', 'vs echo tight', 'tick in us', 'engine us', 'order out us'];
  const rows = r.latency.ratios.map((x) => [
    x.market,
    ratio(x.p50),
    ratio(x.p99),
    ratio(x.p999),
    int(x.pairedAddedMicros),
    ratio(x.p50VsPacedEcho),
    ratio(x.p50VsBackToBackEcho),
    int(x.segments.tickIn),
    int(x.segments.engine),
    int(x.segments.orderOut),
  ]);
  return table(header, rows, 1);
}

export function feedIngestTable(r: FeedResult): string {
  const header = ['ticks/frame', 'frames/write', 'bytes/frame', 'frames/run', 'feed ticks/s', 'feed frames/s', 'echo ticks/s', 'echo frames/s', 'vs echo', 'paired', 'epochs/run'];
  const rows = r.ingest.rows.map((x) => [
    int(x.ticksPerFrame),
    int(x.framesPerWrite),
    int(x.frameBytes),
    int(x.framesPerRun),
    rate(x.feed.ticksPerSecond),
    rate(x.feed.framesPerSecond),
    rate(x.echo.ticksPerSecond),
    rate(x.echo.framesPerSecond),
    x.ratioToEcho.toFixed(2),
    x.pairedRatioToEcho.toFixed(2),
    int(x.epochsPerRun),
  ]);
  return table(header, rows, 0);
}

export function feedCostTable(r: FeedResult): string {
  const header = ['ticks/frame', 'frames/write', 'feed main busy', 'ns/tick', 'of which GC', 'decodeFrame', 'pushPriceColumns', 'epochs', 'rest', 'echo main busy', 'ns/frame'];
  const rows = r.ingest.rows.map((x) => [
    int(x.ticksPerFrame),
    int(x.framesPerWrite),
    `${(x.feed.mainBusyShare * 100).toFixed(0)}%`,
    int(x.feed.mainBusyNanosPerTick),
    int(x.feed.gcNanosPerTick),
    int(x.decodeNanosPerTick),
    int(x.applyNanosPerTick),
    int(x.epochNanosPerTick),
    int(x.feed.mainBusyNanosPerTick - x.feed.gcNanosPerTick - x.decodeNanosPerTick - x.applyNanosPerTick - x.epochNanosPerTick),
    `${(x.echo.mainBusyShare * 100).toFixed(0)}%`,
    int(x.echo.mainBusyNanosPerTick * x.ticksPerFrame),
  ]);
  return table(header, rows, 0);
}

export function feedCheckLines(r: FeedResult): string {
  return r.checks.map((c) => `  ${c.ok ? 'ok    ' : 'FAILED'} ${c.what}: ${c.detail}`).join('\n');
}

/** The whole section: what is measured, the tables, the checks. */
export function feedSection(feed: FeedResult, plan: FeedPlan): string {
  const b = feed.ingest.book;
  return [
    'Feed, tick in -> order out over loopback WebSockets (FeedServer on the main thread; publisher and allOrders',
    'subscriber in one client worker, timed there with one clock): t0 = the publisher sends a 1-tick frame that',
    "moves the victim's market 1% down; t1 = the subscriber receives the orders frame with the victim's order.",
    `In-process rows: t0 = pushPrice, t1 = onOrder, same engine (scan pool of ${plan.latency.scanWorkers}), samples interleaved.`,
    `Book: ${int(feed.latency.positions)} positions, ${int(feed.latency.accounts)} accounts (built in ${(feed.latency.fillMillis / 1000).toFixed(1)} s).`,
    'Each sample is prepared untimed (victim re-upserted, market back at base, that epoch done). Echo: round trip',
    'of one 1-tick frame to a bare uWS echo server on the main thread, from the same worker, "paced" (a third path',
    'in the rotation, after the same preparation) and "tight loop" (back to back). Microseconds.',
    '',
    feedLatencyTable(feed),
    '',
    'Socket over in-process at each percentile; added us = median over samples of (socket - in-process), taken',
    'back to back; vs echo = socket p50 over the echo p50 (paced: after the same untimed epoch, like the samples;',
    'tight: back to back). Socket path segments, medians, stamped across threads on timeOrigin + now(): tick in =',
    'send -> the server calls pushPriceColumns, engine = -> onOrder, order out = -> the subscriber has the frame.',
    '',
    feedLatencyRatioLines(feed),
    '',
    'Feed ingest: one publisher in the client worker sends frames as fast as its socket drains, then ws.ping();',
    't1 = the pong (uWS answers after handling every earlier frame). Small book on purpose, so this measures the',
    `feed path: ${b.markets} markets, ${int(b.accounts)} accounts, ${int(b.positions)} positions, autoEpoch, scan pool of ${b.scanWorkers}.`,
    'Echo: the same frames and client code to a bare uWS echo server, t1 = the last echo. Medians of',
    `${plan.ingest.rounds} interleaved rounds; "vs echo" = feed ticks/s over echo ticks/s (ratio of medians),`,
    '"paired" = median of per-round ratios; epochs/run = epochs the engine ran during one feed run.',
    '',
    feedIngestTable(feed),
    '',
    "Where the server's time goes: main busy = the main thread's event-loop active time during a run",
    '(performance.eventLoopUtilization), as a share of the run and per tick; near 100% means the server is the',
    'bottleneck, well below means the client or the transport is. decodeFrame and pushPriceColumns: timed in process on',
    'the same frames (engine idle, best of 3), ns/tick; GC = main-thread collection pauses during the runs',
    "(perf_hooks 'gc' entries); epochs = epochs/run x one epoch's main-thread busy time (measured with the client",
    'idle: a lower bound under load, where waking the pool and the executor costs more) / ticks per run;',
    'rest = busy - the four (uWS receive and dispatch, the handler, staging, epochs beyond the idle cost).',
    `One epoch of this book after a 1-tick push, in process: ${int(feed.ingest.epoch.wallMicros)} us wall (median), ${int(feed.ingest.epoch.mainBusyMicros)} us of main-thread busy time.`,
    'Echo: the echo server\'s main-thread busy share and ns per frame (receive + send back).',
    '',
    feedCostTable(feed),
    '',
    'Feed checks:',
    feedCheckLines(feed),
  ].join('\n');
}
