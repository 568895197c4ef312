/**
 * `unwind serve [--config FILE] [--stats-every S] [--log-level LEVEL]`: the engine behind the binary feed, until SIGINT
 * or SIGTERM, logging as it goes; /healthz, /readyz and /metrics on the feed's listener, or without a token on a
 * listener of their own with `server.metrics: { host, port }` (README "Observability"; the block at the end).
 *
 * The config file (JSON; every key optional):
 *   {
 *     "server":   FeedServerOptions (host, port, path, tokens, publisherTokens, subscriberTokens, maxFrameBytes, ...),
 *     "engine":   EngineConfig (capacity, scanWorkers, bankruptcyAdjustment, journal, ...),
 *     "markets":  [{ "id", "symbol", "price", "tiers": [...] }]   (default: the demo's four markets),
 *     "accounts": [{ "id", "collateral", "positions": [...] }]     (initial book; the feed adds the rest)
 *   }
 * With `engine.journal`, a restart recovers from the journal (markets and accounts are then not added again).
 * `server.tokens` ([{ token, role, sources?, markets?, accounts? }], README "Wire protocol") is the recommended way
 * to give tokens; with it, nothing is generated. Without any tokens in the config, one (legacy, unscoped) publisher
 * and one subscriber token are generated and printed. Tokens may also come from UNWIND_PUBLISHER_TOKENS /
 * UNWIND_SUBSCRIBER_TOKENS (comma-separated).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type EngineConfig } from '../config.js';
import { Engine } from '../engine/engine.js';
import { ErrorCode, isUnwindError, UnwindError } from '../errors.js';
import { FeedServer, type FeedServerOptions } from '../feed/server.js';
import { metricsListen } from '../feed/server-options.js';
import { ProbeListener } from '../feed/server-routes.js';
import { createLogger, logLevelOf, type Logger } from '../log.js';
import { Presets, SingleBar } from 'cli-progress';
import { parseScenario, populate, type ScenarioAccount, type ScenarioMarket } from '../scenario.js';
import { MARKETS, TIERS } from '../sim/world.js';

export interface ServeConfig {
  readonly server?: Partial<FeedServerOptions>;
  readonly engine?: EngineConfig;
  readonly markets?: readonly ScenarioMarket[];
  readonly accounts?: readonly ScenarioAccount[];
}

export function readServeConfig(file: string | undefined): ServeConfig {
  if (file === undefined) return {};
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UnwindError(ErrorCode.InvalidConfig, `cannot read JSON from ${file}: ${(e as Error).message}`, '--config');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected a JSON object', file);
  const c = json as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!['server', 'engine', 'markets', 'accounts'].includes(key)) {
      throw new UnwindError(ErrorCode.InvalidConfig, 'unknown key (expected server, engine, markets, accounts)', key);
    }
  }
  // The server's options are checked when the server starts (INVALID_CONFIG naming the option); here only their shape.
  if (c.server !== undefined && (c.server === null || typeof c.server !== 'object' || Array.isArray(c.server))) {
    throw new UnwindError(ErrorCode.InvalidConfig, 'expected an object of server options', 'server');
  }
  // Markets and accounts have the scenario's shape: reuse its checks (field names as in the file).
  if (c.markets !== undefined || c.accounts !== undefined) parseScenario({ markets: c.markets ?? [], accounts: c.accounts ?? [] });
  return c as ServeConfig;
}

const fromEnv = (name: string): string[] | undefined =>
  process.env[name]
    ?.split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');

export interface Served {
  readonly engine: Engine;
  readonly server: FeedServer;
  /** Tokens generated because the config had none (print them), by role. */
  readonly generated: { publisher?: string; subscriber?: string };
  /**
   * Resolves with the error once the engine stops taking inputs (JOURNAL_IO: its journal cannot keep them). The
   * server has told every connection and closed by then; the caller closes the engine and exits non-zero.
   */
  readonly stopped: Promise<UnwindError>;
}

/** What `unwind serve` adds to serve(): where the journal's lines and progress go, a probe listener started first. */
export interface ServeHooks {
  readonly journalLog?: (line: string) => void;
  readonly recoveryProgress?: (bytes: number, total: number, records: number) => void;
  /** Answers /healthz, /readyz and /metrics during recovery; the server takes it over (and closes it). */
  readonly probe?: ProbeListener;
}

