/** The feed server's options, their defaults and their validation (INVALID_CONFIG naming the option). */
import { ErrorCode, UnwindError } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from './messages.js';

export interface FeedServerOptions {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  readonly host?: string;
  /** TCP port; 0 picks a free one (read it from `server.port`). Default 9001. */
  readonly port?: number;
  /** The WebSocket endpoint. Default /v1/feed (stats at /v1/feed/stats). */
  readonly path?: string;
  /** Tokens that may publish (and subscribe). At least one; each at least 16 characters. */
  readonly publisherTokens: readonly string[];
  /** Tokens that may only subscribe. */
  readonly subscriberTokens?: readonly string[];
  /** Tokens that may send KillSwitch frames (and subscribe). Default none: the kill switch is then API-only. */
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
  /** Market, account and ADL-market topics one connection may hold, together. Default 100,000. */
  readonly maxTopicsPerConnection?: number;
  /** An EngineStatus heartbeat to every connection this often; 0 disables. Default 1000 ms. */
  readonly statusIntervalMs?: number;
  /** A collateral update for an unknown account opens it (default true); false: UNKNOWN_ACCOUNT. */
  readonly createAccounts?: boolean;
  /**
   * How long to keep retrying when the port cannot be bound (e.g. its previous connections are still in TIME_WAIT
   * after a restart: uSockets does not set SO_REUSEADDR). Default 0: fail at once.
   */
  readonly listenRetryMs?: number;
}

export type ResolvedServerOptions = Required<FeedServerOptions>;

export const MIN_TOKEN_LENGTH = 16;

function bad(field: string, message: string): never {
  throw new UnwindError(ErrorCode.InvalidConfig, message, field);
}

function integer(v: unknown, field: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `expected an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
}

function tokens(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(field, 'expected an array of strings');
  v.forEach((t, i) => {
    if (typeof t !== 'string' || t.length < MIN_TOKEN_LENGTH || /\s/.test(t)) {
      bad(`${field}[${i}]`, `expected a token of at least ${MIN_TOKEN_LENGTH} characters without spaces`);
    }
  });
  return v as string[];
}

export function resolveServerOptions(o: FeedServerOptions): ResolvedServerOptions {
  if (o === null || typeof o !== 'object') bad('server', 'expected an object');
  const publisherTokens = tokens(o.publisherTokens, 'publisherTokens');
  const subscriberTokens = tokens(o.subscriberTokens, 'subscriberTokens');
  if (publisherTokens.length === 0) bad('publisherTokens', 'expected at least one publisher token');
  const adminTokens = tokens(o.adminTokens, 'adminTokens');
  const shared = publisherTokens.find((t) => subscriberTokens.includes(t));
  if (shared !== undefined) bad('subscriberTokens', 'a token cannot be both a publisher and a subscriber token');
  if (adminTokens.some((t) => publisherTokens.includes(t) || subscriberTokens.includes(t))) bad('adminTokens', 'an admin token must not also be a publisher or subscriber token');
  const path = o.path ?? '/v1/feed';
  if (typeof path !== 'string' || !/^\/[\w\-/.]*$/.test(path)) bad('path', `expected a URL path such as /v1/feed, got ${String(path)}`);
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') bad('host', 'expected a host name or address');
  const maxFrameBytes = integer(o.maxFrameBytes, 'maxFrameBytes', 64, 1 << 30, DEFAULT_MAX_FRAME_BYTES);
  const maxPayloadBytes = integer(o.maxPayloadBytes, 'maxPayloadBytes', maxFrameBytes, 2 ** 31 - 1, Math.min(2 ** 31 - 1, 4 * maxFrameBytes));
  const createAccounts = o.createAccounts ?? true;
  if (typeof createAccounts !== 'boolean') bad('createAccounts', 'expected a boolean');
  return {
    host,
    port: integer(o.port, 'port', 0, 65535, 9001),
    path,
    publisherTokens,
    subscriberTokens,
    adminTokens,
    clockIntervalMs: integer(o.clockIntervalMs, 'clockIntervalMs', 1, 60_000, 100),
    maxFrameBytes,
    maxPayloadBytes,
    maxBackpressureBytes: integer(o.maxBackpressureBytes, 'maxBackpressureBytes', 1024, 2 ** 31 - 1, 8 << 20),
    idleTimeoutSeconds: integer(o.idleTimeoutSeconds, 'idleTimeoutSeconds', 0, 960, 120),
    maxConnections: integer(o.maxConnections, 'maxConnections', 1, 1 << 20, 1024),
    maxTopicsPerConnection: integer(o.maxTopicsPerConnection, 'maxTopicsPerConnection', 1, 1 << 24, 100_000),
    statusIntervalMs: integer(o.statusIntervalMs, 'statusIntervalMs', 0, 3_600_000, 1000),
    createAccounts,
    listenRetryMs: integer(o.listenRetryMs, 'listenRetryMs', 0, 600_000, 0),
  };
}
