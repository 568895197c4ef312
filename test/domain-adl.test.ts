import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  adlMatches,
  adlQueue,
  adlRank,
  adlRankHyperliquid,
  bankruptcyPrice,
  effectiveLeverage,
  leveragedPnlRank,
  pnlPercent,
  type AdlCandidate,
} from '../src/domain/index.js';
import { ErrorCode, UnwindError } from '../src/errors.js';

const RUNS = { seed: 4242, numRuns: 400 };
/** Queues of up to 40 candidates: fewer runs, the same seed. */
const QUEUE_RUNS = { seed: 4242, numRuns: 200 };

/** The next double above x > 0: one ulp up. */
function nextUp(x: number): number {
  const f = new Float64Array([x]);
  const b = new BigInt64Array(f.buffer);
  b[0]! += 1n;
  return f[0]!;
}
const ulp = (x: number): number => nextUp(x) - x;
/** IEEE sum in the given order, as anyone reading the published matches would add them. */
const sumInOrder = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof UnwindError ? e.code : 'not an UnwindError';
  }
  return undefined;
}

const candidate = (account: number, size: number, entryPrice: number, markPrice: number, equity: number, market = 7): AdlCandidate => ({
  account,
  market,
  size,
  entryPrice,
  markPrice,
  equity,
});

