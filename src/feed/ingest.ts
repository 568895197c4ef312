/**
 * The server's write side: which role may send which inbound frame, within which scopes, and the engine call that
 * takes it. Every call takes its frame as one batch, checked whole before any of it lands (the engine's rule), so a
 * rejected frame changes nothing; a row outside the token's scopes rejects the whole frame (FORBIDDEN) first.
 */
import { orderId } from '../clearing/orders.js';
import type { Grant, IdRanges, Role } from './auth.js';
import type { TickBatchMessage } from './decode.js';
import type { BookTop, CollateralUpdate, FeedMessage, Fill, KillLevel, MarketDepth, PositionUpdate } from './messages.js';
import type { FeedStats } from './stats.js';

/** The engine calls ingest makes (the server passes its Engine): declared here, the feed does not import src/engine. */
export interface IngestTarget {
  pushTicks(batch: TickBatchMessage['batch']): void;
  upsertPositions(updates: readonly PositionUpdate[]): void;
  setCollaterals(updates: readonly CollateralUpdate[], createAccounts: boolean): void;
  fill(fills: readonly Fill[]): void;
  expire(orderIds: readonly string[]): void;
  pushBooks(books: readonly BookTop[]): void;
  pushDepth(books: readonly MarketDepth[]): void;
  setKillSwitch(level: KillLevel, market: number | undefined, reason: string): void;
}

export type Inbound = Extract<FeedMessage, { kind: 'positions' | 'collateral' | 'fills' | 'expiries' | 'books' | 'depth' | 'killSwitch' }> | TickBatchMessage;

/**
 * Who may send each inbound kind (the first role named is the one to ask for in an error message), and its name on
 * the wire. `publisher` (legacy `publisherTokens`) is source and matching at once.
 */
const SENDERS: Readonly<Record<Inbound['kind'], { readonly roles: readonly Role[]; readonly wire: string }>> = {
  tickBatch: { roles: ['source', 'publisher'], wire: 'PriceTicks' },
  positions: { roles: ['matching', 'publisher'], wire: 'PositionUpdates' },
  collateral: { roles: ['matching', 'publisher'], wire: 'CollateralUpdates' },
  fills: { roles: ['matching', 'publisher'], wire: 'Fills' },
  expiries: { roles: ['matching', 'publisher'], wire: 'OrderExpiries' },
  books: { roles: ['matching', 'publisher'], wire: 'BookTickers' },
  depth: { roles: ['matching', 'publisher'], wire: 'Depth' },
  killSwitch: { roles: ['admin'], wire: 'KillSwitch' },
};

export function isInbound(m: { readonly kind: string }): m is Inbound {
  return Object.hasOwn(SENDERS, m.kind);
}

/**
 * Why the token `g` may not send `m` (the FORBIDDEN error's message, naming the first offending row's field), or
 * undefined when it may: its role sends this kind, and every row names only sources, markets and accounts in its
 * scopes. A row is checked on the ids it names: a collateral row names no market, a book top no account.
 */
export function forbidden(g: Grant, m: Inbound): string | undefined {
  const s = SENDERS[m.kind];
  if (!s.roles.includes(g.role)) {
    const wire = m.kind === 'tickBatch' && m.batch.signed ? 'SignedPriceTicks' : s.wire;
    return `${article(g.role)} ${g.role} token may not send ${wire} frames; ${article(s.roles[0]!)} ${s.roles[0]} token may`;
  }
  const { sources, markets, accounts } = g;
  switch (m.kind) {
    case 'tickBatch': {
      if (sources === undefined && markets === undefined) return undefined;
      // The hot path: typed columns, a binary search over a few ranges per row, no object per row.
      const b = m.batch;
      for (let i = 0; i < b.length; i++) {
        if (sources !== undefined && !sources.has(b.source[i]!)) return outside(`ticks[${i}].source`, 'source', b.source[i]!, sources);
        if (markets !== undefined && !markets.has(b.market[i]!)) return outside(`ticks[${i}].market`, 'market', b.market[i]!, markets);
      }
      return undefined;
    }
    case 'positions':
      return rows(m.positions, 'positions', markets, accounts);
    case 'collateral':
      return rows(m.updates, 'updates', undefined, accounts);
    case 'fills':
      // A fill names its order's account and market, and the engine refuses one that names others (INVALID_FILL):
      // checking the row's ids checks the order's.
      return rows(m.fills, 'fills', markets, accounts);
    case 'expiries': {
      if (markets === undefined && accounts === undefined) return undefined;
      for (const [i, id] of m.orderIds.entries()) {
        const o = orderIds(id);
        // An id this engine never makes names no order in scope (and no order at all).
        if (o === undefined) return `orderIds[${i}]: ${JSON.stringify(id)} is not an order id of this engine (account-market-sequence), so not in this token's scopes`;
        if (accounts !== undefined && !accounts.has(o.account)) return outside(`orderIds[${i}]`, 'account', o.account, accounts);
        if (markets !== undefined && !markets.has(o.market)) return outside(`orderIds[${i}]`, 'market', o.market, markets);
      }
      return undefined;
    }
    case 'books':
    case 'depth':
      return rows(m.books, 'books', markets, undefined);
    case 'killSwitch':
      if (markets === undefined) return undefined;
      if (m.market === undefined) return `market: a kill switch for every market needs an admin token without market ranges (this one has ${markets})`;
      return markets.has(m.market) ? undefined : outside('market', 'market', m.market, markets);
  }
}

