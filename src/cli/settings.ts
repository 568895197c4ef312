/**
 * Where `unwind serve` takes each setting from: a flag, else an environment variable, else the config file, else the
 * default (docs/configuration.md, "Precedence"). The environment names the config file, the listening address and
 * every kind of token, so that a container or a service manager can run the server without writing a file:
 *
 *   UNWIND_CONFIG            the config file (flag --config)
 *   UNWIND_HOST              server.host (flag --host)
 *   UNWIND_PORT              server.port (flag --port)
 *   UNWIND_PUBLISHER_TOKENS  server.publisherTokens, comma-separated
 *   UNWIND_SUBSCRIBER_TOKENS server.subscriberTokens, comma-separated
 *   UNWIND_ADMIN_TOKENS      server.adminTokens, comma-separated
 *   UNWIND_TOKENS            server.tokens: a JSON array of { token, role, sources?, markets?, accounts? }
 *
 * A variable that is set replaces the file's value whole (a token list is not merged); an empty one counts as unset.
 * A bad value is INVALID_CONFIG naming the variable (UNWIND_PORT, UNWIND_SUBSCRIBER_TOKENS[1], UNWIND_TOKENS[0].role).
 */
import { checkConfig, tokenSpecsSchema } from '../config-schema.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { isToken, MIN_TOKEN_LENGTH, type FeedServerOptions } from '../feed/server-options.js';
import { portOf } from './args.js';
import { readServeConfig, type ServeConfig } from './serve.js';

/** The environment variables `unwind serve` reads, by the setting they give. */
export const SERVE_ENV = {
  config: 'UNWIND_CONFIG',
  host: 'UNWIND_HOST',
  port: 'UNWIND_PORT',
  publisherTokens: 'UNWIND_PUBLISHER_TOKENS',
  subscriberTokens: 'UNWIND_SUBSCRIBER_TOKENS',
  adminTokens: 'UNWIND_ADMIN_TOKENS',
  tokens: 'UNWIND_TOKENS',
} as const;

export interface ServeFlags {
  readonly config?: string;
  readonly host?: string;
  readonly port?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The variable's value, or undefined when unset or empty (blank). */
const read = (env: Env, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
};

function tokenList(text: string, name: string): string[] {
  const list = text.split(',').map((t) => t.trim());
  list.forEach((t, i) => {
    if (!isToken(t)) throw new UnwindError(ErrorCode.InvalidConfig, `expected comma-separated tokens of at least ${MIN_TOKEN_LENGTH} characters without spaces`, `${name}[${i}]`);
  });
  return list;
}

function tokenSpecs(text: string, name: string): FeedServerOptions['tokens'] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a JSON array of { token, role, sources?, markets?, accounts? }: ${(e as Error).message}`, name);
  }
  return checkConfig(tokenSpecsSchema, json as FeedServerOptions['tokens'], name);
}

function hostOf(v: string, field: string): string {
  if (v === '' || /\s/.test(v)) throw new UnwindError(ErrorCode.InvalidConfig, `expected a host name or address, got ${JSON.stringify(v)}`, field);
  return v;
}

/**
 * The serve config: the file the flag or UNWIND_CONFIG names (none: every default), then the environment over its
 * `server` section, then the flags over both. Throws INVALID_CONFIG naming the flag, the variable or the file's key.
 */
export function serveConfigFrom(flags: ServeFlags, env: Env = process.env): ServeConfig {
  if (flags.config !== undefined && flags.config.trim() === '') throw new UnwindError(ErrorCode.InvalidConfig, 'expected a file name', '--config');
  const file = flags.config ?? read(env, SERVE_ENV.config);
  let config: ServeConfig;
  try {
    config = readServeConfig(file);
  } catch (e) {
    // A file that cannot be read is named by where its name came from.
    if (flags.config === undefined && e instanceof UnwindError && e.field === '--config') throw new UnwindError(e.code, e.message.slice('--config: '.length), SERVE_ENV.config);
    throw e;
  }
  const server: Record<string, unknown> = { ...config.server };
  const host = read(env, SERVE_ENV.host);
  if (host !== undefined) server.host = hostOf(host, SERVE_ENV.host);
  const port = read(env, SERVE_ENV.port);
  if (port !== undefined) server.port = portOf(port, SERVE_ENV.port);
  for (const kind of ['publisherTokens', 'subscriberTokens', 'adminTokens'] as const) {
    const list = read(env, SERVE_ENV[kind]);
    if (list !== undefined) server[kind] = tokenList(list, SERVE_ENV[kind]);
  }
  const specs = read(env, SERVE_ENV.tokens);
  if (specs !== undefined) server.tokens = tokenSpecs(specs, SERVE_ENV.tokens);
  if (flags.host !== undefined) server.host = hostOf(flags.host, '--host');
  if (flags.port !== undefined) server.port = portOf(flags.port, '--port');
  return Object.keys(server).length === 0 ? config : { ...config, server: server as Partial<FeedServerOptions> };
}
