/** The exact ledger: atoms, all-or-none transfers, and liquidation settlement that neither creates nor destroys value. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entry, Ledger, signedTransfer } from '../src/ledger/ledger.js';
import { Money } from '../src/ledger/money.js';
import { DEFAULT_FEE_POLICY } from '../src/config-types.js';
import { fundEntry, settleClose, type CloseToSettle } from '../src/ledger/settle.js';

const money = new Money(6);
const SEED = 0x1ed9e7;

/** docs/domain.md section 2's worked case: 0.1 BTC long at 50,000, MMR 10% (PMMR 500), TNC 499, closed whole. */
const worked: CloseToSettle = {
  account: 7,
  market: 0,
  isolated: false,
  size: 0.1,
  entryPrice: 50_000,
  quantity: 0.1,
  price: 49_999,
  oraclePrice: 50_000,
  maintenanceReleased: 500,
  equity: 499,
  totalMaintenance: 500,
};

describe('money in atoms', () => {
  it.each([
    [1.5, 1_500_000n, 1_500_000n, 1_500_000n],
    [0.0000014, 1n, 2n, 1n],
    [-0.0000014, -2n, -1n, -1n],
    [-2.5e-6, -3n, -2n, -3n],
  ])('converts %f quote to floor %d, ceil %d, nearest %d atoms', (quote, floor, ceil, round) => {
    expect(money.floor(quote)).toBe(floor);
    expect(money.ceil(quote)).toBe(ceil);
    expect(money.round(quote)).toBe(round);
  });

  it('reads atoms back as quote units exactly for amounts below 2^53 atoms', () => {
    expect(money.toQuote(123_456_789n)).toBe(123.456789);
    expect(money.toQuote(-1n)).toBe(-0.000001);
  });

  it('refuses non-finite amounts', () => {
    expect(() => money.floor(Number.NaN)).toThrow(RangeError);
    expect(() => money.round(Infinity)).toThrow(RangeError);
  });
});

describe('the ledger', () => {
  it('moves value between entries and keeps the sum of all entries at zero', () => {
    const l = new Ledger();
    l.apply([{ from: entry.external, to: entry.account(1), atoms: 5_000_000n, reason: 'deposit' }]);
    l.apply(signedTransfer(entry.clearing(0), entry.account(1), -1_250_000n, 'realized-pnl'));
    expect(l.balance(entry.account(1))).toBe(3_750_000n);
    expect(l.balance(entry.clearing(0))).toBe(1_250_000n);
    expect(l.total()).toBe(0n);
  });

  it('applies a batch all or none: one bad transfer leaves every balance as it was', () => {
    const l = new Ledger();
    l.apply([{ from: entry.external, to: entry.account(1), atoms: 10n, reason: 'deposit' }]);
    expect(() =>
      l.apply([
        { from: entry.account(1), to: entry.fund(0), atoms: 4n, reason: 'liquidation-fee' },
        { from: entry.account(1), to: entry.fund(0), atoms: 0n, reason: 'liquidation-fee' },
      ]),
    ).toThrow(/atoms > 0/);
    expect(l.entries()).toEqual([
      ['account:1', 10n],
      ['external', -10n],
    ]);
    expect(l.transferCount).toBe(1);
  });
});

