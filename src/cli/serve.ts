/**
 * `unwind serve [--config FILE]`: the engine behind the binary feed, until SIGINT or SIGTERM.
 *
 * The config file (JSON; every key optional):
 *   {
 *     "server":   FeedServerOptions (host, port, path, publisherTokens, subscriberTokens, maxFrameBytes, ...),
 *     "engine":   EngineConfig (capacity, scanWorkers, bankruptcyAdjustment, journal, ...),
 *     "markets":  [{ "id", "symbol", "price", "tiers": [...] }]   (default: the demo's four markets),
 *     "accounts": [{ "id", "collateral", "positions": [...] }]     (initial book; the feed adds the rest)
 *   }
 * With `engine.journal`, a restart recovers from the journal (markets and accounts are then not added again).
 * Without tokens in the config, one publisher and one subscriber token are generated and printed.
 * Tokens may also come from UNWIND_PUBLISHER_TOKENS / UNWIND_SUBSCRIBER_TOKENS (comma-separated).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type EngineConfig } from '../config.js';
import { Engine } from '../engine/engine.js';
import { ErrorCode, UnwindError } from '../errors.js';
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
}

/** Starts the engine and the server from a config; the caller closes both. */
export async function serve(config: ServeConfig): Promise<Served> {
  const markets = config.markets ?? MARKETS.map((m) => ({ id: m.id, symbol: m.symbol, price: m.price, tiers: TIERS }));
  const accounts = config.accounts ?? [];
  const generated: { publisher?: string; subscriber?: string } = {};
  let publisherTokens = config.server?.publisherTokens ?? fromEnv('UNWIND_PUBLISHER_TOKENS');
  let subscriberTokens = config.server?.subscriberTokens ?? fromEnv('UNWIND_SUBSCRIBER_TOKENS');
  if (publisherTokens === undefined) publisherTokens = [(generated.publisher = randomBytes(18).toString('base64url'))];
  if (subscriberTokens === undefined) subscriberTokens = [(generated.subscriber = randomBytes(18).toString('base64url'))];
  const engine = await Engine.start({
    ...config.engine,
    capacity: { markets: Math.max(1, markets.length), ...config.engine?.capacity },
  });
  try {
    // A journal that already holds inputs recovered the markets and accounts: they are not added twice.
    if (engine.inputCount === 0) {
      populate(engine, { markets, accounts });
      await engine.step();
    }
    // A restart finds the port in TIME_WAIT for up to a minute: wait for it rather than fail.
    const server = await FeedServer.start(engine, { listenRetryMs: 90_000, ...config.server, publisherTokens, subscriberTokens });
    return { engine, server, generated };
  } catch (e) {
    await engine.close();
    throw e;
  }
}