describe('adlRank (Binance/Bybit/BitMEX leveraged PnL)', () => {
  it.each([
    // label, size, entry, mark, group equity, pnlPercent, effective leverage, rank (all by hand)
    ['a 5x long up 10%', 1, 100, 110, 22, 0.1, 5, 0.5],
    ['a 1x long up 10% (bankruptcy price 0)', 1, 100, 110, 110, 0.1, 1, 0.1],
    ['a 10x long up 10%', 2, 50, 55, 11, 0.1, 10, 1],
    ['a 5x long down 10%', 1, 100, 90, 18, -0.1, 5, -0.02],
    ['a 1x long down 10%', 1, 100, 90, 90, -0.1, 1, -0.1],
    ['a 5x short up 20%', -1, 100, 80, 16, 0.2, 5, 1],
    ['a 5x short down 10%', -3, 200, 220, 132, -0.1, 5, -0.02],
    ['a long whose equity is twice its notional (no positive bankruptcy price)', 1, 100, 120, 240, 0.2, 0.5, 0.1],
    ['a winner whose group has no equity left', 1, 100, 110, 0, 0.1, Infinity, Infinity],
    ['a loser whose group is past bankruptcy', -1, 100, 110, -5, -0.1, Infinity, 0],
    ['a flat position at infinite leverage', 1, 100, 100, 0, 0, Infinity, 0],
    ['a size of 0', 0, 100, 110, 50, 0, 0, 0],
  ])('ranks %s', (_l, size, entry, mark, equity, pnl, leverage, rank) => {
    expect(pnlPercent(size, mark, entry)).toBeCloseTo(pnl, 12);
    const lev = effectiveLeverage(size * mark, size * mark - equity);
    if (Number.isFinite(leverage)) expect(lev).toBeCloseTo(leverage, 12);
    else expect(lev).toBe(leverage);
    const r = adlRank(size, entry, mark, equity);
    if (Number.isFinite(rank)) expect(r).toBeCloseTo(rank, 12);
    else expect(r).toBe(rank);
    expect(Object.is(r, -0)).toBe(false);
  });

  it('puts a profitable high-leverage long above a profitable low-leverage one, and every winner above every loser', () => {
    const ranks = [adlRank(1, 100, 110, 11), adlRank(1, 100, 110, 22), adlRank(1, 100, 110, 110), adlRank(1, 100, 90, 18), adlRank(1, 100, 90, 90)];
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
    expect(ranks[2]).toBeGreaterThan(0);
    expect(ranks[3]).toBeLessThan(0);
  });

  it('measures leverage from signed values: markValue - bankruptcyValue is the equity for a long and for a short', () => {
    // Long 2 at mark 50, bankruptcy 40: MV 100, BV 80, equity 20. Short 2 at mark 50, bankruptcy 60: MV -100, BV -120, equity 20.
    expect(effectiveLeverage(100, 80)).toBe(5);
    expect(effectiveLeverage(-100, -120)).toBe(5);
    expect(effectiveLeverage(100, 100)).toBe(Infinity);
    expect(effectiveLeverage(-100, -90)).toBe(Infinity);
    expect(effectiveLeverage(0, 0)).toBe(0);
    expect(effectiveLeverage(100, NaN)).toBeNaN();
  });

  it('spells out the limits of the leveraged PnL rule', () => {
    expect(leveragedPnlRank(0.1, Infinity)).toBe(Infinity);
    expect(Object.is(leveragedPnlRank(-0.1, Infinity), 0)).toBe(true);
    expect(leveragedPnlRank(-0.1, 0)).toBe(-Infinity);
    expect(leveragedPnlRank(0.1, 0)).toBe(0);
    expect(leveragedPnlRank(0, Infinity)).toBe(0);
    expect(leveragedPnlRank(NaN, 1)).toBeNaN();
  });

  const positionArb = fc.record({
    size: fc.double({ min: 1e-3, max: 1_000, noNaN: true }).chain((q) => fc.constantFrom(q, -q)),
    entry: fc.double({ min: 1, max: 100_000, noNaN: true }),
    move: fc.double({ min: 0.5, max: 2, noNaN: true }),
    r: fc.double({ min: 1e-3, max: 3, noNaN: true }),
  });

  it("equals the venues' form with the bankruptcy price of bankruptcyPrice() wherever that price exists", () => {
    let compared = 0;
    fc.assert(
      fc.property(positionArb, ({ size, entry, move, r }) => {
        const mark = entry * move;
        const equity = Math.abs(size) * mark * r;
        const otherEquity = equity - size * (mark - entry);
        const bp = bankruptcyPrice(size, entry, otherEquity);
        if (!Number.isFinite(bp)) return;
        compared++;
        const venue = leveragedPnlRank((size * mark - size * entry) / Math.abs(size * entry), effectiveLeverage(size * mark, size * bp));
        const ours = adlRank(size, entry, mark, equity);
        expect(Math.abs(ours - venue)).toBeLessThanOrEqual(1e-8 * Math.max(1, Math.abs(venue)));
      }),
      RUNS,
    );
    expect(compared).toBeGreaterThan(RUNS.numRuns / 2);
  });

  it('has the sign of the PnL while the group is solvent, and grows with leverage for a winner', () => {
    fc.assert(
      fc.property(positionArb, fc.double({ min: 1.01, max: 10, noNaN: true }), ({ size, entry, move, r }, more) => {
        const mark = entry * move;
        const equity = Math.abs(size) * mark * r;
        const pnl = pnlPercent(size, mark, entry);
        const rank = adlRank(size, entry, mark, equity);
        expect(Math.sign(rank)).toBe(Math.sign(pnl));
        // Less equity behind the same position: more leverage, deleveraged earlier whether it wins or loses.
        if (pnl !== 0) expect(adlRank(size, entry, mark, equity / more)).toBeGreaterThan(rank);
      }),
      RUNS,
    );
  });
});

describe('adlRankHyperliquid', () => {
  it.each([
    // label, mark, entry, notional, account value, side, rank (by hand)
    ['a 5x long up 10%', 110, 100, 110, 22, 1, 5.5],
    ['a 5x long down 10%', 90, 100, 90, 18, 1, 4.5],
    ['a 1x long up 10%', 110, 100, 110, 110, 1, 1.1],
    ['a 5x short up 20%, mirrored as 2 - mark / entry', 80, 100, 80, 16, -1, 6],
    ['a 5x short down 20%', 120, 100, 120, 24, -1, 4],
    ['an account with no value left', 110, 100, 110, 0, 1, Infinity],
    ['a zero notional', 110, 100, 0, 50, 1, 0],
    ['a zero entry price', 110, 0, 110, 50, 1, 0],
  ])('indexes %s', (_l, mark, entry, notional, accountValue, side, rank) => {
    const r = adlRankHyperliquid(mark, entry, notional, accountValue, side as 1 | -1);
    if (Number.isFinite(rank)) expect(r).toBeCloseTo(rank, 12);
    else expect(r).toBe(rank);
  });

  it('uses the same leverage as the leveraged PnL rank, notional / equity', () => {
    const [q] = adlQueue([candidate(1, 2, 100, 110, 44)], -1, { policy: 'hyperliquid' });
    expect(q!.effectiveLeverage).toBe(5);
    expect(q!.rank).toBeCloseTo(5.5, 12);
  });
});

