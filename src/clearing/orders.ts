/** What the executor emits, as the embedding API and the CLI see it, decoded from the shared output rows. */
import { NONE, OutputKind, PositionFlag, type Tables } from '../tables/layout.js';
import { CAP_NAMES, type CapName } from '../executor/caps.js';
import { LIFECYCLE_STATES, type LifecycleState } from '../executor/lifecycle.js';
import { OrderReason } from '../executor/executor.js';

/** Why a position is liquidated: its cross group, or its isolated position, fell below maintenance margin. */
export type OrderReasonName = 'cross-maintenance' | 'isolated-maintenance';

/** A liquidation order: an IOC for the matching engine to execute at `limitPrice` or better. */
export interface LiquidationOrder {
  /** Derived from inputs: `<account>-<market>-<sequence of the input that set the position>`. */
  readonly id: string;
  /** The epoch that issued it. */
  readonly epoch: number;
  /** The liquidated account. */
  readonly account: number;
  /** The market of the position it closes. */
  readonly market: number;
  /** The market's symbol. */
  readonly symbol: string;
  /** Sell to close a long, buy to close a short. */
  readonly side: 'buy' | 'sell';
  /** Base units, > 0. */
  readonly quantity: number;
  /** The fillable price: the worst price the order may fill at (docs/domain.md section 2). */
  readonly limitPrice: number;
  /** The market's oracle price at decision time, quote per base unit. */
  readonly oraclePrice: number;
  /** Whether the cross group or the isolated position is below maintenance. */
  readonly reason: OrderReasonName;
  /** Of the margin group being liquidated, at decision time. */
  readonly health: number;
  /** Of the margin group being liquidated, at decision time, quote units. */
  readonly equity: number;
  /** Of the margin group being liquidated, at decision time, quote units. */
  readonly maintenanceMargin: number;
  /** The input sequence number of the input that set the position: an order per position state. */
  readonly positionSequence: number;
}

/**
 * An order a backstop vault takes off the book (execution strategy 'backstop'): the clearing settles it at the epoch's
 * end as a fill at `price` and moves the quantity into the vault's position. Its id is derived as an order's.
 */
export interface TakeoverOrder extends Omit<LiquidationOrder, 'limitPrice'> {
  /** The price the vault takes it at (never worse for the account than the fillable price). */
  readonly price: number;
  /** The vault's account id. */
  readonly vault: number;
}

/** A margin group that entered the margin-call state: health below config.marginCallHealth, not yet liquidatable. */
export interface MarginCall {
  /** The epoch that found it. */
  readonly epoch: number;
  /** The account called. */
  readonly account: number;
  /** The market of an isolated position; null for the account's cross group. */
  readonly market: number | null;
  /** The group's health (equity / maintenance margin). */
  readonly health: number;
  /** The group's equity, quote units. */
  readonly equity: number;
  /** The group's maintenance margin, quote units. */
  readonly maintenanceMargin: number;
}

/** A margin group's lifecycle transition (src/executor/lifecycle.ts), as the executor decided it. */
export interface StateChange {
  /** The epoch that decided it. */
  readonly epoch: number;
  /** The account. */
  readonly account: number;
  /** The market of an isolated position; null for the account's cross group. */
  readonly market: number | null;
  /** The state it left. */
  readonly from: LifecycleState;
  /** The state it entered. */
  readonly to: LifecycleState;
  /** The group's health at the change. */
  readonly health: number;
  /** The group's equity at the change, quote units. */
  readonly equity: number;
  /** The group's maintenance margin at the change, quote units. */
  readonly maintenanceMargin: number;
}

/** Liquidation work a cap held back this epoch: queued, and planned again while the group stays liquidatable. */
export interface CappedWork {
  /** The epoch that held it back. */
  readonly epoch: number;
  /** The account whose liquidation was held back. */
  readonly account: number;
  /** The market of the position. */
  readonly market: number;
  /** The cap that bound (the tightest). */
  readonly cap: CapName;
  /** Base units held back. */
  readonly queuedQuantity: number;
  /** The fillable price the held-back order would have had. */
  readonly limitPrice: number;
}

