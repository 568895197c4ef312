/**
 * The threaded engine against a plain single-threaded reference written here from the domain functions and the
 * book's own data (never the engine's tables). After every epoch of a seeded crash: no liquidatable group is
 * missed, no healthy one is liquidated, each order is priced and sized as docs/domain.md sections 1, 2 and 7 say,
 * and margin calls go to exactly the groups that newly fell below the margin-call level.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  canBeLiquidated,
  fillablePrice,
  health,
  isMarginCall,
  maintenanceMargin,
  notional,
  underwaterness,
  unrealizedPnl,
} from '../src/domain/index.js';
import { type EngineConfig, type EpochResult, type LiquidationOrder, type MarginCall } from '../src/index.js';
import { generateScenario, runPath, startScenario, type BookState, type HeldPosition, type ScenarioOptions } from './support/scenario.js';

interface Group {
  /** `<account>` for the cross group, `<account>/<market>` for an isolated position. */
  readonly key: string;
  readonly account: number;
  readonly market: number | null;
  readonly equity: number;
  readonly maintenance: number;
  readonly positions: readonly HeldPosition[];
}

interface ExpectedOrder {
  readonly id: string;
  readonly side: 'buy' | 'sell';
  readonly quantity: number;
  readonly limitPrice: number;
  readonly oraclePrice: number;
  readonly reason: LiquidationOrder['reason'];
  readonly group: Group;
}

interface Epoch {
  readonly result: EpochResult;
  /** By `<account>:<market>`. */
  readonly orders: Map<string, ExpectedOrder>;
  /** By group key. */
  readonly calls: Map<string, Group>;
  readonly groups: Map<string, Group>;
  readonly sequence: number;
}

const positionKey = (account: number, market: number): string => `${account}:${market}`;
const callKey = (c: MarginCall): string => (c.market === null ? `${c.account}` : `${c.account}/${c.market}`);

/** Every margin group, from the book: cross equity = collateral + PnL of the cross positions (in list order). */
function groupsOf(book: BookState): Group[] {
  const out: Group[] = [];
  for (const a of book.accounts.values()) {
    let pnl = 0;
    let maintenance = 0;
    const cross: HeldPosition[] = [];
    for (const p of a.positions) {
      const m = book.markets.get(p.market)!;
      const positionPnl = unrealizedPnl(p.size, m.markPrice, p.entryPrice);
      const positionMaintenance = maintenanceMargin(notional(p.size, m.markPrice), m.schedule);
      if (p.isolatedCollateral === null) {
        pnl += positionPnl;
        maintenance += positionMaintenance;
        cross.push(p);
      } else {
        out.push({ key: `${a.id}/${p.market}`, account: a.id, market: p.market, equity: p.isolatedCollateral + positionPnl, maintenance: positionMaintenance, positions: [p] });
      }
    }
    out.push({ key: `${a.id}`, account: a.id, market: null, equity: a.collateral + pnl, maintenance, positions: cross });
  }
  return out;
}

/**
 * The liquidation policy in a few lines: every non-zero position of a liquidatable group is ordered closed at the
 * fillable price, once per position state (an order is never re-issued while the position is unchanged, so an
 * order id is never emitted twice), and never while an earlier order of the position is open; a margin call is raised
 * once per stay between health 1 and the margin-call level. The venue of runPath reports what it fills as position
 * updates, never as fills or expiries, and its prices carry no event time (no order times out): an order it receives
 * stays open, so each position is ordered once.
 */
class Reference {
  /** Position key -> sequence of the position state an order was issued for. */
  private readonly issued = new Map<string, number>();
  /** Positions with an order open: one is never ordered again here (nothing ends an order; see above). */
  private readonly open = new Set<string>();
  private warned = new Set<string>();
  /** Positions of liquidatable groups left out because their order was already issued. */
  suppressed = 0;

  constructor(private readonly config: Policy) {}

