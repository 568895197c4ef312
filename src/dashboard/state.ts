/**
 * The live risk page's model: what the feed has said, kept small (the newest rows of each kind) and plain, no DOM.
 * main.ts feeds it the SDK's events; view.ts draws it.
 */
import { atomsToQuote } from '../feed/atoms.js';
import type {
  AdlQueue,
  Deleveraging,
  FeedMessage,
  FillSettlement,
  InsuranceFundsUpdate,
  LiquidationOrder,
  MarginCall,
  MarketSummariesUpdate,
  MarketSummary,
  SocializedLoss,
  Takeover,
  UnresolvedDeficit,
} from '../feed/messages.js';

/** Rows kept per list, points kept per chart. */
const MAX_ROWS = 100;
const MAX_POINTS = 240;

export type EngineStatus = Extract<FeedMessage, { kind: 'engineStatus' }>;

/** A liquidation as the desk follows it: issued as an order, then filled (settled), taken over or deleveraged. */
export interface LiquidationRow {
  readonly id: string;
  readonly account: number;
  readonly symbol: string;
  readonly side: 'buy' | 'sell' | '';
  readonly quantity: number;
  readonly limitPrice: number | null;
  readonly health: number | null;
  status: string;
  /** Quote, from the settlement's atoms. */
  fee: number | null;
  deficit: number | null;
}

export class RiskState {
  engine: EngineStatus | undefined;
  readonly markets = new Map<number, MarketSummary>();
  /** Newest first. */
  readonly liquidations: LiquidationRow[] = [];
  readonly marginCalls: MarginCall[] = [];
  /** Fund (market id or 'pooled') -> balance in atoms. */
  readonly funds = new Map<number | 'pooled', bigint>();
  quoteDecimals = 6;
  /** What the insurance funds could not pay, atoms, summed since the page opened. */
  deficitAtoms = 0n;
  /** Bad debt reported (UnresolvedDeficits) and losses other accounts paid, quote, since the page opened. */
  unresolved = 0;
  socialized = 0;
  /** (epoch, total of the funds, cumulative deficits), quote, oldest first. */
  readonly series: { epoch: number; funds: number; deficits: number }[] = [];
  /** `${market}:${positionsSide}` -> the queue. */
  readonly adl = new Map<string, AdlQueue>();
  /** Tick-to-order latency per epoch with orders, microseconds, oldest first. */
  readonly latencyUs: number[] = [];

  engineStatus(s: EngineStatus): void {
    this.engine = s;
  }

  marketSummaries(u: MarketSummariesUpdate): void {
    for (const m of u.markets) this.markets.set(m.market, m);
    if (u.tickToOrderUs !== null) push(this.latencyUs, u.tickToOrderUs);
  }

  orders(orders: readonly LiquidationOrder[]): void {
    for (const o of orders) {
      this.liquidations.unshift({ id: o.id, account: o.account, symbol: o.symbol, side: o.side, quantity: o.quantity, limitPrice: o.limitPrice, health: o.health, status: 'issued', fee: null, deficit: null });
    }
    this.liquidations.splice(MAX_ROWS);
  }

  settlements(rows: readonly FillSettlement[], quoteDecimals: number): void {
    for (const s of rows) {
      const row = this.liquidations.find((r) => r.id === s.orderId);
      const fee = atomsToQuote(s.feeAtoms, quoteDecimals);
      const deficit = atomsToQuote(s.deficitAtoms, quoteDecimals);
      const status = `${s.orderRemaining > 0 ? 'partly filled' : 'filled'} ${Number(s.closed.toPrecision(6))} @ ${s.price}${s.resolution === 'none' ? '' : ` (${s.resolution})`}`;
      if (row === undefined) {
        this.liquidations.unshift({ id: s.orderId, account: s.account, symbol: '', side: s.side, quantity: s.quantity, limitPrice: null, health: null, status, fee, deficit });
      } else {
        row.status = status;
        row.fee = (row.fee ?? 0) + fee;
        row.deficit = (row.deficit ?? 0) + deficit;
      }
      this.deficitAtoms += s.deficitAtoms;
    }
    this.liquidations.splice(MAX_ROWS);
  }

  takeovers(takeovers: readonly Takeover[]): void {
    for (const t of takeovers) {
      this.liquidations.unshift({
        id: t.id,
        account: t.account,
        symbol: '',
        side: '',
        quantity: t.quantity,
        limitPrice: t.price,
        health: null,
        status: `taken over by vault ${t.vault}`,
        fee: t.settlement.fee,
        deficit: t.settlement.deficit,
      });
    }
    this.liquidations.splice(MAX_ROWS);
  }

  deleveragings(ds: readonly Deleveraging[]): void {
    for (const d of ds) {
      const id = d.orderId ?? `${d.account}-${d.market}@${d.sequence}`;
      const row = this.liquidations.find((r) => r.id === id);
      const status = `deleveraged ${d.matched} @ ${d.bankruptcyPrice} (ADL)`;
      if (row !== undefined) row.status = status;
      else this.liquidations.unshift({ id, account: d.account, symbol: '', side: '', quantity: d.matched + d.remainder, limitPrice: null, health: null, status, fee: null, deficit: null });
    }
    this.liquidations.splice(MAX_ROWS);
  }

  marginCallsIn(calls: readonly MarginCall[]): void {
    this.marginCalls.unshift(...[...calls].reverse());
    this.marginCalls.splice(MAX_ROWS);
  }

  unresolvedDeficits(us: readonly UnresolvedDeficit[]): void {
    for (const u of us) this.unresolved += u.amount;
  }

  socializedLosses(ls: readonly SocializedLoss[]): void {
    for (const l of ls) this.socialized += l.amount;
  }

  insuranceFunds(u: InsuranceFundsUpdate): void {
    this.quoteDecimals = u.quoteDecimals;
    if (u.snapshot) this.funds.clear();
    for (const f of u.funds) this.funds.set(f.market, f.balanceAtoms);
    let total = 0n;
    for (const b of this.funds.values()) total += b;
    push(this.series, { epoch: u.epoch, funds: atomsToQuote(total, u.quoteDecimals), deficits: atomsToQuote(this.deficitAtoms, u.quoteDecimals) });
  }

  adlQueue(q: AdlQueue): void {
    this.adl.set(`${q.market}:${q.positionsSide}`, q);
  }
}

function push<T>(list: T[], x: T): void {
  list.push(x);
  if (list.length > MAX_POINTS) list.splice(0, list.length - MAX_POINTS);
}
