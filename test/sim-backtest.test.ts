/**
 * The venue-backed matching engine (src/sim/matching.ts), the backtest (src/sim/backtest.ts) and the embedded demo
 * on them: fills never beyond an order's limit and always taken by the engine, every liquidation flat or reported
 * as left, shortfall as defined, the backstop vault's takeovers counted as fills with money conserved, participation
 * caps held against the reported depth, the share filled below the emergency health as the orders say, the same
 * report and table for the same seeds, and a demo journal that replays to the live digest (the built CLI, as CI
 * runs it).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type LiquidationOrder, type Takeover } from '../src/index.js';
import type { Fill } from '../src/clearing/open-orders.js';
import { formatBacktest, LATENCY_US, PARTICIPATION_CAP, runBacktest, runOnce, scenarioOf, STRATEGY_KINDS, T0 } from '../src/sim/backtest.js';
import { PARTICIPATION_BAND, VenueMatching, type MatchingStep } from '../src/sim/matching.js';
import { ExecutionTally, implementationShortfall } from '../src/sim/tally.js';
import { VAULT_ACCOUNT, VAULT_SHARE } from '../src/sim/world.js';
import { runCli } from './support/cli.js';
import { bookParamsFor, flashCrashPath, Venue } from '../src/sim/venue/index.js';

const SECOND = 1_000_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const cli = runCli;

describe('implementation shortfall', () => {
  it('is sign x (arrival - price) x quantity over arrival x quantity, in basis points', () => {
    // A sell from an arrival mark of 100: 2 at 99 and 1 at 98 cost 2 + 2 = 4 quote on 300 of arrival notional.
    const sell = implementationShortfall('sell', 100, [
      { price: 99, quantity: 2 },
      { price: 98, quantity: 1 },
    ]);
    expect(sell.cost).toBe(4);
    expect(sell.notional).toBe(300);
    expect(sell.bps).toBeCloseTo((1e4 * 4) / 300, 12);
    // A buy from 50: 2 at 50.5 cost 1 quote on 100; a sell above its arrival mark is a gain (negative shortfall).
    expect(implementationShortfall('buy', 50, [{ price: 50.5, quantity: 2 }]).bps).toBeCloseTo(100, 12);
    expect(implementationShortfall('sell', 100, [{ price: 101, quantity: 1 }]).bps).toBeCloseTo(-100, 12);
    expect(implementationShortfall('sell', 100, []).bps).toBe(0);
  });

  it('of a one-account liquidation on the venue, is what its fills and its first order say', async () => {
    const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
    // Closes whole once liquidatable (emergency health 1), so that one parent takes the position to flat.
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 2, positions: 2 }, sizing: { emergencyHealth: 1 } });
    try {
      engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 60_000, tiers: TIERS });
      engine.depositInsurance(0, 1e6);
      engine.addAccount(1, 100_000); // 10 BTC long, maintenance 10%: liquidatable below 55,556, 7.4% down
      engine.upsertPosition({ account: 1, market: 0, size: 10, entryPrice: 60_000 });
      const venue = new Venue({
        seed: 5,
        latencyUs: LATENCY_US,
        startUs: T0,
        markets: [{ id: 0, path: flashCrashPath({ seed: 5, startPrice: 60_000, drop: 0.2, sigma: 0, recoverShare: 0 }), book: bookParamsFor(60_000) }],
      });
      const matching = new VenueMatching(engine, venue);
      const tally = new ExecutionTally(engine);
      const orders: { order: LiquidationOrder; sentUs: number }[] = [];
      const fills: Fill[] = [];
      for (let k = 0; k <= 300; k++) {
        tally.at(T0 + k * SECOND);
        const s = await matching.step(T0 + k * SECOND);
        expect(s.refused).toEqual([]);
        fills.push(...s.fills);
        for (const c of s.children) tally.child(c);
        orders.push(...s.children.map((c) => ({ order: c.order, sentUs: c.submittedUs })));
      }
      expect(orders.length).toBeGreaterThan(0);
      expect(fills.length).toBeGreaterThan(1);
      // Partial fills lift the group above health 1.02 (a margin call) and the falling price liquidates it again:
      // each liquidation is a parent, whose arrival mark is the mark of its first order, and whose fills are those
      // of the orders sent from its start on.
      const parents = tally.parents;
      expect(parents.length).toBeGreaterThan(1);
      expect(parents.slice(0, -1).every((p) => p.end === 'restored')).toBe(true);
      let cost = 0;
      let notional = 0;
      parents.forEach((p, i) => {
        const next = parents[i + 1]?.startUs ?? Infinity;
        const mine = orders.filter((o) => o.sentUs >= p.startUs && o.sentUs < next);
        expect(mine[0]!.order.oraclePrice).toBe(p.arrivalMark);
        const ids = new Set(mine.map((o) => o.order.id));
        const x = implementationShortfall('sell', p.arrivalMark, fills.filter((f) => ids.has(f.orderId)));
        cost += x.cost;
        notional += x.notional;
      });
      const summary = tally.summary(() => venue.mid(0));
      expect(summary.shortfallBps).toBeCloseTo((1e4 * cost) / notional, 9);
      expect(summary.shortfallCost).toBeCloseTo(cost, 6);
      expect(summary).toMatchObject({ parents: parents.length, childOrders: orders.length });
      // What is left is reported: near health 1 the fillable price sits inside the thin book's spread and no longer fills.
      const size = engine.account(1).positions[0]?.size ?? 0;
      expect(summary.left).toBe(size === 0 ? 0 : 1);
      expect(summary.leftNotional).toBeCloseTo(size * venue.mid(0), 6);
      expect(cost).toBeGreaterThan(0); // sold into a falling book, below the arrival marks
    } finally {
      await engine.close();
    }
  });
});

describe('venue-backed matching', () => {
  it('never fills beyond an order limit, and the engine takes every fill and expiry (no INVALID_FILL)', async () => {
    const steps: MatchingStep[] = [];
    let settled = 0;
    await runOnce(scenarioOf('cascade'), 'twap', 3, 400, { onStep: (s) => steps.push(s) });
    const children = new Map(steps.flatMap((s) => s.children.map((c) => [c.order.id, c] as const)));
    const executions = steps.flatMap((s) => s.executions);
    expect(executions.length).toBeGreaterThan(100);
    for (const x of executions) {
      const c = children.get(String(x.clientId))!;
      expect(x.executedUs).toBe(c.submittedUs + LATENCY_US);
      expect(x.limitPrice).toBe(c.order.limitPrice);
      expect(x.quantity).toBe(c.order.quantity);
      for (const level of x.fills) {
        if (x.side === 'sell') expect(level.price).toBeGreaterThanOrEqual(c.order.limitPrice);
        else expect(level.price).toBeLessThanOrEqual(c.order.limitPrice);
      }
    }
    const fills = steps.flatMap((s) => s.fills);
    for (const f of fills) {
      const o = children.get(f.orderId)!.order;
      if (o.side === 'sell') expect(f.price).toBeGreaterThanOrEqual(o.limitPrice);
      else expect(f.price).toBeLessThanOrEqual(o.limitPrice);
      expect(f.quantity).toBeLessThanOrEqual(o.quantity);
      settled++;
    }
    expect(settled).toBeGreaterThan(50);
    expect(steps.flatMap((s) => s.refused)).toEqual([]);
    // An order either filled whole or had its rest expired, and the engine then ordered again under a new id.
    expect(steps.flatMap((s) => s.expired).length).toBeGreaterThan(0);
  });

  it('feeds our fills into the venue: the mid after our sells is lower than before', async () => {
    const drops: number[] = [];
    await runOnce(scenarioOf('flash-crash'), 'ioc', 1, 300, {
      onStep: (s) => {
        for (const x of s.executions) if (x.filled > 0 && x.side === 'sell') drops.push(x.midBefore - x.midAfter);
      },
    });
    expect(drops.length).toBeGreaterThan(0);
    for (const d of drops) expect(d).toBeGreaterThan(0);
  });
});

describe('backtest', () => {
  it('every strategy ends flat or reports what is left, and the engine agrees', async () => {
    for (const kind of STRATEGY_KINDS) {
      let checked = false;
      const { metrics } = await runOnce(scenarioOf('gbm'), kind, 2, 300, {
        onEnd: (engine, tally) => {
          const latest = new Map<string, (typeof tally.parents)[number]>();
          for (const p of tally.parents) latest.set(`${p.account}:${p.market}`, p);
          for (const p of latest.values()) {
            const size = engine.account(p.account).positions.find((x) => x.market === p.market)?.size ?? 0;
            if (p.end === 'flat') expect(size, `${kind}: parent ${p.account}:${p.market} ended flat`).toBe(0);
            if (p.end === undefined) {
              expect(size, `${kind}: parent ${p.account}:${p.market} is left open`).not.toBe(0);
              expect(size).toBeCloseTo(p.size, 9);
            }
          }
          checked = true;
        },
      });
      expect(checked).toBe(true);
      expect(metrics.parents, kind).toBe(metrics.flat + metrics.restored + metrics.left);
      expect(metrics.left > 0, kind).toBe(metrics.leftNotional > 0);
      expect(metrics.refused, kind).toBe(0);
      // A parent starts with a child order, or with a takeover by the vault.
      expect(metrics.childOrders + metrics.takeovers).toBeGreaterThanOrEqual(metrics.parents);
    }
  });

  it('is deterministic: the same seeds give the same JSON and table, another seed other numbers', async () => {
    const options = { scenarios: ['flash-crash'], strategies: ['ioc', 'disposal', 'backstop'] as const, seeds: 2, accounts: 300 };
    const a = await runBacktest(options);
    const b = await runBacktest(options);
    expect(JSON.stringify(b.report)).toBe(JSON.stringify(a.report));
    expect(formatBacktest(b.report)).toBe(formatBacktest(a.report));
    const c = await runBacktest({ ...options, firstSeed: 9 });
    expect(JSON.stringify(c.report.scenarios)).not.toBe(JSON.stringify(a.report.scenarios));
    expect(formatBacktest(c.report)).not.toBe(formatBacktest(a.report));
    const results = a.report.scenarios[0]!.results;
    expect(results.map((r) => r.strategy)).toEqual(['ioc', 'disposal', 'backstop']);
    expect(results[0]!.shortfallVersusIoc).toEqual({ mean: 0, min: 0, max: 0, stddev: 0 });
    const vs = results[1]!.runs.map((r, i) => r.shortfallBps - results[0]!.runs[i]!.shortfallBps);
    expect(results[1]!.shortfallVersusIoc!.mean).toBeCloseTo((vs[0]! + vs[1]!) / 2, 12);
    expect(a.series.get('flash-crash')!.get('ioc')!.tS.length).toBeGreaterThan(300);
  });

  it('reports the share of the filled notional ordered below the emergency health, as the orders and takeovers say', async () => {
    // A backstop run in the cascade has both: takeovers, and the vault's own liquidation on the book once it is full.
    for (const [kind, scenario] of [['twap', 'flash-crash'], ['backstop', 'cascade']] as const) {
      const health = new Map<string, number>();
      const takeovers: Takeover[] = [];
      let emergency = 0;
      let total = 0;
      const { metrics } = await runOnce(scenarioOf(scenario), kind, 2, 300, {
        onStart: (engine) => engine.onTakeover((t) => takeovers.push(t)),
        onStep: (s) => {
          // This step's fills are of orders sent at earlier steps; its takeovers were decided and landed in it.
          for (const f of s.fills) {
            total += f.quantity * f.price;
            if (health.get(f.orderId)! < 2 / 3) emergency += f.quantity * f.price;
          }
          for (const c of s.children) health.set(c.order.id, c.order.health);
          const decided = new Map(s.epoch.takeovers.map((o) => [o.id, o.health]));
          for (const t of takeovers.splice(0)) {
            total += t.settlement.closed * t.price;
            if (decided.get(t.id)! < 2 / 3) emergency += t.settlement.closed * t.price;
          }
        },
      });
      expect(emergency, kind).toBeGreaterThan(0);
      expect(emergency, kind).toBeLessThan(total);
      expect(metrics.emergencyShare, kind).toBeCloseTo(emergency / total, 12);
      if (kind === 'backstop') expect(metrics.takeovers * metrics.childOrders).toBeGreaterThan(0);
    }
  });

  it('counts deleveragings: an account the fund cannot pay for is closed against the ADL queue', async () => {
    const TIERS = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
    const engine = await Engine.start({ scanWorkers: 0, autoEpoch: false, capacity: { markets: 1, accounts: 4, positions: 4 }, autoDeleverage: false });
    try {
      engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: TIERS });
      engine.addAccount(1, 6_000);
      engine.upsertPosition({ account: 1, market: 0, size: 1, entryPrice: 50_000 });
      engine.addAccount(2, 40_000);
      engine.upsertPosition({ account: 2, market: 0, size: -1, entryPrice: 60_000 });
      const tally = new ExecutionTally(engine);
      await engine.step();
      engine.pushPrice(0, 44_000); // account 1's equity is 0: bankrupt at 44,000
      tally.at(T0);
      const [order] = (await engine.step()).orders;
      expect(order?.account).toBe(1);
      tally.child({ order: order!, submittedUs: T0, participation: 0 });
      engine.expire(order!.id);
      engine.deleverage(1, 0);
      await engine.step();
      const s = tally.summary(() => 44_000);
      expect(s).toMatchObject({ adlCount: 1, adlNotional: 44_000, parents: 1, flat: 1, left: 0 });
    } finally {
      await engine.close();
    }
  });
});

describe('the backstop vault', () => {
  it('takes liquidations off the book, each counted as a fill, with the vault in the figures and money conserved', async () => {
    const takeovers: Takeover[] = [];
    const settled = { notional: 0, cover: 0 };
    let ledgerTotal: bigint | undefined;
    let vault: { collateral: number; equity: number } | undefined;
    let bookNotional = 0;
    const { metrics } = await runOnce(scenarioOf('flash-crash'), 'backstop', 1, 300, {
      onStart: (engine) => {
        engine.onTakeover((t) => takeovers.push(t));
        engine.onFill((f) => {
          settled.notional += f.closed * f.price;
          settled.cover += f.insuranceCover;
        });
        vault = { collateral: engine.account(VAULT_ACCOUNT).collateral, equity: 0 };
      },
      onEnd: (engine, tally, book) => {
        ledgerTotal = engine.ledger.total();
        vault = { ...vault!, equity: engine.account(VAULT_ACCOUNT).equity };
        for (const a of book) for (const p of a.positions) bookNotional += Math.abs(p.size) * p.entryPrice;
        // A takeover opens a parent when no child did: its shortfall counts against the mark it was decided at.
        expect(tally.parents.some((p) => p.children === 0 && p.fills.length > 0)).toBe(true);
      },
    });
    expect(ledgerTotal).toBe(0n);
    expect(takeovers.length).toBeGreaterThan(10);
    expect(takeovers.every((t) => t.vault === VAULT_ACCOUNT)).toBe(true);
    expect(metrics.takeovers).toBe(takeovers.length);
    const taken = takeovers.reduce((sum, t) => sum + t.settlement.closed * t.price, 0);
    expect(metrics.vaultTaken).toBeCloseTo(taken, 6);
    // The account's side of a takeover is a fill: in the notional, and in the fund's draw past bankruptcy.
    expect(metrics.notionalFilled).toBeCloseTo(settled.notional + taken, 6);
    expect(metrics.insuranceDraw).toBeCloseTo(settled.cover + takeovers.reduce((sum, t) => sum + t.settlement.insuranceCover, 0), 6);
    // The vault starts with VAULT_SHARE of the book's notional and ends with what its positions are worth at the mids.
    expect(vault!.collateral).toBeCloseTo(VAULT_SHARE * bookNotional, 1);
    expect(metrics.vaultPnl).toBeCloseTo(vault!.equity - vault!.collateral, 6);
    expect(metrics.vaultPnl).not.toBe(0);
    expect(metrics.refused).toBe(0);
  });

  it('has its columns in the table where a strategy uses it, and only there', async () => {
    const { report } = await runBacktest({ scenarios: ['flash-crash'], strategies: ['ioc', 'backstop'], seeds: 1, accounts: 200 });
    const backstop = report.scenarios[0]!.results[1]!.runs[0]!;
    expect(backstop.vaultTaken).toBeGreaterThan(0);
    expect(report.scenarios[0]!.results[0]!.runs[0]!.vaultTaken).toBe(0);
    expect(report.settings.vault.account).toBe(VAULT_ACCOUNT);
    const table = formatBacktest(report);
    const head = table.split('\n').find((l) => l.startsWith('strategy'))!;
    expect(head).toMatch(/vault took +vault PnL$/);
    expect(head).toContain('filled below emerg.');
    const without = await runBacktest({ scenarios: ['flash-crash'], strategies: ['ioc'], seeds: 1, accounts: 200 });
    expect(formatBacktest(without.report)).not.toContain('vault took');
  });
});

describe('participation caps', () => {
  it('a capped child never takes more than its cap of the depth the venue reported; uncapped ones do', async () => {
    const over = async (kind: 'disposal' | 'disposal-capped' | 'twap-capped'): Promise<{ over: number; atCap: number; children: number }> => {
      const r = { over: 0, atCap: 0, children: 0 };
      // Seed 2: on seed 1, at dYdX mainnet's fillable price (SMMR 1.5) no uncapped child above the emergency health
      // took more than the cap, so the cap would have had nothing to hold back.
      await runOnce(scenarioOf('flash-crash'), kind, 2, 300, {
        onStep: (s, venue) => {
          // The venue has not moved since the matching reported its depth for this epoch (engine.pushDepth).
          for (const c of s.children) {
            if (c.order.health < 2 / 3) continue; // an emergency close is whole, whatever the cap
            const depth = venue.bookVolume(c.order.market, c.order.side === 'sell' ? 'bid' : 'ask', PARTICIPATION_BAND);
            expect(c.bookVolume).toBe(depth);
            r.children++;
            if (c.order.quantity > PARTICIPATION_CAP * depth * (1 + 1e-9)) r.over++;
            if (c.order.quantity > 0.99 * PARTICIPATION_CAP * depth) r.atCap++;
          }
        },
      });
      return r;
    };
    const uncapped = await over('disposal');
    expect(uncapped.over).toBeGreaterThan(0);
    const capped = await over('disposal-capped');
    expect(capped.children).toBeGreaterThan(50);
    expect(capped.over).toBe(0);
    expect(capped.atCap).toBeGreaterThan(0); // the cap binds
    expect((await over('twap-capped')).over).toBe(0);
  });
});

describe('the CLI', () => {
  it('runs the embedded demo on the venue with a journal that replays to the same digest', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'unwind-demo-')), 'journal');
    dirs.push(join(dir, '..'));
    const live = await cli('demo', '--embedded', '--accounts', '2000', '--steps', '40', '--print', '0', '--journal', dir);
    expect(live.stderr).toBe('');
    expect(live.status).toBe(0);
    for (const line of ['order stream sha256', 'output sha256', 'journal ', 'execution ', 'bad debt left', 'deficits open']) {
      expect(live.stdout).toMatch(new RegExp(`^${line}`, 'm'));
    }
    expect(live.stdout).toMatch(/ 0 fills refused/);
    const digest = /^output sha256\s+([0-9a-f]{64})$/m.exec(live.stdout)?.[1];
    expect(digest).toBeDefined();
    const replayed = await cli('replay', dir, '--workers', '2', '--json');
    expect(replayed.status).toBe(0);
    expect(JSON.parse(replayed.stdout).outputDigest).toBe(digest);
  });

  it('prints a backtest as one JSON object, writes its SVG, and refuses an unknown strategy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unwind-backtest-'));
    dirs.push(dir);
    const svg = join(dir, 'backtest.svg');
    const run = await cli('backtest', '--scenario', 'flash-crash', '--strategies', 'ioc,twap', '--seeds', '1', '--accounts', '200', '--json', '--svg', svg);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.scenarios.map((s: { name: string }) => s.name)).toEqual(['flash-crash']);
    expect(report.scenarios[0].results.map((r: { strategy: string }) => r.strategy)).toEqual(['ioc', 'twap']);
    expect(report.scenarios[0].results[0].stats.shortfallBps).toHaveProperty('stddev');
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg ')).toBe(true);
    expect(text).toContain('<polyline');
    const bad = await cli('backtest', '--strategies', 'vwap');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('INVALID_CONFIG');
  });
});