  epoch(book: BookState, result: EpochResult): Epoch {
    const c = this.config;
    const groups = groupsOf(book);
    const orders = new Map<string, ExpectedOrder>();
    const calls = new Map<string, Group>();
    const calling = new Set<string>();
    for (const g of groups) {
      if (canBeLiquidated(g.equity, g.maintenance)) {
        for (const p of g.positions) {
          if (p.size === 0) continue;
          const key = positionKey(p.account, p.market);
          if (this.issued.get(key) === p.sequence || this.open.has(key)) {
            this.suppressed++;
            continue;
          }
          const m = book.markets.get(p.market)!;
          const pmm = maintenanceMargin(notional(p.size, m.markPrice), m.schedule);
          orders.set(key, {
            id: `${p.account}-${p.market}-${p.sequence}`,
            side: p.size > 0 ? 'sell' : 'buy',
            quantity: Math.abs(p.size),
            limitPrice: fillablePrice(m.oraclePrice, p.size, pmm, g.equity, g.maintenance, c.bankruptcyAdjustment, c.spreadToMaintenanceMarginRatio),
            oraclePrice: m.oraclePrice,
            reason: g.market === null ? 'cross-maintenance' : 'isolated-maintenance',
            group: g,
          });
        }
      } else if (isMarginCall(g.equity, g.maintenance, c.marginCallHealth)) {
        calling.add(g.key);
        if (!this.warned.has(g.key)) calls.set(g.key, g);
      }
    }
    for (const [key, sequence] of [...this.issued]) {
      const [account, market] = key.split(':').map(Number) as [number, number];
      if (book.position(account, market)!.sequence !== sequence) this.issued.delete(key);
    }
    for (const [key, o] of orders) {
      this.issued.set(key, o.group.positions.find((p) => positionKey(p.account, p.market) === key)!.sequence);
      this.open.add(key);
    }
    this.warned = calling;
    return { result, orders, calls, groups: new Map(groups.map((g) => [g.key, g])), sequence: book.sequence };
  }
}

const close = (actual: number, expected: number, relative = 1e-9): boolean =>
  Math.abs(actual - expected) <= relative * Math.max(Math.abs(expected), Number.MIN_VALUE);

/** docs/domain.md section 7: |limit - oracle| / oracle descending, then notional descending, then account id, then market id. */
function compareOrders(x: LiquidationOrder, y: LiquidationOrder): number {
  return (
    underwaterness(y.limitPrice, y.oraclePrice) - underwaterness(x.limitPrice, x.oraclePrice) ||
    notional(y.quantity, y.oraclePrice) - notional(x.quantity, x.oraclePrice) ||
    x.account - y.account ||
    x.market - y.market
  );
}

type Policy = Required<Pick<EngineConfig, 'bankruptcyAdjustment' | 'spreadToMaintenanceMarginRatio' | 'marginCallHealth'>>;
const DEFAULTS: Policy = { bankruptcyAdjustment: 1, spreadToMaintenanceMarginRatio: 0.1, marginCallHealth: 1.2 };

/** label, scenario, scan workers, parameters, accounts trading while each epoch is in flight. */
const CASES: [string, ScenarioOptions, number, Policy, number][] = [
  ['300 accounts, default parameters', { seed: 11, accounts: 300 }, 2, DEFAULTS, 0],
  ['300 accounts, 1 scan worker, other parameters, trades during epochs', { seed: 3, accounts: 300 }, 1, { bankruptcyAdjustment: 1.5, spreadToMaintenanceMarginRatio: 0.25, marginCallHealth: 1.35 }, 5],
  // Several scan tasks per phase (the planner's smallest task: 16,384 slots, 4,096 accounts).
  ['8,000 accounts in several scan tasks, trades during epochs', { seed: 16, accounts: 8_000 }, 2, DEFAULTS, 20],
];

