/** The feed server's options, their defaults and their validation (INVALID_CONFIG naming the option). */
import { availableParallelism } from 'node:os';
import { checkConfig, serverOptionsSchema, type SameKeys, type ServerSchemaKeys } from '../config-schema.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { TOKEN_ROLES, type TokenRole, type TokenSpec } from './auth.js';
import { DEFAULT_MAX_FRAME_BYTES, NO_ID } from './messages.js';

export type { TokenSpec } from './auth.js';

/** What `FeedServer.start` takes. Every field is optional but a token that may publish. */
export interface FeedServerOptions {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  readonly host?: string;
  /** TCP port; 0 picks a free one (read it from `server.port`). Default 9001. */
  readonly port?: number;
  /** The WebSocket endpoint. Default /v1/feed (stats at /v1/feed/stats). */
  readonly path?: string;
  /**
   * Tokens with a role and scopes (README "Wire protocol"): `source` (PriceTicks / SignedPriceTicks for its `sources`,
   * optionally only for its `markets`), `matching` (positions, collateral, fills, expiries, BookTickers, Depth, optionally
   * only for its `accounts` and `markets`), `admin` (KillSwitch, optionally only for its `markets`), `subscriber`.
   * Every role may subscribe. Prefer these to `publisherTokens`.
   */
  readonly tokens?: readonly TokenSpec[];
  /**
   * Legacy: tokens that may send every input but KillSwitch, for every source, market and account (source and
   * matching at once, unscoped). The server needs at least one token that may publish, here or in `tokens`.
   */
  readonly publisherTokens?: readonly string[];
  /** Tokens that may only subscribe (as `tokens` entries of role `subscriber`). */
  readonly subscriberTokens?: readonly string[];
  /** Tokens that may send KillSwitch frames for every market (and subscribe). Default none: the kill switch is then API-only. */
  readonly adminTokens?: readonly string[];
  /**
   * How often the server gives the engine a clock reading (the wall clock), so that sources that stopped reporting go
   * stale and no client can date its inputs ahead of the clock (config.clock.maxSkewUs). Default 100 ms.
   */
  readonly clockIntervalMs?: number;
  /** Frames above this get an OVERSIZED_FRAME error frame. Default 1 MiB. */
  readonly maxFrameBytes?: number;
  /** Frames above this are not read: uWS closes the connection (1006). Default 4 x maxFrameBytes. */
  readonly maxPayloadBytes?: number;
  /** A connection whose unsent backlog passes this is closed (4008 SLOW_CONSUMER). Default 8 MiB. */
  readonly maxBackpressureBytes?: number;
  /** Seconds without traffic before a connection is closed; pings are sent automatically. 0 disables. Default 120. */
  readonly idleTimeoutSeconds?: number;
  /** Connections beyond this are refused at upgrade (503). Default 1024. */
  readonly maxConnections?: number;
  /** Market, account and ADL-market topics one connection may hold, together. Default 10,000. */
  readonly maxTopicsPerConnection?: number;
  /**
   * Market, account and ADL-market topics all connections may hold, together, so that what the server keeps per
   * topic stays bounded whatever clients ask: about 0.4 KB for an account topic nobody else holds, 0.1 KB for one
   * another connection holds too (measured), so at most about 100 MB at the default 250,000.
   */
  readonly maxTopicsTotal?: number;
  /**
   * The account-state work one epoch may do: each watched account whose state is read counts 1, each AccountState
   * row sent for it 1 more. Accounts the epoch's orders and margin calls or the feed's inputs named go first, the
   * other watched accounts in turn, so an epoch's cost does not grow with the topics subscribers hold. Default 512.
   */
  readonly accountStateBudget?: number;
  /** An EngineStatus heartbeat to every connection this often; 0 disables. Default 1000 ms. */
  readonly statusIntervalMs?: number;
  /** A collateral update for an unknown account opens it (default true); false: UNKNOWN_ACCOUNT. */
  readonly createAccounts?: boolean;
  /**
   * Threads that verify SignedPriceTicks (src/oracle/verifier.ts), batched, off the main thread; frames still land
   * in the order they arrived (every frame after one waiting for its verdicts waits behind it; src/oracle/intake.ts).
   * 0: verify on the main thread (about 80 us a report). Default: the cores less one, at least 1, at most 4; none
   * start when no oracle source has a key.
   */
  readonly verifyWorkers?: number;
  /** Bytes of frames (as received) waiting behind a verification, over all connections; beyond: BACKPRESSURE. Default 8 MiB. */
  readonly maxIntakeBytes?: number;
  /** The same for one connection (at least maxFrameBytes). Default 2 MiB, or maxFrameBytes if larger. */
  readonly maxIntakeBytesPerConnection?: number;
  /**
   * How long to keep retrying when the port cannot be bound (e.g. its previous connections are still in TIME_WAIT
   * after a restart: uSockets does not set SO_REUSEADDR). Default 0: fail at once.
   */
  readonly listenRetryMs?: number;
  /**
   * GET /metrics, /healthz and /readyz on a listener of their own, without a token (README "Observability"): bind it
   * where only the scraper reaches (host default 127.0.0.1; port 0 picks a free one, read it from `server.metricsUrl`).
   * Without it, /metrics on the feed's listener needs a token.
   */
  readonly metrics?: { readonly host?: string; readonly port: number };
}

