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
 * Every key is checked before anything starts: unknown keys and wrong types at any depth (src/config-schema.ts, whose
 * JSON Schema is schemas/serve-config.schema.json; docs/configuration.md lists every key and its default).
 * With `engine.journal`, a restart recovers from the journal (markets and accounts are then not added again).
 * `server.tokens` ([{ token, role, sources?, markets?, accounts? }], README "Wire protocol") is the recommended way
 * to give tokens; with it, nothing is generated. Without any tokens in the config, one (legacy, unscoped) publisher
 * and one subscriber token are generated and printed. The flags and the environment (UNWIND_HOST, UNWIND_PORT,
 * UNWIND_*_TOKENS, ...) override the file: src/cli/settings.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolveConfig, type EngineConfig } from '../config.js';
import { checkConfig, nearestKey, serveConfigSchema, serverOptionsSchema } from '../config-schema.js';
import { Engine } from '../engine/engine.js';
import { ErrorCode, isUnwindError, UnwindError } from '../errors.js';
import { FeedServer, type FeedServerOptions } from '../feed/server.js';
import { resolveServerOptions } from '../feed/server-options.js';
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
  const sections = ['$schema', 'server', 'engine', 'markets', 'accounts'];
  for (const key of Object.keys(c)) {
    if (!sections.includes(key)) {
      const near = nearestKey(key, sections);
      throw new UnwindError(ErrorCode.InvalidConfig, near === undefined ? `unknown key (expected ${sections.join(', ')})` : `unknown key; did you mean ${near}?`, key);
    }
  }
  if (c.server !== undefined && (c.server === null || typeof c.server !== 'object' || Array.isArray(c.server))) {
    throw new UnwindError(ErrorCode.InvalidConfig, 'expected an object of server options', 'server');
  }
  if (c.engine !== undefined && (c.engine === null || typeof c.engine !== 'object' || Array.isArray(c.engine))) {
    throw new UnwindError(ErrorCode.InvalidConfig, 'expected an object of engine settings', 'engine');
  }
  // Each section as its own API names its keys (publisherTokens[0], sizing.maxPortion): the server's keys and types
  // here (its ranges and tokens once the flags and the environment are in: serve), the engine's whole config.
  if (c.server !== undefined) checkConfig(serverOptionsSchema, c.server);
  if (c.engine !== undefined) resolveConfig(c.engine as EngineConfig);
  // Markets and accounts have the scenario's shape: reuse its checks (field names as in the file), then the schema's.
  if (c.markets !== undefined || c.accounts !== undefined) parseScenario({ markets: c.markets ?? [], accounts: c.accounts ?? [] });
  return checkConfig(serveConfigSchema, c as ServeConfig);
}

/**
 * Fails at once when another process listens on host:port (ADDRESS_IN_USE), or the address cannot be bound at all.
 * A probe with node's own listener, which sets SO_REUSEADDR: it binds a port whose old connections are only in
 * TIME_WAIT after a restart (uSockets, which does not set it, then retries: listenRetryMs), never one that is taken.
 */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    probe.once('error', resolve);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
  if (error === undefined) return;
  if (error.code === 'EADDRINUSE') {
    throw new UnwindError(ErrorCode.AddressInUse, `${host}:${port} is in use by another process: stop it, or choose another port (--port, UNWIND_PORT or server.port; 0 picks a free one)`, 'port');
  }
  throw new UnwindError(ErrorCode.InvalidConfig, `cannot listen on ${host}:${port}: ${error.code ?? error.message}`, error.code === 'EACCES' ? 'port' : 'host');
}

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
  const server = serverOptionsOf(config);
  // Every option and the port before the engine starts: a bad one changes nothing (no journal, no threads).
  const resolved = resolveServerOptions(server.options);
  await assertPortFree(resolved.host, resolved.port);
  const engine = await Engine.start(engineConfigOf(config, hooks));
  try {
    return await serveEngine(engine, config, server, hooks.probe);
  } catch (e) {
    await engine.close();
    throw e;
  }
}

/** The engine's config as `serve` starts it: capacity for the config's markets at least. */
export function engineConfigOf(config: ServeConfig, hooks: ServeHooks = {}): EngineConfig {
  const markets = config.markets ?? MARKETS;
  const journal = config.engine?.journal;
  return {
    ...config.engine,
    capacity: { markets: Math.max(1, markets.length), ...config.engine?.capacity },
    ...(journal === undefined ? {} : { journal: { ...journal, log: hooks.journalLog ?? journal.log, progress: hooks.recoveryProgress ?? journal.progress } }),
  };
}

