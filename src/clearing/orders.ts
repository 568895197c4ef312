/** What the executor emits, as the embedding API and the CLI see it, decoded from the shared output rows. */
import { NONE, OutputKind, PositionFlag, type Tables } from '../tables/layout.js';
import { CAP_NAMES, type CapName } from '../executor/caps.js';
import { LIFECYCLE_STATES, type LifecycleState } from '../executor/lifecycle.js';
import { OrderReason } from '../executor/executor.js';

export type OrderReasonName = 'cross-maintenance' | 'isolated-maintenance';

export interface LiquidationOrder {
  /** Derived from inputs: `<account>-<market>-<sequence of the input that set the position>`. */
  readonly id: string;
  readonly epoch: number;
  readonly account: number;
  readonly market: number;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  /** Base units, > 0. */
  readonly quantity: number;
  /** The fillable price: the worst price the order may fill at (docs/domain.md section 2). */
  readonly limitPrice: number;
  readonly oraclePrice: number;
  readonly reason: OrderReasonName;
  /** Of the margin group being liquidated, at decision time. */
  readonly health: number;
  readonly equity: number;
  readonly maintenanceMargin: number;
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

export interface MarginCall {
  readonly epoch: number;
  readonly account: number;
  /** The market of an isolated position; null for the account's cross group. */
  readonly market: number | null;
  readonly health: number;
  readonly equity: number;
  readonly maintenanceMargin: number;
}

/** A margin group's lifecycle transition (src/executor/lifecycle.ts), as the executor decided it. */
export interface StateChange {
  readonly epoch: number;
  readonly account: number;
  /** The market of an isolated position; null for the account's cross group. */
  readonly market: number | null;
  readonly from: LifecycleState;
  readonly to: LifecycleState;
  readonly health: number;
  readonly equity: number;
  readonly maintenanceMargin: number;
}

/** Liquidation work a cap held back this epoch: queued, and planned again while the group stays liquidatable. */
export interface CappedWork {
  readonly epoch: number;
  readonly account: number;
  readonly market: number;
  /** The cap that bound (the tightest). */
  readonly cap: CapName;
  /** Base units held back. */
  readonly queuedQuantity: number;
  readonly limitPrice: number;
}

export interface EpochOutput {
  readonly orders: LiquidationOrder[];
  /** Takeovers the executor decided; the clearing lands them (src/clearing/clearing.ts `takeOver`). */
  readonly takeovers: TakeoverOrder[];
  readonly marginCalls: MarginCall[];
  readonly stateChanges: StateChange[];
  readonly capped: CappedWork[];
}

export function orderId(accountId: number, marketId: number, positionSequence: number): string {
  return `${accountId}-${marketId}-${positionSequence}`;
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
