/** `unwind check` as a user runs it: a real child process over real scenario files. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'unwind-check-'));

function check(scenario: unknown): { status: number | null; stdout: string; stderr: string } {
  const file = join(dir, `s${Math.abs(JSON.stringify(scenario).length)}-${Object.keys(scenario as object).length}.json`);
  writeFileSync(file, typeof scenario === 'string' ? scenario : JSON.stringify(scenario));
  const r = spawnSync(process.execPath, [CLI, 'check', file, '--compact'], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const BTC_10 = [{ maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 }];
const ISSUE_TIERS = [
  { maxNotional: 250000, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
  { maxNotional: null, initialMarginFraction: 0.05, maintenanceMarginFraction: 0.025 },
];

/** docs/domain.md section 2's worked case: 0.1 BTC long at oracle 50,000, MMR 10%, quote balance -4,501. */
function workedCase(collateral: number, extra: object = {}): object {
  return {
    markets: [{ id: 0, symbol: 'BTC-USD', price: 50000, tiers: BTC_10 }],
    accounts: [{ id: 7, collateral: collateral + 5000, positions: [{ market: 0, size: 0.1, entryPrice: 50000, isolatedCollateral: null }] }],
    config: { bankruptcyAdjustment: 1, spreadToMaintenanceMarginRatio: 0.1, marginCallHealth: 1.2 },
    ...extra,
  };
}

