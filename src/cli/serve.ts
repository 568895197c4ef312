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

/** Starts the engine and the server from a config; the caller closes both. */
export async function serve(config: ServeConfig): Promise<Served> {
  const engine = await Engine.start(engineConfigOf(config));
  try {
    return await serveEngine(engine, config);
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

/**
 * The server in front of a started engine (`serve`, or a replica once it leads): loads the config's book into an
 * engine that holds no inputs yet, then listens. The caller closes the engine.
 */
export async function serveEngine(engine: Engine, config: ServeConfig): Promise<Served> {
  const markets = config.markets ?? MARKETS.map((m) => ({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS }));
  const accounts = config.accounts ?? [];
  const generated: { publisher?: string; subscriber?: string } = {};
  let publisherTokens = config.server?.publisherTokens ?? fromEnv('UNWIND_PUBLISHER_TOKENS');
  let subscriberTokens = config.server?.subscriberTokens ?? fromEnv('UNWIND_SUBSCRIBER_TOKENS');
  // Scoped tokens in the config are the whole of its auth: no unscoped token is made up next to them.
  const scoped = config.server?.tokens !== undefined;
  if (publisherTokens === undefined && !scoped) publisherTokens = [(generated.publisher = randomBytes(18).toString('base64url'))];
  if (subscriberTokens === undefined && !scoped) subscriberTokens = [(generated.subscriber = randomBytes(18).toString('base64url'))];
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
  // A restart finds the port in TIME_WAIT for up to a minute: wait for it rather than fail.
  const server = await FeedServer.start(engine, { listenRetryMs: 90_000, ...config.server, publisherTokens, subscriberTokens });
  return { engine, server, generated, stopped };
}