/** Starts the engine and the server from a config; the caller closes both. */
export async function serve(config: ServeConfig, hooks: ServeHooks = {}): Promise<Served> {
  const markets = config.markets ?? MARKETS.map((m) => ({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS }));
  const accounts = config.accounts ?? [];
  const generated: { publisher?: string; subscriber?: string } = {};
  let publisherTokens = config.server?.publisherTokens ?? fromEnv('UNWIND_PUBLISHER_TOKENS');
  let subscriberTokens = config.server?.subscriberTokens ?? fromEnv('UNWIND_SUBSCRIBER_TOKENS');
  // Scoped tokens in the config are the whole of its auth: no unscoped token is made up next to them.
  const scoped = config.server?.tokens !== undefined;
  if (publisherTokens === undefined && !scoped) publisherTokens = [(generated.publisher = randomBytes(18).toString('base64url'))];
  if (subscriberTokens === undefined && !scoped) subscriberTokens = [(generated.subscriber = randomBytes(18).toString('base64url'))];
  const journal = config.engine?.journal;
  const engine = await Engine.start({
    ...config.engine,
    capacity: { markets: Math.max(1, markets.length), ...config.engine?.capacity },
    ...(journal === undefined ? {} : { journal: { ...journal, log: hooks.journalLog ?? journal.log, progress: hooks.recoveryProgress ?? journal.progress } }),
  });
  const stopped = new Promise<UnwindError>((resolve) =>
    engine.onError((e) => {
      if (!isUnwindError(e) || e.code !== ErrorCode.JournalIo) throw e; // as without a listener: not ours to hide
      resolve(e);
    }),
  );
  try {
    // A journal that already holds inputs recovered the markets and accounts: they are not added twice. The book
    // is one journal record (Engine.atomically): a crash while it is written leaves none of it, never a part, so
    // a restart finds an empty journal and loads the whole book again.
    if (engine.inputCount === 0) {
      engine.atomically(() => populate(engine, { markets, accounts }));
      await engine.step();
    }
    // A restart finds the port in TIME_WAIT for up to a minute: wait for it rather than fail.
    const server = await FeedServer.start(engine, { listenRetryMs: 90_000, ...config.server, publisherTokens, subscriberTokens }, hooks.probe);
    return { engine, server, generated, stopped };
  } catch (e) {
    await engine.close();
    throw e;
  }
}

// ---- the `unwind serve` command: logs, probes, the recovery progress bar (README "Observability") ----

export interface ServeCommand {
  readonly configFile: string | undefined;
  /** Seconds between stats lines; 0: none. */
  readonly statsEverySeconds: number;
  /** `--log-level`; else UNWIND_LOG_LEVEL; else info. */
  readonly logLevel: string | undefined;
}

/**
 * `unwind serve`: the engine and the feed until SIGINT or SIGTERM, logging as it goes (JSON lines on standard output,
 * human lines on a terminal). A bad config or flag throws (the CLI prints it and exits 2) before anything starts.
 */