describe('adlQueue', () => {
  /** Hand-ranked: three at 0.5 (size, then account decide), then 0.1, -0.02, -0.1; I is bankrupt and never queued. */
  const LONGS_AND_SHORTS: AdlCandidate[] = [
    candidate(1, 1, 100, 110, 22), // A 0.5
    candidate(2, 1, 100, 110, 110), // B 0.1
    candidate(3, 2, 100, 110, 44), // C 0.5, larger
    candidate(4, 1, 100, 90, 18), // D -0.02
    candidate(5, 1, 100, 90, 90), // E -0.1
    candidate(6, -1, 100, 80, 16), // short, 1.0
    candidate(0, 1, 100, 110, 22), // G 0.5, like A, lower account id
    candidate(8, 0, 100, 110, 50), // flat: on neither side
    candidate(9, 0.5, 100, 110, -1), // I: its group is bankrupt: liquidated, never a counterparty
    candidate(10, -1, 100, 80, 80), // short, 0.2
    candidate(11, -3, 200, 220, 132), // short, -0.02
  ];

  it('queues the longs against a bankrupt short by rank, then larger size, then lower account id, numbered from 1', () => {
    const q = adlQueue(LONGS_AND_SHORTS, -1);
    expect(q.map((e) => e.account)).toEqual([3, 0, 1, 2, 4, 5]);
    expect(q.map((e) => e.queuePosition)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(q.map((e) => e.rank)).toEqual([0.5, 0.5, 0.5, expect.closeTo(0.1, 12), expect.closeTo(-0.02, 12), expect.closeTo(-0.1, 12)]);
    expect(q[0]).toMatchObject({ market: 7, size: 2, pnlPercent: expect.closeTo(0.1, 12), effectiveLeverage: 5 });
  });

  it('queues the shorts against a bankrupt long', () => {
    const q = adlQueue(LONGS_AND_SHORTS, 1);
    expect(q.map((e) => [e.account, e.queuePosition])).toEqual([
      [6, 1],
      [10, 2],
      [11, 3],
    ]);
    expect(q.map((e) => e.rank)).toEqual([expect.closeTo(1, 12), expect.closeTo(0.2, 12), expect.closeTo(-0.02, 12)]);
  });

  it('orders by the Hyperliquid index when asked, where a 5x loser can pass a 1x winner', () => {
    const q = adlQueue(LONGS_AND_SHORTS, -1, { policy: 'hyperliquid' });
    expect(q.map((e) => e.account)).toEqual([3, 0, 1, 4, 2, 5]);
  });

  it('returns an empty queue when nobody holds the opposite side', () => {
    expect(adlQueue(LONGS_AND_SHORTS.filter((c) => c.size >= 0), 1)).toEqual([]);
    expect(adlQueue([], -1)).toEqual([]);
  });

  it('keeps one market when told which, and refuses a mix of markets otherwise', () => {
    const mixed = [...LONGS_AND_SHORTS, candidate(1, 5, 100, 110, 10, 8)];
    expect(adlQueue(mixed, -1, { market: 8 }).map((e) => e.account)).toEqual([1]);
    expect(adlQueue(mixed, -1, { market: 7 }).map((e) => e.account)).toEqual([3, 0, 1, 2, 4, 5]);
    expect(codeOf(() => adlQueue(mixed, -1))).toBe(ErrorCode.InvalidId);
  });

  it('refuses a policy it does not know', () => {
    expect(codeOf(() => adlQueue(LONGS_AND_SHORTS, -1, { policy: 'socialized' as never }))).toBe(ErrorCode.InvalidConfig);
  });

  it.each([
    ['a zero side', [candidate(1, 1, 100, 110, 22)], 0, ErrorCode.InvalidSize, /^bankruptSide: /],
    ['a NaN size', [candidate(1, NaN, 100, 110, 22)], -1, ErrorCode.InvalidSize, /^candidates\[0\]\.size: /],
    ['a zero entry price', [candidate(1, 1, 0, 110, 22)], -1, ErrorCode.InvalidPrice, /^candidates\[0\]\.entryPrice: /],
    ['an infinite mark price', [candidate(1, 1, 100, Infinity, 22)], -1, ErrorCode.InvalidPrice, /^candidates\[0\]\.markPrice: /],
    ['a NaN equity', [candidate(1, 1, 100, 110, NaN)], -1, ErrorCode.InvalidAmount, /^candidates\[0\]\.equity: /],
    ['an account twice', [candidate(1, 1, 100, 110, 22), candidate(1, -1, 100, 110, 22)], -1, ErrorCode.DuplicateAccount, /^candidates\[1\]\.account: /],
  ])('rejects %s with a code and the field', (_l, cs, side, code, message) => {
    expect(codeOf(() => adlQueue(cs, side as 1 | -1))).toBe(code);
    expect(() => adlQueue(cs, side as 1 | -1)).toThrow(message);
  });

  /** Candidates with unique accounts, drawn partly from a few discrete values so that equal ranks are common. */
  const candidatesArb = fc
    .uniqueArray(fc.integer({ min: 0, max: 10_000 }), { minLength: 0, maxLength: 40 })
    .chain((accounts) =>
      fc.tuple(
        ...accounts.map((account) =>
          fc
            .record({
              size: fc.oneof(fc.constantFrom(-2, -1, 0, 1, 2), fc.double({ min: -50, max: 50, noNaN: true })),
              entryPrice: fc.oneof(fc.constant(100), fc.double({ min: 1, max: 1_000, noNaN: true })),
              markPrice: fc.oneof(fc.constantFrom(90, 110), fc.double({ min: 1, max: 1_000, noNaN: true })),
              /** Equity per unit of notional: 1 is 1x, 0.2 is 5x, 0 and below have no equity left. */
              cover: fc.oneof(fc.constantFrom(1, 0.2, 0, -0.5), fc.double({ min: -1, max: 3, noNaN: true })),
            })
            .map(({ size, entryPrice, markPrice, cover }) => candidate(account, size, entryPrice, markPrice, Math.abs(size) * markPrice * cover)),
        ),
      ),
    );
  const sideArb = fc.constantFrom<1 | -1>(1, -1);
  const policyArb = fc.constantFrom('leveragedPnl' as const, 'hyperliquid' as const);

  it('gives the same queue whatever the order of the candidates', () => {
    fc.assert(
      fc.property(
        candidatesArb.chain((cs) => fc.tuple(fc.constant(cs), fc.shuffledSubarray(cs, { minLength: cs.length, maxLength: cs.length }))),
        sideArb,
        policyArb,
        ([cs, shuffled], side, policy) => {
          expect(adlQueue(shuffled, side, { policy })).toEqual(adlQueue(cs, side, { policy }));
        },
      ),
      QUEUE_RUNS,
    );
  });

  it('holds exactly the opposite side with positive equity, numbered 1..n, in a strict order of finite rank, size and account', () => {
    fc.assert(
      fc.property(candidatesArb, sideArb, policyArb, (cs, side, policy) => {
        const q = adlQueue(cs, side, { policy });
        const opposite = cs.filter((c) => Math.sign(c.size) === -side && c.equity > 0).map((c) => c.account);
        expect(JSON.stringify(q)).not.toContain('null');
        expect(q.map((e) => e.account).sort((a, b) => a - b)).toEqual(opposite.sort((a, b) => a - b));
        q.forEach((e, i) => {
          expect(e.queuePosition).toBe(i + 1);
          expect(Math.sign(e.size)).toBe(-side);
          expect(Number.isFinite(e.rank)).toBe(true);
          const c = cs.find((x) => x.account === e.account)!;
          // The published rank is the formula's, saturated at MAX_VALUE where a tiny equity overflows it.
          const exact = adlRank(c.size, c.entryPrice, c.markPrice, c.equity);
          if (policy === 'leveragedPnl') expect(e.rank).toBe(Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, exact)));
          if (i === 0) return;
          const p = q[i - 1]!;
          const before = p.rank > e.rank || (p.rank === e.rank && (Math.abs(p.size) > Math.abs(e.size) || (Math.abs(p.size) === Math.abs(e.size) && p.account < e.account)));
          expect(before).toBe(true);
        });
      }),
      QUEUE_RUNS,
    );
  });
});