/** The server's options from a config, with the tokens generated when it gives none (printed by the caller). */
export interface ServerSetup {
  readonly options: FeedServerOptions;
  readonly generated: { publisher?: string; subscriber?: string };
}

export function serverOptionsOf(config: ServeConfig): ServerSetup {
  const generated: { publisher?: string; subscriber?: string } = {};
  let publisherTokens = config.server?.publisherTokens;
  let subscriberTokens = config.server?.subscriberTokens;
  // Scoped tokens in the config are the whole of its auth: no unscoped token is made up next to them.
  const scoped = config.server?.tokens !== undefined;
  if (publisherTokens === undefined && !scoped) publisherTokens = [(generated.publisher = randomBytes(18).toString('base64url'))];
  if (subscriberTokens === undefined && !scoped) subscriberTokens = [(generated.subscriber = randomBytes(18).toString('base64url'))];
  // A restart finds the port in TIME_WAIT for up to a minute: wait for it rather than fail (never for a taken one).
  return { options: { listenRetryMs: 90_000, ...config.server, publisherTokens, subscriberTokens }, generated };
}

/**
 * The server in front of a started engine (`serve`, or a replica once it leads): loads the config's book into an
 * engine that holds no inputs yet, then listens. The caller closes the engine.
 */
export async function serveEngine(engine: Engine, config: ServeConfig, setup: ServerSetup = serverOptionsOf(config), probe?: ProbeListener): Promise<Served> {
  const markets = config.markets ?? MARKETS.map((m) => ({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS }));
  const accounts = config.accounts ?? [];
  const stopped = new Promise<UnwindError>((resolve) =>
    engine.onError((e) => {
      // A journal that cannot keep inputs, or a replica that stopped leading (src/cluster): the engine takes no more.
      const stops: readonly string[] = [ErrorCode.JournalIo, ErrorCode.NotLeader, ErrorCode.ReplicationFailed];
      if (!isUnwindError(e) || !stops.includes(e.code)) throw e; // as without a listener: not ours to hide
      resolve(e);
    }),
  );
  // A journal that already holds inputs recovered the markets and accounts: they are not added twice. The book
  // is one journal record (Engine.atomically): a crash while it is written leaves none of it, never a part, so
  // a restart finds an empty journal and loads the whole book again.
  if (engine.inputCount === 0) {
    engine.atomically(() => populate(engine, { markets, accounts }));
    await engine.step();
  }
  const server = await FeedServer.start(engine, setup.options, probe);
  return { engine, server, generated: setup.generated, stopped };
}

// ---- the `unwind serve` command: logs, probes, the recovery progress bar (README "Observability") ----

export interface ServeCommand {
  /** The config: file, environment and flags already combined (src/cli/settings.ts). */
  readonly config: ServeConfig;
  /** The file it came from, for the log. */
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
  const config = o.config;
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
  // Heard from before the first line that says the server is up: whoever reads a line below may signal at once (a
  // signal before a listener is Node's default, death, not a close).
  const failure = new Promise<UnwindError | undefined>((resolve) => {
    process.once('SIGINT', () => resolve(undefined));
    process.once('SIGTERM', () => resolve(undefined));
    void stopped.then(resolve);
  });
  const r = engine.recovery;
  if (r !== undefined) {
    const from = r.snapshot === undefined ? 'its start' : `the snapshot at ${r.snapshot.sequence}`;
    log.info({ recovery: r }, `recovery: ${r.replayedRecords} journal records replayed from ${from} through ${r.lastSequence}${r.interruptedEpoch ? ', the interrupted epoch completed' : ''}`);
  }
  watch(log, engine, server);
  log.info({ url: server.url, metricsUrl: server.metricsUrl ?? null }, `unwind serve: ${server.url} (uWebSockets.js native; stats at ${server.url.replace(/^ws/, 'http')}/stats)`);
  const shard = engine.config.shard.count > 1 ? ` (shard ${engine.config.shard.index} of ${engine.config.shard.count}: its accounts only)` : '';
  log.info({ ...engine.counts, scanWorkers: engine.config.scanWorkers, shard: engine.config.shard }, `engine: ${engine.counts.markets} markets, ${engine.counts.accounts} accounts${shard}, ${engine.config.scanWorkers} scan worker(s) + 1 executor thread`);
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
  const stop = await failure;
  clearInterval(timer);
  log.info('unwind serve: closing');
  await server.close();
  await engine.close();
  if (stop !== undefined) {
    log.fatal({ err: stop }, `unwind serve: ${stop.code}: ${stop.message}`);
    process.stderr.write(`unwind serve: ${stop.code}: ${stop.message}\n`);
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