/** Every option has its entry in the schema (src/config-schema.ts), and no other: else this fails to compile. */
const schemaKnowsEveryOption: SameKeys<keyof FeedServerOptions, ServerSchemaKeys> = true;
void schemaKnowsEveryOption;

/** FeedServerOptions with every default applied (`server.options`). */
export type ResolvedServerOptions = Required<Omit<FeedServerOptions, 'publisherTokens' | 'metrics'>> & {
  readonly publisherTokens: readonly string[];
  /** Where the probe listener listens (`metrics`, its host defaulted); undefined: it has none. */
  readonly metrics: { readonly host: string; readonly port: number } | undefined;
};

/** `metrics`: undefined, or where the probe listener listens (INVALID_CONFIG naming the field). */
export function metricsListen(v: unknown): { host: string; port: number } | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad('metrics', 'expected { host?, port }');
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) if (key !== 'host' && key !== 'port') bad(`metrics.${key}`, 'unknown key (expected host, port)');
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') bad('metrics.host', 'expected a host name or address');
  if (o.port === undefined) bad('metrics.port', 'expected a TCP port (0 picks a free one)');
  return { host, port: integer(o.port, 'metrics.port', 0, 65535, 0) };
}

export const MIN_TOKEN_LENGTH = 16;

function bad(field: string, message: string): never {
  throw new UnwindError(ErrorCode.InvalidConfig, message, field);
}