describe('settling a liquidation fill', () => {
  it('charges the surplus over the bankruptcy value as a fee, capped at 1.5% of the closed notional (docs/domain.md section 2)', () => {
    const s = settleClose(worked, DEFAULT_FEE_POLICY, 0n, money);
    // BV = 5,000 - 499 x 500 / 500 = 4,501; fill value 4,999.9; surplus 498.9; cap 0.015 x 4,999.9 = 74.9985.
    expect(s.bankruptcyValue).toBe(4501);
    expect(s.surplus).toBeCloseTo(498.9, 9);
    expect(s.fee).toBe(74_998_500n);
    expect(s.realizedPnl).toBe(-100_000n); // 0.1 x (49,999 - 50,000)
    expect(s.insuranceCover).toBe(0n);
    expect(s.deficit).toBe(0n);
    expect(s.transfers).toEqual([
      { from: 'account:7', to: 'clearing:0', atoms: 100_000n, reason: 'realized-pnl' },
      { from: 'account:7', to: 'fund:0', atoms: 74_998_500n, reason: 'liquidation-fee' },
    ]);
  });

  it('caps the fee at k = 0.5 of the maintenance margin the close releases, leaving the rest with the account so that health rises', () => {
    // 1% maintenance: TMMR 50, TNC 49.9 (h = 0.998). Half the position at 49,999.95: BV = 2,500 - 49.9 x 25 / 50 = 2,475.05,
    // fill value 2,499.9975, surplus 24.9475; k x |DMMR| = 12.5 binds below the surplus and the cap 37.4999625.
    const small = { ...worked, quantity: 0.05, price: 49_999.95, maintenanceReleased: 25, equity: 49.9, totalMaintenance: 50 };
    const s = settleClose(small, DEFAULT_FEE_POLICY, 0n, money);
    expect(s.surplus).toBeCloseTo(24.9475, 9);
    expect(s.fee).toBe(12_500_000n);
    // Health after: (49.9 - 0.0025 - 12.5) / 25 = 1.49590 > 0.998; a fee of the whole surplus would leave it at 0.998.
    const after = (49.9 - 0.05 * 0.05 - money.toQuote(s.fee)) / 25;
    expect(after).toBeGreaterThan(49.9 / 50);
    const whole = settleClose(small, { ...DEFAULT_FEE_POLICY, maxMaintenanceShare: Infinity, maxFeeFraction: 1 }, 0n, money);
    expect((49.9 - 0.05 * 0.05 - money.toQuote(whole.fee)) / 25).toBeCloseTo(49.9 / 50, 6);
  });

  it('charges the whole surplus when it is below the cap, so the fee never takes the account past bankruptcy', () => {
    // TNC 5 of TMMR 500: surplus = -0.1 + 5 = 4.9 < cap 74.9985.
    const s = settleClose({ ...worked, equity: 5 }, DEFAULT_FEE_POLICY, 0n, money);
    expect(s.fee).toBe(4_900_000n);
  });

  it('has the insurance fund pay a fill worse than the bankruptcy value, and reports what it cannot pay as a deficit', () => {
    // TNC 0 (quote balance -5,000): fillable 49,500; a fill at 49,000 is 0.1 x 500 = 50 below the bankruptcy value.
    const bankrupt = { ...worked, equity: 0, price: 49_000 };
    const full = settleClose(bankrupt, DEFAULT_FEE_POLICY, 1_000_000_000n, money);
    expect(full.surplus).toBe(-100);
    expect(full.insuranceCover).toBe(100_000_000n);
    expect(full.deficit).toBe(0n);
    const short = settleClose(bankrupt, DEFAULT_FEE_POLICY, 30_000_000n, money);
    expect(short.insuranceCover).toBe(30_000_000n);
    expect(short.deficit).toBe(70_000_000n);
    expect(short.transfers).toContainEqual({ from: 'fund:0', to: 'account:7', atoms: 30_000_000n, reason: 'insurance-cover' });
  });

  it('mirrors a short: buying back above the oracle is the short side of the same surplus', () => {
    const short = { ...worked, size: -0.1, price: 50_001 };
    const s = settleClose(short, DEFAULT_FEE_POLICY, 0n, money);
    expect(s.surplus).toBeCloseTo(498.9, 9);
    expect(s.realizedPnl).toBe(-100_000n);
  });

  it('pays fees into one pooled fund when configured, and settles an isolated position against its own collateral', () => {
    const s = settleClose({ ...worked, isolated: true, market: 3 }, { ...DEFAULT_FEE_POLICY, fund: 'pooled' }, 0n, money);
    expect(s.transfers.map((t) => [t.from, t.to])).toEqual([
      ['isolated:7:3', 'clearing:3'],
      ['isolated:7:3', 'fund:pooled'],
    ]);
  });

  it('neither creates nor destroys value over random scenarios of deposits, fills and withdrawals', () => {
    const fill = fc.record({
      account: fc.integer({ min: 0, max: 7 }),
      market: fc.integer({ min: 0, max: 2 }),
      isolated: fc.boolean(),
      long: fc.boolean(),
      size: fc.double({ min: 0.001, max: 1e4, noNaN: true }),
      portion: fc.double({ min: 0.01, max: 1, noNaN: true }),
      entryPrice: fc.double({ min: 0.01, max: 1e5, noNaN: true }),
      move: fc.double({ min: -0.5, max: 0.5, noNaN: true }),
      slip: fc.double({ min: -0.05, max: 0.05, noNaN: true }),
      equity: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
      maintenance: fc.double({ min: 0, max: 1e6, noNaN: true }),
      released: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    const step = fc.oneof(
      fc.record({ kind: fc.constant('deposit' as const), account: fc.integer({ min: 0, max: 7 }), quote: fc.double({ min: 0, max: 1e7, noNaN: true }) }),
      fc.record({ kind: fc.constant('withdraw' as const), account: fc.integer({ min: 0, max: 7 }), quote: fc.double({ min: 0, max: 1e6, noNaN: true }) }),
      fc.record({ kind: fc.constant('fill' as const), fill, pooled: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const l = new Ledger();
        for (const s of steps) {
          if (s.kind === 'deposit' || s.kind === 'withdraw') {
            const atoms = money.round(s.quote);
            if (atoms > 0n) {
              const [from, to] = s.kind === 'deposit' ? [entry.external, entry.account(s.account)] : [entry.account(s.account), entry.external];
              l.apply([{ from, to, atoms, reason: s.kind === 'deposit' ? 'deposit' : 'withdrawal' }]);
            }
          } else {
            const f = s.fill;
            const oraclePrice = f.entryPrice * (1 + f.move);
            const size = (f.long ? 1 : -1) * f.size;
            const quantity = Math.max(Math.abs(size) * f.portion, 1e-9);
            const policy = { maxFeeFraction: 0.015, maxMaintenanceShare: 0.5, fund: s.pooled ? ('pooled' as const) : ('per-market' as const) };
            const input: CloseToSettle = {
              account: f.account,
              market: f.market,
              isolated: f.isolated,
              size,
              entryPrice: f.entryPrice,
              quantity: Math.min(quantity, Math.abs(size)),
              price: oraclePrice * (1 + f.slip),
              oraclePrice,
              maintenanceReleased: f.maintenance * f.released,
              equity: f.equity,
              totalMaintenance: f.maintenance,
            };
            const fund = fundEntry(policy, f.market);
            const before = l.balance(fund);
            const r = settleClose(input, policy, before, money);
            // The fee is bounded by the surplus, by k x the released maintenance and by the cap; the cover by what the fund holds.
            expect(r.fee).toBeGreaterThanOrEqual(0n);
            if (r.fee > 0n) {
              expect(money.toQuote(r.fee)).toBeLessThanOrEqual(r.surplus);
              expect(money.toQuote(r.fee)).toBeLessThanOrEqual(0.5 * input.maintenanceReleased + 1e-9);
              expect(money.toQuote(r.fee)).toBeLessThanOrEqual(0.015 * input.quantity * input.price + 1e-9);
            }
            expect(r.insuranceCover).toBeLessThanOrEqual(before > 0n ? before : 0n);
            expect(r.deficit).toBeGreaterThanOrEqual(0n);
            if (r.surplus >= 0) expect(r.insuranceCover + r.deficit).toBe(0n);
            l.apply(r.transfers);
            if (before >= 0n) expect(l.balance(fund)).toBeGreaterThanOrEqual(0n);
          }
          expect(l.total()).toBe(0n);
        }
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