export async function runServe(o: ServeCommand): Promise<void> {
  const level = o.logLevel !== undefined ? logLevelOf(o.logLevel, '--log-level') : logLevelOf(process.env.UNWIND_LOG_LEVEL, 'UNWIND_LOG_LEVEL');
  const config = readServeConfig(o.configFile);
  const listen = metricsListen(config.server?.metrics);
  const log = await createLogger({ level });
  log.info({ node: process.version, config: o.configFile ?? null }, 'unwind serve: starting');
  // Up before the engine: during a recovery /healthz answers and /readyz says how far the replay is.
  const probe = listen === undefined ? undefined : await ProbeListener.start(listen, config.server?.listenRetryMs ?? 90_000);
  if (probe !== undefined) log.info({ metricsUrl: `${probe.url}/metrics` }, `metrics: ${probe.url}/metrics, /healthz, /readyz (no token: keep ${probe.host} private)`);
  const bar = recoveryBar();
  let served: Served;
  try {
    served = await serve(config, {
      journalLog: (line) => log.info({ component: 'journal' }, line),
      recoveryProgress: (bytes, total, records) => {
        probe?.recovering(bytes, total, records);
        bar?.(bytes, total, records);
      },
      probe,
    });
  } catch (e) {
    bar?.(-1, 0, 0);
    probe?.close();
    log.error({ err: e }, 'unwind serve: cannot start');
    throw e;
  }
  bar?.(-1, 0, 0);
  const { engine, server, generated, stopped } = served;
  const r = engine.recovery;
  if (r !== undefined) {
    const from = r.snapshot === undefined ? 'its start' : `the snapshot at ${r.snapshot.sequence}`;
    log.info({ recovery: r }, `recovery: ${r.replayedRecords} journal records replayed from ${from} through ${r.lastSequence}${r.interruptedEpoch ? ', the interrupted epoch completed' : ''}`);
  }
  watch(log, engine, server);
  log.info({ url: server.url, metricsUrl: server.metricsUrl ?? null }, `unwind serve: ${server.url} (uWebSockets.js native; stats at ${server.url.replace(/^ws/, 'http')}/stats)`);
  log.info({ ...engine.counts, scanWorkers: engine.config.scanWorkers }, `engine: ${engine.counts.markets} markets, ${engine.counts.accounts} accounts, ${engine.config.scanWorkers} scan worker(s) + 1 executor thread`);
  if (generated.publisher !== undefined) log.warn(`publisher token (generated): ${generated.publisher}`);
  if (generated.subscriber !== undefined) log.warn(`subscriber token (generated): ${generated.subscriber}`);
  for (const m of engine.oracleMarkets) {
    const s = engine.hasMarket(m) ? engine.marketStatus(m) : undefined;
    if (s?.paused === true) log.warn({ market: m, code: s.code, reason: s.reason }, `market ${m} paused (${s.code}: ${s.reason})`);
  }
  const timer =
    o.statsEverySeconds > 0
      ? setInterval(() => {
          const st = server.stats();
          const rejected = Object.values(st.rejected).reduce((a, b) => a + b, 0);
          log.info(
            { stats: st, epochs: engine.epochs },
            `stats: ${st.publishers} publishers, ${st.subscribers} subscribers, ${st.framesIn} frames in, ${st.ticksIn} ticks, ` +
              `${st.ordersOut} orders out, ${rejected} rejected, ${st.slowConsumersDropped} slow consumers dropped, epoch ${engine.epochs}`,
          );
        }, o.statsEverySeconds * 1000)
      : undefined;
  // Until a signal, or until the engine stops taking inputs (JOURNAL_IO: the server has told its connections).
  const failure = await new Promise<UnwindError | undefined>((resolve) => {
    process.once('SIGINT', () => resolve(undefined));
    process.once('SIGTERM', () => resolve(undefined));
    void stopped.then(resolve);
  });
  clearInterval(timer);
  log.info('unwind serve: closing');
  await server.close();
  await engine.close();
  if (failure !== undefined) {
    log.fatal({ err: failure }, `unwind serve: ${failure.code}: ${failure.message}`);
    process.stderr.write(`unwind serve: ${failure.code}: ${failure.message}\n`);
    process.exitCode = 1;
  } else {
    log.info('unwind serve: closed');
  }
}

/** Connections, rejected frames and market pauses, as they happen. */
function watch(log: Logger, engine: Engine, server: FeedServer): void {
  server.onConnection((e) => {
    if (e.kind === 'refused') log.warn(e, `connection refused (${e.status} ${e.reason}) from ${e.remote}`);
    else if (e.kind === 'opened') log.info(e, `connection ${e.connection} opened (${e.role}) from ${e.remote}`);
    else log.info(e, `connection ${e.connection} closed (${e.role}): ${e.code}${e.reason === '' ? '' : ` ${e.reason}`}`);
  });
  // A misbehaving client can send many: debug, and counted in unwind_rejects_total.
  server.onRejected((f) => log.debug(f, `frame ${f.sequence ?? '?'} of connection ${f.connection} rejected: ${f.code}: ${f.message}`));
  engine.onMarketStatus((s) => {
    const fields = { market: s.market, code: s.code, reason: s.reason, eventTimeUs: s.eventTimeUs };
    if (s.state === 'paused') log.warn(fields, `market ${s.market} paused (${s.code}: ${s.reason})`);
    else log.info(fields, `market ${s.market} resumed`);
  });
}

/** The journal replay's progress bar on standard error, only when it is a terminal; (-1, ...) stops it. */
function recoveryBar(): ((bytes: number, total: number, records: number) => void) | undefined {
  if (process.stderr.isTTY !== true) return undefined;
  const bar = new SingleBar(
    {
      format: 'recovery |{bar}| {percentage}% {value}/{total} MB, {records} records, eta {eta_formatted}',
      formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? (v / 1e6).toFixed(1) : String(v)),
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  // Shown once the replay has taken half a second: a short one never flashes a bar.
  let firstAt: number | undefined;
  let started = false;
  return (bytes, total, records) => {
    if (bytes < 0) {
      if (started) bar.stop();
      started = false;
      return;
    }
    firstAt ??= Date.now();
    if (!started && Date.now() - firstAt < 500) return;
    if (!started) bar.start(total, 0, { records });
    started = true;
    bar.update(bytes, { records });
  };
}