function integer(v: unknown, field: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `expected an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

/** A token as every token list takes it: at least MIN_TOKEN_LENGTH characters, no whitespace. */
export const isToken = (t: unknown): t is string => typeof t === 'string' && t.length >= MIN_TOKEN_LENGTH && !/\s/.test(t);
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < NO_ID;

function tokens(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(field, 'expected an array of strings');
  v.forEach((t, i) => {
    if (!isToken(t)) bad(`${field}[${i}]`, `expected a token of at least ${MIN_TOKEN_LENGTH} characters without spaces`);
  });
  return v as string[];
}

/** Closed id ranges [[lo, hi], ...]: at least one, lo <= hi, each an id (uint32 below 4294967295). */
function ranges(v: unknown, field: string): [number, number][] {
  if (!Array.isArray(v) || v.length === 0) bad(field, 'expected a non-empty array of [lo, hi] id ranges');
  return v.map((r: unknown, i) => {
    if (!Array.isArray(r) || r.length !== 2 || !isId(r[0]) || !isId(r[1]) || r[0] > r[1]) {
      bad(`${field}[${i}]`, `expected [lo, hi] with integer ids 0 <= lo <= hi < ${NO_ID}, got ${JSON.stringify(r)}`);
    }
    return [r[0], r[1]] as [number, number];
  });
}

/** Which scopes each role takes. */
const SCOPES: Readonly<Record<TokenRole, readonly ('sources' | 'markets' | 'accounts')[]>> = {
  source: ['sources', 'markets'],
  matching: ['markets', 'accounts'],
  admin: ['markets'],
  subscriber: [],
};

/** The `tokens` entries, checked and copied (ids as given; auth.ts sorts and merges ranges). */
function tokenSpecs(v: unknown): TokenSpec[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad('tokens', 'expected an array of { token, role, sources?, markets?, accounts? }');
  return v.map((e: unknown, i): TokenSpec => {
    const f = `tokens[${i}]`;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) bad(f, 'expected an object { token, role, sources?, markets?, accounts? }');
    const o = e as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!['token', 'role', 'sources', 'markets', 'accounts'].includes(key)) bad(`${f}.${key}`, 'unknown key (expected token, role, sources, markets, accounts)');
    }
    if (!isToken(o.token)) bad(`${f}.token`, `expected a token of at least ${MIN_TOKEN_LENGTH} characters without spaces`);
    const role = o.role as TokenRole;
    if (!TOKEN_ROLES.includes(role)) bad(`${f}.role`, `expected one of ${TOKEN_ROLES.join(', ')}, got ${JSON.stringify(o.role)}`);
    for (const scope of ['sources', 'markets', 'accounts'] as const) {
      if (o[scope] !== undefined && !SCOPES[role].includes(scope)) {
        const takers = TOKEN_ROLES.filter((r) => SCOPES[r].includes(scope)).join(' and ');
        bad(`${f}.${scope}`, `a ${role} token takes no ${scope} (only ${takers} tokens do)`);
      }
    }
    let sources: number[] | undefined;
    if (role === 'source') {
      if (!Array.isArray(o.sources) || o.sources.length === 0) bad(`${f}.sources`, 'expected the source ids this price source may report for (at least one)');
      o.sources.forEach((s: unknown, k) => {
        if (!isId(s)) bad(`${f}.sources[${k}]`, `expected an integer id in [0, ${NO_ID - 1}], got ${JSON.stringify(s)}`);
      });
      sources = [...(o.sources as number[])];
    }
    return {
      token: o.token,
      role,
      ...(sources === undefined ? {} : { sources }),
      ...(o.markets === undefined ? {} : { markets: ranges(o.markets, `${f}.markets`) }),
      ...(o.accounts === undefined ? {} : { accounts: ranges(o.accounts, `${f}.accounts`) }),
    };
  });
}

export function resolveServerOptions(o: FeedServerOptions): ResolvedServerOptions {
  if (o === null || typeof o !== 'object') bad('server', 'expected an object');
  const publisherTokens = tokens(o.publisherTokens, 'publisherTokens');
  const subscriberTokens = tokens(o.subscriberTokens, 'subscriberTokens');
  const adminTokens = tokens(o.adminTokens, 'adminTokens');
  const specs = tokenSpecs(o.tokens);
  if (publisherTokens.length === 0 && !specs.some((t) => t.role === 'source' || t.role === 'matching')) {
    bad(o.tokens === undefined ? 'publisherTokens' : 'tokens', 'expected at least one token that may publish (a tokens entry of role source or matching, or a publisherTokens token)');
  }
  const shared = publisherTokens.find((t) => subscriberTokens.includes(t));
  if (shared !== undefined) bad('subscriberTokens', 'a token cannot be both a publisher and a subscriber token');
  if (adminTokens.some((t) => publisherTokens.includes(t) || subscriberTokens.includes(t))) bad('adminTokens', 'an admin token must not also be a publisher or subscriber token');
  // One grant per token: a token listed twice would hold whichever grant was read last.
  const seen = new Set([...publisherTokens, ...subscriberTokens, ...adminTokens]);
  specs.forEach((t, i) => {
    if (seen.has(t.token)) bad(`tokens[${i}].token`, 'this token is already given (in tokens or in publisherTokens, subscriberTokens, adminTokens)');
    seen.add(t.token);
  });
  const path = o.path ?? '/v1/feed';
  if (typeof path !== 'string' || !/^\/[\w\-/.]*$/.test(path)) bad('path', `expected a URL path such as /v1/feed, got ${String(path)}`);
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') bad('host', 'expected a host name or address');
  const maxFrameBytes = integer(o.maxFrameBytes, 'maxFrameBytes', 64, 1 << 30, DEFAULT_MAX_FRAME_BYTES);
  const maxPayloadBytes = integer(o.maxPayloadBytes, 'maxPayloadBytes', maxFrameBytes, 2 ** 31 - 1, Math.min(2 ** 31 - 1, 4 * maxFrameBytes));
  const createAccounts = o.createAccounts ?? true;
  if (typeof createAccounts !== 'boolean') bad('createAccounts', 'expected a boolean');
  const maxIntakeBytesPerConnection = integer(o.maxIntakeBytesPerConnection, 'maxIntakeBytesPerConnection', maxFrameBytes, 2 ** 31 - 1, Math.max(2 << 20, maxFrameBytes));
  const maxIntakeBytes = integer(o.maxIntakeBytes, 'maxIntakeBytes', maxIntakeBytesPerConnection, 2 ** 31 - 1, Math.max(8 << 20, maxIntakeBytesPerConnection));
  const resolved: ResolvedServerOptions = {
    host,
    port: integer(o.port, 'port', 0, 65535, 9001),
    path,
    publisherTokens,
    subscriberTokens,
    adminTokens,
    tokens: specs,
    clockIntervalMs: integer(o.clockIntervalMs, 'clockIntervalMs', 1, 60_000, 100),
    maxFrameBytes,
    maxPayloadBytes,
    maxBackpressureBytes: integer(o.maxBackpressureBytes, 'maxBackpressureBytes', 1024, 2 ** 31 - 1, 8 << 20),
    idleTimeoutSeconds: integer(o.idleTimeoutSeconds, 'idleTimeoutSeconds', 0, 960, 120),
    maxConnections: integer(o.maxConnections, 'maxConnections', 1, 1 << 20, 1024),
    maxTopicsPerConnection: integer(o.maxTopicsPerConnection, 'maxTopicsPerConnection', 1, 1 << 24, 10_000),
    maxTopicsTotal: integer(o.maxTopicsTotal, 'maxTopicsTotal', 1, 1 << 26, 250_000),
    accountStateBudget: integer(o.accountStateBudget, 'accountStateBudget', 1, 1 << 24, 512),
    statusIntervalMs: integer(o.statusIntervalMs, 'statusIntervalMs', 0, 3_600_000, 1000),
    createAccounts,
    listenRetryMs: integer(o.listenRetryMs, 'listenRetryMs', 0, 600_000, 0),
    metrics: metricsListen(o.metrics),
    verifyWorkers: integer(o.verifyWorkers, 'verifyWorkers', 0, 64, Math.max(1, Math.min(4, availableParallelism() - 1))),
    maxIntakeBytes,
    maxIntakeBytesPerConnection,
  };
  // The rules above own the ranges and the rules between options; the schema then refuses unknown options
  // (maxFrameByte: "did you mean maxFrameBytes?") and values of the wrong type.
  checkConfig(serverOptionsSchema, o);
  return resolved;
}