/** Hands one inbound frame to the engine; throws UnwindError (nothing landed) to reject it. */
export function ingest(engine: IngestTarget, m: Inbound, counters: FeedStats, createAccounts: boolean): void {
  switch (m.kind) {
    case 'tickBatch':
      // Rows for oracle markets are source reports (signatures, sequences, aggregation); the others direct prices.
      engine.pushTicks(m.batch);
      counters.ticksIn += m.batch.length;
      return;
    case 'positions':
      engine.upsertPositions(m.positions);
      counters.positionUpdatesIn += m.positions.length;
      return;
    case 'collateral':
      engine.setCollaterals(m.updates, createAccounts);
      counters.collateralUpdatesIn += m.updates.length;
      return;
    case 'fills':
      // Checked against the engine's open orders and positions, all before any; each settles in input order.
      engine.fill(m.fills);
      counters.fillsIn += m.fills.length;
      return;
    case 'expiries':
      // Each re-stamps its position (a new order follows if still needed).
      engine.expire(m.orderIds);
      counters.expiriesIn += m.orderIds.length;
      return;
    case 'books':
      engine.pushBooks(m.books);
      counters.booksIn += m.books.length;
      return;
    case 'depth':
      // Checked whole (every market held, every volume >= 0), then each row lands in order; it starts no epoch.
      engine.pushDepth(m.books);
      counters.depthIn += m.books.length;
      return;
    case 'killSwitch':
      engine.setKillSwitch(m.level, m.market, m.reason);
      counters.killSwitchesIn++;
      return;
  }
}

/** Calls `visit` with each account an accepted frame names (positions, collateral, fills): their states may have moved. */
export function accountsNamed(m: Inbound, visit: (account: number) => void): void {
  switch (m.kind) {
    case 'positions':
      for (const p of m.positions) visit(p.account);
      return;
    case 'collateral':
      for (const u of m.updates) visit(u.account);
      return;
    case 'fills':
      for (const f of m.fills) visit(f.account);
      return;
    default:
      return;
  }
}

/** The first row of `list` that names a market or an account outside the given scopes, as a FORBIDDEN message. */
function rows(
  list: readonly { readonly account?: number; readonly market?: number }[],
  field: string,
  markets: IdRanges | undefined,
  accounts: IdRanges | undefined,
): string | undefined {
  if (markets === undefined && accounts === undefined) return undefined;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (accounts !== undefined && r.account !== undefined && !accounts.has(r.account)) return outside(`${field}[${i}].account`, 'account', r.account, accounts);
    if (markets !== undefined && r.market !== undefined && !markets.has(r.market)) return outside(`${field}[${i}].market`, 'market', r.market, markets);
  }
  return undefined;
}

function outside(field: string, what: string, id: number, scope: IdRanges): string {
  return `${field}: ${what} ${id} is outside this token's ${what}s (${scope})`;
}

/**
 * The account and market of an order id as the engine makes them (orderId: account-market-sequence), or undefined
 * for a string that is not one: only the exact spelling orderId gives counts.
 */
function orderIds(id: string): { account: number; market: number } | undefined {
  const m = /^(\d{1,10})-(\d{1,10})-(\d{1,16})$/.exec(id);
  if (m === null) return undefined;
  const account = Number(m[1]);
  const market = Number(m[2]);
  return orderId(account, market, Number(m[3])) === id ? { account, market } : undefined;
}

const article = (role: Role): string => (role === 'admin' ? 'an' : 'a');