describe('unwind check', () => {
  it('accepts the issue example and reports every number with the liquidation price from the tiers', () => {
    const r = check({
      markets: [{ id: 0, symbol: 'BTC-USD', price: 50000, tiers: ISSUE_TIERS, note: 'extra fields are allowed' }],
      accounts: [{ id: 1, collateral: 499, positions: [{ market: 0, size: 0.1, entryPrice: 50000, isolatedCollateral: null }] }],
      config: { bankruptcyAdjustment: 1, spreadToMaintenanceMarginRatio: 0.1, marginCallHealth: 1.2 },
    });
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    const a = report.accounts[0];
    expect(a).toMatchObject({ id: 1, equity: 499, initialMargin: 100, maintenanceMargin: 50, liquidatable: false });
    expect(a.health).toBeCloseTo(9.98, 12);
    // 499 + 0.1 (p - 50,000) = 0.1 p * 1%  =>  p = 4,501 / 0.099
    expect(a.positions[0].liquidationPrice).toBeCloseTo(4501 / 0.099, 8);
    expect(a.positions[0].bankruptcyPrice).toBeCloseTo(45010, 8);
    expect(a.positions[0].fillablePrice).toBe(50000);
    expect(report.orders).toEqual([]);
  });

  it('reproduces the fillable price 49,999 of the worked case and closes a part: what restores health 1.05, at least the minimum order', () => {
    const r = check(workedCase(-4501));
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.accounts[0]).toMatchObject({ equity: 499, maintenanceMargin: 500, liquidatable: true });
    expect(report.orders).toHaveLength(1);
    expect(report.orders[0]).toMatchObject({ account: 7, market: 0, side: 'sell', reason: 'cross-maintenance' });
    expect(report.orders[0].limitPrice).toBeCloseTo(49999, 9);
    // Selling q at 49,999 (the fee at its 1.5% cap, below k = 0.5 of the 10% margin released) must leave
    // (499 - q x 1 - 0.015 x q x 49,999) >= 1.05 x 5,000 x (0.1 - q): q >= 26 / (5,250 - 1 - 749.985) = 0.0057787...,
    // 289 quote: below the minimum order of 1,000 quote, so the order is 1,000 / 50,000 = 0.02 (dYdX's
    // min_position_notional_liquidated); 5,000 x 0.08 > 1,000 stays open.
    expect(report.orders[0]).toMatchObject({ quantity: 0.02, closes: 'partial' });
    expect(report.config.sizing).toMatchObject({ targetHealth: 1.05, minNotional: 1000, minOrderNotional: 1000, emergencyHealth: 2 / 3 });
    expect(report.config.fees).toMatchObject({ maxFeeFraction: 0.015, maxMaintenanceShare: 0.5 });
    const scenario = workedCase(-4501) as { config: object };
    const exact = JSON.parse(check({ ...scenario, config: { ...scenario.config, sizing: { minOrderNotional: 0 } } }).stdout);
    expect(exact.orders[0].quantity).toBeCloseTo(26 / (5250 - 1 - 0.015 * 49999), 9);
  });

  it('closes the whole position under a sizing policy where every liquidatable group is an emergency', () => {
    const scenario = workedCase(-4501) as { config: object };
    const report = JSON.parse(check({ ...scenario, config: { ...scenario.config, sizing: { emergencyHealth: 1 } } }).stdout);
    // Filled whole at 49,999: the surplus over the bankruptcy value 4,501 is 498.9, the fee its cap 74.9985.
    expect(report.orders[0]).toMatchObject({ quantity: 0.1, limitPrice: 49999, fee: 74.9985, insuranceDraw: 0, deficit: 0, realizedPnl: -0.1 });
    expect(report.capped).toEqual([]);
  });

  it('plans the deficit of a bankrupt account: at 49,500 with no equity the gap to the bankruptcy value is 50, and no fund', () => {
    const scenario = workedCase(-5000) as { config: object };
    const report = JSON.parse(check({ ...scenario, config: { ...scenario.config, sizing: { emergencyHealth: 1 } } }).stdout);
    expect(report.orders[0]).toMatchObject({ limitPrice: 49500, fee: 0, insuranceDraw: 0, deficit: 50 });
    expect(report.orders[0].adl).toEqual([]); // nobody holds the other side
  });

  it('deleverages a bankrupt position the empty fund cannot pay instead of ordering it, in queue order at its bankruptcy price', () => {
    const r = check({
      markets: [{ id: 0, symbol: 'BTC-USD', price: 50000, tiers: BTC_10 }],
      accounts: [
        { id: 7, collateral: 0, positions: [{ market: 0, size: 0.1, entryPrice: 50000, isolatedCollateral: null }] },
        { id: 8, collateral: 100000, positions: [{ market: 0, size: -0.05, entryPrice: 60000, isolatedCollateral: null }] },
        { id: 9, collateral: 100000, positions: [{ market: 0, size: -1, entryPrice: 50000, isolatedCollateral: null }] },
      ],
      config: { sizing: { emergencyHealth: 1 } },
    });
    const report = JSON.parse(r.stdout);
    expect(report.orders.find((o: { account: number }) => o.account === 7)).toBeUndefined();
    // Bankruptcy price 50,000 - 0 / 0.1; account 8 (in profit) ranks first and gives its 0.05, account 9 the rest.
    expect(report.deleveragings).toHaveLength(1);
    expect(report.deleveragings[0]).toMatchObject({ account: 7, market: 0, orderId: expect.stringMatching(/^7-0-/), bankruptcyPrice: 50000, matched: 0.1, remainder: 0 });
    expect(report.deleveragings[0].counterparties.map((c: { account: number; quantity: number }) => [c.account, c.quantity])).toEqual([
      [8, 0.05],
      [9, 0.05],
    ]);
    // The report's accounts are the plan's starting point: account 7 still holds its position there.
    expect(report.accounts[0].positions[0].size).toBe(0.1);
  });

  it('plans the issue example: collateral -500, 0.1 BTC long at 50,000, 10% maintenance: deleverage 0.1 at 55,000', () => {
    const r = check({
      markets: [{ id: 0, symbol: 'BTC-USD', price: 50000, tiers: BTC_10 }],
      accounts: [
        { id: 1, collateral: -500, positions: [{ market: 0, size: 0.1, entryPrice: 50000, isolatedCollateral: null }] },
        { id: 2, collateral: 10000, positions: [{ market: 0, size: -0.1, entryPrice: 50000, isolatedCollateral: null }] },
      ],
    });
    const report = JSON.parse(r.stdout);
    expect(report.orders).toEqual([]);
    expect(report.deleveragings[0]).toMatchObject({ account: 1, bankruptcyPrice: 55000, matched: 0.1, absorbed: 500 });
  });

  it('concedes to 49,500 when equity is gone', () => {
    const report = JSON.parse(check(workedCase(-5000)).stdout);
    expect(report.orders[0].limitPrice).toBeCloseTo(49500, 9);
  });

  it('raises a margin call between health 1 and the margin-call level', () => {
    const report = JSON.parse(check(workedCase(-4450)).stdout); // equity 550, health 1.1
    expect(report.orders).toEqual([]);
    expect(report.marginCalls).toHaveLength(1);
    expect(report.marginCalls[0]).toMatchObject({ account: 7, market: null });
    expect(report.marginCalls[0].health).toBeCloseTo(1.1, 12);
  });

  it.each([
    [{ markets: [], accounts: 'x' }, 'accounts'],
    [{ markets: [{ id: 0, price: 'high', tiers: BTC_10 }], accounts: [] }, 'markets[0].price'],
    [{ markets: [{ id: 0, price: 1, tiers: [{ maxNotional: null, initialMarginFraction: 0.1, maintenanceMarginFraction: 2 }] }], accounts: [] }, 'markets[0].tiers[0].maintenanceMarginFraction'],
    [{ markets: [{ id: 0, price: 1, tiers: BTC_10 }], accounts: [{ id: 1, collateral: 1, positions: [{ market: 0, size: 1, entryPrice: 1 }] }] }, 'accounts[0].positions[0].isolatedCollateral'],
    [{ markets: [{ id: 0, price: 1, tiers: BTC_10 }], accounts: [{ id: 1, collateral: 1, positions: [{ market: 5, size: 1, entryPrice: 1, isolatedCollateral: null }] }] }, 'accounts[0].positions[0].market'],
    [{ markets: [{ id: 0, price: 1, tiers: BTC_10 }], accounts: [{ id: 1, collateral: 'lots', positions: [] }] }, 'accounts[0].collateral'],
    [{ markets: [], accounts: [], config: { marginCallHealth: 0.9 } }, 'config.marginCallHealth'],
  ])('exits non-zero naming the bad field (%#)', (scenario, field) => {
    const r = check(scenario);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(field);
  });

  it('exits non-zero on a file that is not JSON', () => {
    const r = check('{ not json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('INVALID_SCENARIO');
  });

  it('reports each position\'s ADL rank: pnl% x effective leverage in profit, pnl% / leverage at a loss', () => {
    const r = check({
      markets: [{ id: 0, symbol: 'BTC-USD', price: 55000, tiers: BTC_10 }],
      accounts: [
        { id: 1, collateral: 499, positions: [{ market: 0, size: 0.1, entryPrice: 50000, isolatedCollateral: null }] },
        { id: 2, collateral: 2000, positions: [{ market: 0, size: -0.1, entryPrice: 50000, isolatedCollateral: null }] },
      ],
    });
    expect(r.status).toBe(0);
    const [long, short] = JSON.parse(r.stdout).accounts.map((a: { positions: { adlRank: number }[] }) => a.positions[0]!.adlRank);
    // Long: pnl% 500 / 5,000 = 0.1; equity 999; leverage 5,500 / 999. Short: pnl% -0.1; equity 1,500; leverage 5,500 / 1,500.
    expect(long).toBeCloseTo(0.1 * (5500 / 999), 12);
    expect(short).toBeCloseTo(-0.1 / (5500 / 1500), 12);
  });
});