/** What the executor emitted in one epoch. */
export interface EpochOutput {
  /** Liquidation orders, in the executor's deterministic order. */
  readonly orders: LiquidationOrder[];
  /** Takeovers the executor decided; the clearing lands them (src/clearing/clearing.ts `takeOver`). */
  readonly takeovers: TakeoverOrder[];
  /** Margin groups that entered the margin-call state. */
  readonly marginCalls: MarginCall[];
  /** Every lifecycle transition the executor decided. */
  readonly stateChanges: StateChange[];
  /** Liquidation work the caps held back. */
  readonly capped: CappedWork[];
}

/** The id of the order for a position state: `<account>-<market>-<positionSequence>`. */
export function orderId(accountId: number, marketId: number, positionSequence: number): string {
  return `${accountId}-${marketId}-${positionSequence}`;
}

/**
 * The account, market and position sequence an order id names, or undefined for a string `orderId` does not spell
 * (no order of any engine has it): what a shard reads to know whether an order is of an account it holds.
 */
export function orderIdParts(id: string): { readonly account: number; readonly market: number; readonly positionSequence: number } | undefined {
  const m = /^(\d{1,10})-(\d{1,10})-(\d{1,16})$/.exec(id);
  if (m === null) return undefined;
  const account = Number(m[1]);
  const market = Number(m[2]);
  const positionSequence = Number(m[3]);
  return orderId(account, market, positionSequence) === id ? { account, market, positionSequence } : undefined;
}

/** Reads output rows [0, count) of `epoch`; `symbolOf` maps a market index to its symbol. */
export function decodeOutput(t: Tables, count: number, epoch: number, symbolOf: (marketIndex: number) => string): EpochOutput {
  const o = t.output;
  const orders: LiquidationOrder[] = [];
  const takeovers: TakeoverOrder[] = [];
  const marginCalls: MarginCall[] = [];
  const stateChanges: StateChange[] = [];
  const capped: CappedWork[] = [];
  for (let r = 0; r < count; r++) {
    const accountId = t.accounts.id[o.account[r]!]!;
    const m = o.market[r]!;
    if (o.kind[r] === OutputKind.Order || o.kind[r] === OutputKind.Takeover) {
      // In the order's key order (the digest hashes it as JSON): who and what, the price, why, the group.
      const marketId = t.markets.id[m]!;
      const seq = o.updateSequence[r]!;
      const what = { id: orderId(accountId, marketId, seq), epoch, account: accountId, market: marketId, symbol: symbolOf(m), side: (o.side[r]! | 0) > 0 ? ('buy' as const) : ('sell' as const), quantity: o.quantity[r]! };
      const group = { health: o.health[r]!, equity: o.equity[r]!, maintenanceMargin: o.maintenance[r]!, positionSequence: seq };
      const oraclePrice = o.oraclePrice[r]!;
      if (o.kind[r] === OutputKind.Order) {
        const reason = o.reason[r] === OrderReason.IsolatedMaintenance ? 'isolated-maintenance' : 'cross-maintenance';
        orders.push({ ...what, limitPrice: o.limitPrice[r]!, oraclePrice, reason, ...group });
      } else {
        // A takeover's reason column holds the vault's account row: its reason is the position's kind.
        const reason = (t.positions.flags[o.position[r]!]! & PositionFlag.Isolated) !== 0 ? 'isolated-maintenance' : 'cross-maintenance';
        takeovers.push({ ...what, price: o.limitPrice[r]!, oraclePrice, reason, ...group, vault: t.accounts.id[o.reason[r]!]! });
      }
    } else if (o.kind[r] === OutputKind.Capped) {
      capped.push({
        epoch,
        account: accountId,
        market: t.markets.id[m]!,
        cap: CAP_NAMES[o.reason[r]!]!,
        queuedQuantity: o.quantity[r]!,
        limitPrice: o.limitPrice[r]!,
      });
    } else if (o.kind[r] === OutputKind.StateChange) {
      stateChanges.push({
        epoch,
        account: accountId,
        market: m === NONE ? null : t.markets.id[m]!,
        from: LIFECYCLE_STATES[o.side[r]!]!,
        to: LIFECYCLE_STATES[o.reason[r]!]!,
        health: o.health[r]!,
        equity: o.equity[r]!,
        maintenanceMargin: o.maintenance[r]!,
      });
    } else {
      marginCalls.push({
        epoch,
        account: accountId,
        market: m === NONE ? null : t.markets.id[m]!,
        health: o.health[r]!,
        equity: o.equity[r]!,
        maintenanceMargin: o.maintenance[r]!,
      });
    }
  }
  return { orders, takeovers, marginCalls, stateChanges, capped };
}