describe.each(CASES)('the engine against the reference, %s', (_label, options, scanWorkers, config, tradesInFlight) => {
  const epochs: Epoch[] = [];
  let reference: Reference;

  beforeAll(async () => {
    const scenario = generateScenario(options);
    reference = new Reference(config);
    // The reference closes whole positions (the sizing policy where every liquidatable group is an emergency) and
    // raises a margin call on each new stay below the level (a lifecycle without hysteresis or exit buffer). It
    // orders exactly the groups below maintenance: a target health a hair above 1 ends each liquidation there (the
    // engine keeps ordering a group until it is back at the target). It models the orders only: no order is screened
    // into a deleveraging (autoDeleverage off; test/engine-adl.test.ts does that).
    const book = await startScenario(scenario, {
      scanWorkers,
      sizing: { emergencyHealth: 1, targetHealth: 1 + 1e-12 },
      lifecycle: { marginCallHysteresis: 0, exitBuffer: 0 },
      autoDeleverage: false,
      ...config,
    });
    try {
      await runPath(book, scenario, { tradesPerStep: 10, tradesInFlight, onEpoch: (result, seen) => epochs.push(reference.epoch(seen, result)) });
    } finally {
      await book.engine.close();
    }
  });

  it('sees a crash that liquidates, warns, and leaves some orders unfilled', () => {
    expect(epochs.length).toBeGreaterThan(20);
    expect(epochs.reduce((n, e) => n + e.result.orders.length, 0)).toBeGreaterThan(10);
    expect(epochs.reduce((n, e) => n + e.result.marginCalls.length, 0)).toBeGreaterThan(0);
    expect(reference.suppressed).toBeGreaterThan(0);
    for (const e of epochs) expect(e.result.lastSequence).toBe(e.sequence);
  });

  it('orders exactly the non-zero positions of liquidatable groups not already ordered in the same state', () => {
    for (const e of epochs) {
      const actual = e.result.orders.map((o) => positionKey(o.account, o.market)).sort();
      expect(actual, `epoch ${e.result.epoch}`).toEqual([...e.orders.keys()].sort());
    }
  });

  it('never orders a position whose margin group is at or above its maintenance margin', () => {
    for (const e of epochs) {
      for (const o of e.result.orders) {
        const g = e.groups.get(o.reason === 'cross-maintenance' ? `${o.account}` : `${o.account}/${o.market}`);
        expect(g !== undefined && g.equity < g.maintenance, `${o.id} in epoch ${e.result.epoch}`).toBe(true);
      }
    }
  });

  it('names each order by account, market and position sequence, and closes the whole position on the right side', () => {
    for (const e of epochs) {
      for (const o of e.result.orders) {
        const x = e.orders.get(positionKey(o.account, o.market))!;
        expect({ id: o.id, side: o.side, quantity: o.quantity, oraclePrice: o.oraclePrice, reason: o.reason }).toEqual({
          id: x.id,
          side: x.side,
          quantity: x.quantity,
          oraclePrice: x.oraclePrice,
          reason: x.reason,
        });
      }
    }
  });

  it("prices each order at the reference fillable price and reports its group's equity, maintenance and health", () => {
    for (const e of epochs) {
      for (const o of e.result.orders) {
        const x = e.orders.get(positionKey(o.account, o.market))!;
        const where = `${o.id} in epoch ${e.result.epoch}`;
        expect(close(o.limitPrice, x.limitPrice), `${where}: limit ${o.limitPrice} vs ${x.limitPrice}`).toBe(true);
        expect(close(o.equity, x.group.equity) || Math.abs(o.equity - x.group.equity) < 1e-9, `${where}: equity`).toBe(true);
        expect(close(o.maintenanceMargin, x.group.maintenance), `${where}: maintenance`).toBe(true);
        expect(o.health).toBeLessThan(1);
        // The fill concedes from the oracle towards the bankruptcy side, never away from it (docs/domain.md section 2).
        expect((o.side === 'sell' ? o.oraclePrice - o.limitPrice : o.limitPrice - o.oraclePrice) >= -1e-12 * o.oraclePrice, where).toBe(true);
      }
    }
  });

  it('orders each epoch most underwater first, then larger notional, then account id, then market id', () => {
    let compared = 0;
    for (const e of epochs) {
      const orders = e.result.orders;
      for (let i = 1; i < orders.length; i++, compared++) {
        expect(compareOrders(orders[i - 1]!, orders[i]!), `epoch ${e.result.epoch}: ${orders[i - 1]!.id} before ${orders[i]!.id}`).toBeLessThan(0);
      }
    }
    expect(compared).toBeGreaterThan(10);
  });

  it('raises a margin call for exactly the groups that newly fell between health 1 and the margin-call level', () => {
    for (const e of epochs) {
      expect(e.result.marginCalls.map(callKey).sort(), `epoch ${e.result.epoch}`).toEqual([...e.calls.keys()].sort());
      for (const c of e.result.marginCalls) {
        const g = e.calls.get(callKey(c))!;
        expect(close(c.health, health(g.equity, g.maintenance), 1e-9), `call ${callKey(c)}`).toBe(true);
      }
      const healths = e.result.marginCalls.map((c) => c.health);
      expect(healths).toEqual([...healths].sort((x, y) => x - y));
    }
  });
});
