/**
 * `unwind serve [--config FILE]`: the engine behind the binary feed, until SIGINT or SIGTERM.
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

/** Starts the engine and the server from a config; the caller closes both. */
export async function serve(config: ServeConfig): Promise<Served> {
  const server = serverOptionsOf(config);
  // Every option and the port before the engine starts: a bad one changes nothing (no journal, no threads).
  const resolved = resolveServerOptions(server.options);
  await assertPortFree(resolved.host, resolved.port);
  const engine = await Engine.start(engineConfigOf(config));
  try {
    return await serveEngine(engine, config, server);
  } catch (e) {
    await engine.close();
    throw e;
  }
}

/** The engine's config as `serve` starts it: capacity for the config's markets at least. */
export function engineConfigOf(config: ServeConfig): EngineConfig {
  const markets = config.markets ?? MARKETS;
  return { ...config.engine, capacity: { markets: Math.max(1, markets.length), ...config.engine?.capacity } };
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
export async function serveEngine(engine: Engine, config: ServeConfig, setup: ServerSetup = serverOptionsOf(config)): Promise<Served> {
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
  const server = await FeedServer.start(engine, setup.options);
  return { engine, server, generated: setup.generated, stopped };
}