describe('adlMatches', () => {
  const SHORTS = [
    { account: 1, size: -1 },
    { account: 2, size: -1.5 },
    { account: 3, size: -2 },
  ];

  it('closes a bankrupt long against the shorts in queue order at its bankruptcy price, the last one partly', () => {
    expect(adlMatches({ size: 3, bankruptcyPrice: 95 }, SHORTS)).toEqual({
      matches: [
        { account: 1, quantity: 1, price: 95 },
        { account: 2, quantity: 1.5, price: 95 },
        { account: 3, quantity: 0.5, price: 95 },
      ],
      matched: 3,
      remainder: 0,
    });
  });

  it('stops at the counterparty that completes the close, touching nobody after it', () => {
    expect(adlMatches({ size: 2.5, bankruptcyPrice: 95 }, SHORTS).matches.map((m) => [m.account, m.quantity])).toEqual([
      [1, 1],
      [2, 1.5],
    ]);
  });

  it('leaves a remainder when the opposite side holds less than the bankrupt position', () => {
    expect(adlMatches({ size: -5, bankruptcyPrice: 105 }, [{ account: 7, size: 2 }, { account: 8, size: 1 }])).toEqual({
      matches: [
        { account: 7, quantity: 2, price: 105 },
        { account: 8, quantity: 1, price: 105 },
      ],
      matched: 3,
      remainder: 2,
    });
  });

  it('matches nothing when nobody is on the opposite side, and nothing for a size of 0', () => {
    expect(adlMatches({ size: 4, bankruptcyPrice: 95 }, [])).toEqual({ matches: [], matched: 0, remainder: 4 });
    expect(adlMatches({ size: 0, bankruptcyPrice: NaN }, SHORTS)).toEqual({ matches: [], matched: 0, remainder: 0 });
  });

  it('closes 0.3 with 0.1 and 0.2 without drift: the last match takes exactly what remains', () => {
    const r = adlMatches({ size: 0.3, bankruptcyPrice: 95 }, [{ account: 1, size: -0.1 }, { account: 2, size: -0.2 }]);
    // 0.1 + 0.2 is 0.30000000000000004 in doubles, so the second short gives 0.3 - 0.1 = 0.19999999999999998.
    expect(r.matches.map((m) => m.quantity)).toEqual([0.1, 0.3 - 0.1]);
    expect(sumInOrder(r.matches.map((m) => m.quantity))).toBe(0.3);
    expect(r.remainder).toBe(0);
  });

  it('lands one ulp off only on a rounding tie, where no double closes the gap', () => {
    const u = 2 ** -52;
    const need = 1 + 3 * u;
    const r = adlMatches({ size: need, bankruptcyPrice: 95 }, [{ account: 1, size: -1.5 * u }, { account: 2, size: -5 }]);
    expect(r.matches.map((m) => m.quantity)).toEqual([1.5 * u, 1 + 2 * u]);
    expect(sumInOrder(r.matches.map((m) => m.quantity))).toBe(1 + 4 * u);
    // The doubles around the exact gap 1 + 1.5u both miss: 1.5u + (1 + u) rounds to 1 + 2u, 1.5u + (1 + 2u) to 1 + 4u.
    expect(1.5 * u + (1 + u)).toBe(1 + 2 * u);
    expect(r).toMatchObject({ matched: need, remainder: 0 });
  });

  it.each([
    ['a NaN bankrupt size', { size: NaN, bankruptcyPrice: 95 }, SHORTS, ErrorCode.InvalidSize, /^bankrupt\.size: /],
    ['no bankruptcy price', { size: 1, bankruptcyPrice: NaN }, SHORTS, ErrorCode.InvalidPrice, /^bankrupt\.bankruptcyPrice: /],
    ['a counterparty on the same side', { size: 1, bankruptcyPrice: 95 }, [{ account: 1, size: 1 }], ErrorCode.InvalidSize, /^queue\[0\]\.size: /],
  ])('rejects %s with a code and the field', (_l, bankrupt, queue, code, message) => {
    expect(codeOf(() => adlMatches(bankrupt, queue))).toBe(code);
    expect(() => adlMatches(bankrupt, queue)).toThrow(message);
  });

  /** A bankrupt position and a queue of counterparties on the other side, sizes as given by `sizeArb`. */
  const caseArb = (sizeArb: fc.Arbitrary<number>) =>
    fc.record({
      need: sizeArb,
      long: fc.boolean(),
      sizes: fc.array(sizeArb, { maxLength: 30 }),
      bankruptcyPrice: fc.double({ min: 1, max: 100_000, noNaN: true }),
    });
  const anyDouble = fc.double({ min: 1e-6, max: 1_000, noNaN: true });
  /** Multiples of 2^-10 below 2^20: every sum of up to 30 of them is exact, in any order. */
  const onGrid = fc.integer({ min: 1, max: 1 << 20 }).map((k) => k / 1024);

  function run({ need, long, sizes, bankruptcyPrice }: { need: number; long: boolean; sizes: number[]; bankruptcyPrice: number }) {
    const queue = sizes.map((s, i) => ({ account: 100 + i, size: long ? -s : s }));
    return { queue, result: adlMatches({ size: long ? need : -need, bankruptcyPrice }, queue) };
  }

  it('takes from a prefix of the queue, whole sizes but the last, never more than a counterparty holds', () => {
    fc.assert(
      fc.property(caseArb(anyDouble), (c) => {
        const { queue, result } = run(c);
        const { matches } = result;
        matches.forEach((m, i) => {
          expect(m.account).toBe(queue[i]!.account);
          expect(m.price).toBe(c.bankruptcyPrice);
          expect(m.quantity).toBeGreaterThan(0);
          expect(m.quantity).toBeLessThanOrEqual(Math.abs(queue[i]!.size));
          if (i < matches.length - 1) expect(m.quantity).toBe(Math.abs(queue[i]!.size));
        });
      }),
      RUNS,
    );
  });

  it('matches min(need, available), leaving exactly 0 when covered and summing to within one ulp in queue order', () => {
    fc.assert(
      fc.property(caseArb(anyDouble), (c) => {
        const { result } = run(c);
        const available = sumInOrder(c.sizes);
        expect(result.matched).toBe(Math.min(c.need, available));
        expect(result.remainder).toBe(available >= c.need ? 0 : c.need - available);
        const total = sumInOrder(result.matches.map((m) => m.quantity));
        expect(Math.abs(total - result.matched)).toBeLessThanOrEqual(result.matched > 0 ? ulp(result.matched) : 0);
      }),
      RUNS,
    );
  });

  it('sums exactly to min(need, available) when sizes lie on a binary grid, whichever order they are added in', () => {
    fc.assert(
      fc.property(caseArb(onGrid), (c) => {
        const { result } = run(c);
        const available = [...c.sizes].sort((a, b) => a - b).reduce((a, b) => a + b, 0);
        const quantities = result.matches.map((m) => m.quantity);
        expect(sumInOrder(quantities)).toBe(Math.min(c.need, available));
        expect(sumInOrder([...quantities].reverse())).toBe(result.matched);
        expect(result.matched + result.remainder).toBe(c.need);
      }),
      RUNS,
    );
  });

  it('closes against the published queue: only the opposite side, in queue order', () => {
    const candidates = [
      candidate(1, 1, 100, 110, 22),
      candidate(2, -2, 100, 110, 50),
      candidate(3, 2, 100, 110, 44),
      candidate(4, 0.5, 100, 90, 10),
    ];
    const result = adlMatches({ size: -2.5, bankruptcyPrice: 104 }, adlQueue(candidates, -1));
    expect(result.matches).toEqual([
      { account: 3, quantity: 2, price: 104 },
      { account: 1, quantity: 0.5, price: 104 },
    ]);
  });
});
