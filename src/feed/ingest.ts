/**
 * The server's write side: which role may send which inbound frame, and the engine call that takes it. Every call
 * takes its frame as one batch, checked whole before any of it lands (the engine's rule), so a rejected frame
 * changes nothing.
 */
import type { Engine } from '../engine/engine.js';
import type { Role } from './auth.js';
import type { TickBatchMessage } from './decode.js';
import type { FeedMessage } from './messages.js';
import type { FeedStats } from './stats.js';

export type Inbound = Extract<FeedMessage, { kind: 'positions' | 'collateral' | 'fills' | 'expiries' | 'books' | 'killSwitch' }> | TickBatchMessage;

/** Who may send each inbound kind, and its name on the wire (for error messages). */
const SENDERS: Readonly<Record<Inbound['kind'], { readonly role: Role; readonly wire: string }>> = {
  tickBatch: { role: 'publisher', wire: 'PriceTicks' },
  positions: { role: 'publisher', wire: 'PositionUpdates' },
  collateral: { role: 'publisher', wire: 'CollateralUpdates' },
  fills: { role: 'publisher', wire: 'Fills' },
  expiries: { role: 'publisher', wire: 'OrderExpiries' },
  books: { role: 'publisher', wire: 'BookTickers' },
  killSwitch: { role: 'admin', wire: 'KillSwitch' },
};

export function isInbound(m: { readonly kind: string }): m is Inbound {
  return Object.hasOwn(SENDERS, m.kind);
}

/** Why `role` may not send `m` (the FORBIDDEN error's message), or undefined when it may. */
export function forbidden(role: Role, m: Inbound): string | undefined {
  const s = SENDERS[m.kind];
  if (role === s.role) return undefined;
  const wire = m.kind === 'tickBatch' && m.batch.signed ? 'SignedPriceTicks' : s.wire;
  return `${article(role)} ${role} token may not send ${wire} frames; ${article(s.role)} ${s.role} token may`;
}

/** Hands one inbound frame to the engine; throws UnwindError (nothing landed) to reject it. */
export function ingest(engine: Engine, m: Inbound, counters: FeedStats, createAccounts: boolean): void {
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
    case 'killSwitch':
      engine.setKillSwitch(m.level, m.market, m.reason);
      counters.killSwitchesIn++;
      return;
  }
}

const article = (role: Role): string => (role === 'admin' ? 'an' : 'a');
