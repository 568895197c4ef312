/**
 * Liquidation caps: per-account notional and insurance loss per interval, per-market notional over a sliding window,
 * orders in flight, the emergency bypass, settlement returning unfilled notional, and time that goes backwards.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUnwindError } from '../src/errors.js';
import { DEFAULT_CAPS, validateCaps, type CapsConfig } from '../src/config-types.js';
import { CAP_NAMES, LiquidationCaps, type AdmitRequest, type CapName } from '../src/executor/caps.js';

const SEED = 0xca95;

/** Every cap off; each test turns on the ones it is about. */
const OFF: CapsConfig = {
  accountNotionalPerInterval: Infinity,
  accountInsuranceLossPerInterval: Infinity,
  intervalUs: 1_000,
  marketNotionalPerWindow: Infinity,
  marketWindowUs: 1_000,
  maxInFlight: Infinity,
};

const capsWith = (c: Partial<CapsConfig>): LiquidationCaps => new LiquidationCaps({ ...OFF, ...c });

const ask = (nowUs: number, notional: number, extra: Partial<AdmitRequest> = {}): AdmitRequest => ({
  account: 1,
  market: 0,
  notional,
  insuranceLoss: 0,
  nowUs,
  emergency: false,
  ...extra,
});

let nextId = 0;
interface Issue {
  account?: number;
  market?: number;
  insuranceLoss?: number;
  id?: string;
}
function issue(caps: LiquidationCaps, nowUs: number, notional: number, o: Issue = {}): string {
  const id = o.id ?? `o${nextId++}`;
  caps.issued({ id, account: o.account ?? 1, market: o.market ?? 0, notional, insuranceLoss: o.insuranceLoss ?? 0, nowUs });
  return id;
}

function codeOf(f: () => unknown): string | null {
  try {
    f();
  } catch (e) {
    return isUnwindError(e) ? e.code : 'not an UnwindError';
  }
  return null;
}

describe('the per-account notional cap', () => {
  // Cap 100 per 1,000 us interval; buckets [0, 1000), [1000, 2000), ...
  it.each<[string, number, number, Partial<AdmitRequest>, number, CapName | null]>([
    ['sizes an order down to the room left in the interval', 10, 50, {}, 40, 'account-notional'],
    ['allows an order that fits', 10, 30, {}, 30, null],
    ['still counts the usage in the last microsecond of the interval', 999, 50, {}, 40, 'account-notional'],
    ['resets exactly when the next interval starts', 1_000, 50, {}, 50, null],
    ['counts usage across every market of the account', 10, 50, { market: 7 }, 40, 'account-notional'],
    ['does not count another account', 10, 100, { account: 2 }, 100, null],
  ])('%s', (_title, at, want, extra, allowed, binding) => {
    const caps = capsWith({ accountNotionalPerInterval: 100 });
    issue(caps, 0, 60);
    expect(caps.admit(ask(at, want, extra))).toMatchObject({ notional: allowed, binding });
  });

  it('uses fixed intervals, not a sliding one: usage late in an interval does not carry into the next', () => {
    const caps = capsWith({ accountNotionalPerInterval: 100 });
    issue(caps, 900, 100);
    expect(caps.admit(ask(999, 10))).toEqual({ notional: 0, insuranceLoss: 0, binding: 'account-notional' });
    expect(caps.admit(ask(1_000, 100))).toEqual({ notional: 100, insuranceLoss: 0, binding: null });
  });

  it('allows nothing once the interval is used up, so the caller queues the work', () => {
    const caps = capsWith({ accountNotionalPerInterval: 100 });
    issue(caps, 0, 60);
    issue(caps, 5, 40);
    expect(caps.admit(ask(6, 1))).toMatchObject({ notional: 0, binding: 'account-notional' });
  });
});

describe('the per-account insurance-loss cap', () => {
  // Cap 10 per interval; 6 already attributed to account 1. Loss is taken as proportional to notional.
  it.each<[string, number, number, number, number, number, CapName | null]>([
    ['sizes the order down so its share of the expected loss fits', 1, 100, 8, 50, 4, 'account-insurance-loss'],
    ['allows an order whose expected loss fits', 1, 100, 4, 100, 4, null],
    ['never binds an order that expects no loss', 1, 100, 0, 100, 0, null],
    ['resets with the interval', 1_000, 100, 8, 100, 8, null],
  ])('%s', (_title, at, want, loss, allowed, allowedLoss, binding) => {
    const caps = capsWith({ accountInsuranceLossPerInterval: 10 });
    issue(caps, 0, 10, { insuranceLoss: 6 });
    expect(caps.admit(ask(at, want, { insuranceLoss: loss }))).toEqual({ notional: allowed, insuranceLoss: allowedLoss, binding });
  });

  it('allows nothing with an expected loss once the loss budget is spent', () => {
    const caps = capsWith({ accountInsuranceLossPerInterval: 10 });
    issue(caps, 0, 10, { insuranceLoss: 10 });
    expect(caps.admit(ask(1, 100, { insuranceLoss: 0.01 }))).toEqual({ notional: 0, insuranceLoss: 0, binding: 'account-insurance-loss' });
  });
});

describe('the per-market sliding window', () => {
  // Cap 100 per 1,000 us window; usage issued at t counts in [t, t + 1000) and leaves at t + 1000 exactly.
  it.each<[string, number, Partial<AdmitRequest>, number, CapName | null]>([
    ['counts usage issued at the same instant', 1_000, {}, 30, 'market-notional'],
    ['still counts usage one microsecond before it leaves the window', 1_999, {}, 30, 'market-notional'],
    ['lets usage leave the window at t + window exactly (the window is half-open)', 2_000, {}, 50, null],
    ['counts every account in the market', 1_500, { account: 9 }, 30, 'market-notional'],
    ['does not count another market', 1_500, { market: 3 }, 50, null],
  ])('%s', (_title, at, extra, allowed, binding) => {
    const caps = capsWith({ marketNotionalPerWindow: 100 });
    issue(caps, 1_000, 70);
    expect(caps.admit(ask(at, 50, extra))).toMatchObject({ notional: allowed, binding });
  });

  it('slides: each order leaves the window on its own time, not at an interval boundary', () => {
    const caps = capsWith({ marketNotionalPerWindow: 100 });
    issue(caps, 0, 40);
    issue(caps, 500, 40);
    expect(caps.admit(ask(999, 50))).toMatchObject({ notional: 20, binding: 'market-notional' });
    expect(caps.admit(ask(1_000, 70))).toMatchObject({ notional: 60, binding: 'market-notional' });
    expect(caps.admit(ask(1_499, 70))).toMatchObject({ notional: 60, binding: 'market-notional' });
    expect(caps.admit(ask(1_500, 100))).toMatchObject({ notional: 100, binding: null });
  });

  it('defaults to a 30 s window, as Synthetix perps v3', () => {
    const caps = new LiquidationCaps({ ...DEFAULT_CAPS, accountNotionalPerInterval: Infinity });
    issue(caps, 0, DEFAULT_CAPS.marketNotionalPerWindow);
    expect(caps.admit(ask(29_999_999, 1))).toMatchObject({ notional: 0, binding: 'market-notional' });
    expect(caps.admit(ask(30_000_000, 1))).toMatchObject({ notional: 1, binding: null });
  });
});

describe('the in-flight cap', () => {
  it('counts up on issue, down on settle, and allows nothing while full', () => {
    const caps = capsWith({ maxInFlight: 2 });
    const a = issue(caps, 0, 10);
    expect(caps.inFlight()).toBe(1);
    issue(caps, 1, 10);
    expect(caps.inFlight()).toBe(2);
    expect(caps.admit(ask(2, 10))).toEqual({ notional: 0, insuranceLoss: 0, binding: 'in-flight' });
    expect(caps.settled(a, 10, 3)).toBe(true);
    expect(caps.inFlight()).toBe(1);
    expect(caps.admit(ask(3, 10))).toEqual({ notional: 10, insuranceLoss: 0, binding: null });
  });

  it('ignores a settlement of an order that is not in flight, and says so', () => {
    const caps = capsWith({ maxInFlight: 2 });
    const a = issue(caps, 0, 10);
    issue(caps, 0, 10);
    expect(caps.settled(a, 10, 1)).toBe(true);
    expect(caps.settled(a, 10, 2)).toBe(false);
    expect(caps.settled('never-issued', 0, 2)).toBe(false);
    expect(caps.inFlight()).toBe(1);
  });

  it('rejects an id that is already in flight', () => {
    const caps = capsWith({});
    issue(caps, 0, 10, { id: 'x' });
    expect(codeOf(() => issue(caps, 1, 10, { id: 'x' }))).toBe('INVALID_ID');
  });
});

describe('the binding cap', () => {
  // Account 1 has issued `own` notional with `ownLoss` in market 1; account 2 has issued `other` in market 0. Caps:
  // account notional 100, insurance loss 10, market 100. The request: account 1, market 0, 50 notional expecting a loss of 10.
  it.each<[string, number, number, number, number, number, CapName]>([
    ['is the account cap when it allows least', 70, 0, 0, Infinity, 30, 'account-notional'],
    ['is the insurance-loss cap when it allows least', 10, 8, 0, Infinity, 10, 'account-insurance-loss'],
    ['is the market cap when it allows least', 10, 0, 85, Infinity, 15, 'market-notional'],
    ['is the in-flight cap when the orders in flight are at the limit', 10, 0, 0, 2, 0, 'in-flight'],
    ['goes to the earlier cap in CAP_NAMES on a tie', 80, 0, 80, Infinity, 20, 'account-notional'],
    ['goes to the earlier cap on a tie at zero', 100, 0, 0, 2, 0, 'account-notional'],
  ])('%s', (_title, own, ownLoss, other, maxInFlight, allowed, binding) => {
    const caps = capsWith({ accountNotionalPerInterval: 100, accountInsuranceLossPerInterval: 10, marketNotionalPerWindow: 100, maxInFlight });
    issue(caps, 0, own, { insuranceLoss: ownLoss, market: 1 });
    issue(caps, 0, other, { account: 2 });
    expect(caps.admit(ask(1, 50, { insuranceLoss: 10 }))).toMatchObject({ notional: allowed, binding });
  });

  it('lists every cap once', () => {
    expect(new Set(CAP_NAMES).size).toBe(4);
  });
});

describe('floating point', () => {
  it('rounds the room left down, so that used + admitted never exceeds the cap by a rounding error', () => {
    // 2.14 + 0.53 = 2.67 and 25.7 - 2.67 = 23.03, but 2.67 + 23.03 = 25.700000000000003 > 25.7.
    const caps = capsWith({ accountNotionalPerInterval: 25.7 });
    issue(caps, 0, 2.14);
    issue(caps, 0, 0.53);
    const a = caps.admit(ask(1, 100));
    expect(a.binding).toBe('account-notional');
    expect(2.14 + 0.53 + a.notional).toBeLessThanOrEqual(25.7);
    expect(a.notional).toBeCloseTo(23.03, 12);
  });
});

describe('the emergency bypass', () => {
  it('allows the whole order past every cap, and still records it for later requests', () => {
    const caps = capsWith({ accountNotionalPerInterval: 100, accountInsuranceLossPerInterval: 10, marketNotionalPerWindow: 100, maxInFlight: 1 });
    issue(caps, 0, 100, { insuranceLoss: 10 });
    const admitted = caps.admit(ask(1, 500, { insuranceLoss: 50, emergency: true }));
    expect(admitted).toEqual({ notional: 500, insuranceLoss: 50, binding: null });
    const e = issue(caps, 1, admitted.notional, { insuranceLoss: admitted.insuranceLoss });
    expect(caps.inFlight()).toBe(2); // above maxInFlight: only an emergency can do that

    expect(caps.admit(ask(2, 10, { account: 2 }))).toMatchObject({ notional: 0, binding: 'market-notional' });
    caps.settled(e, 500, 3);
    expect(caps.admit(ask(3, 10, { account: 2, market: 5 }))).toMatchObject({ notional: 0, binding: 'in-flight' });
    // The emergency order's usage is still in account 1's interval and market 0's window after it settled.
    expect(caps.admit(ask(999, 10, { market: 5 }))).toMatchObject({ notional: 0, binding: 'account-notional' });
    expect(caps.admit(ask(1_000, 10, { account: 2 }))).toMatchObject({ notional: 0, binding: 'market-notional' });
    expect(caps.admit(ask(1_001, 10, { account: 2 }))).toMatchObject({ notional: 0, binding: 'in-flight' });
  });
});

describe('settlement', () => {
  const tight = { accountNotionalPerInterval: 100, accountInsuranceLossPerInterval: 10, marketNotionalPerWindow: 100 };

  it('returns the unfilled notional of an expired order to every budget, with its share of the expected loss', () => {
    const caps = capsWith(tight);
    const id = issue(caps, 0, 100, { insuranceLoss: 10 });
    expect(caps.admit(ask(1, 50))).toMatchObject({ notional: 0, binding: 'account-notional' });
    caps.settled(id, 30, 2); // an IOC that filled 30 of 100, then expired
    expect(caps.admit(ask(3, 100))).toMatchObject({ notional: 70, binding: 'account-notional' });
    expect(caps.admit(ask(3, 100, { account: 2 }))).toMatchObject({ notional: 70, binding: 'market-notional' });
    expect(caps.admit(ask(3, 100, { insuranceLoss: 10, market: 4 }))).toMatchObject({ notional: 70, insuranceLoss: 7, binding: 'account-notional' });
  });

  it('returns the whole notional of an order that expired unfilled', () => {
    const caps = capsWith(tight);
    const id = issue(caps, 0, 100, { insuranceLoss: 10 });
    caps.settled(id, 0, 1);
    expect(caps.admit(ask(2, 100, { insuranceLoss: 10 }))).toEqual({ notional: 100, insuranceLoss: 10, binding: null });
  });

  it('keeps a complete fill counted, and never counts more than was issued', () => {
    const caps = capsWith(tight);
    const a = issue(caps, 0, 50);
    const b = issue(caps, 0, 40);
    caps.settled(a, 50, 1);
    caps.settled(b, 55, 1); // filled at a better price than issued
    expect(caps.admit(ask(2, 50))).toMatchObject({ notional: 10, binding: 'account-notional' });
  });

  it('does not carry a settlement of an order from an earlier interval into the current one', () => {
    const caps = capsWith(tight);
    const id = issue(caps, 0, 100);
    issue(caps, 1_000, 100, { market: 1 });
    caps.settled(id, 0, 1_001);
    expect(caps.admit(ask(1_002, 10, { market: 2 }))).toMatchObject({ notional: 0, binding: 'account-notional' });
  });
});

describe('event time', () => {
  it('clamps a time earlier than one already seen to the latest, and counts it', () => {
    const caps = capsWith({ marketNotionalPerWindow: 100 });
    issue(caps, 1_000, 100);
    expect(caps.admit(ask(2_000, 100))).toMatchObject({ notional: 100, binding: null });
    // 500 is before 2,000: treated as 2,000, so the order issued at 1,000 is still out of the window.
    expect(caps.admit(ask(500, 100))).toMatchObject({ notional: 100, binding: null });
    expect(caps.clampedTimes()).toBe(1);
  });

  it('records an order issued with an earlier time at the latest time, so it stays in the window at least as long', () => {
    const caps = capsWith({ marketNotionalPerWindow: 100, accountNotionalPerInterval: 100 });
    caps.admit(ask(1_500, 1));
    issue(caps, 400, 100, { account: 2 }); // recorded at 1,500, not 400
    expect(caps.admit(ask(1_400, 1))).toMatchObject({ notional: 0, binding: 'market-notional' });
    expect(caps.admit(ask(2_499, 1))).toMatchObject({ notional: 0, binding: 'market-notional' });
    expect(caps.admit(ask(2_500, 1))).toMatchObject({ notional: 1, binding: null });
    expect(caps.clampedTimes()).toBe(2);
  });

  it('never steps back into an earlier interval', () => {
    const caps = capsWith({ accountNotionalPerInterval: 100 });
    issue(caps, 1_500, 100);
    expect(caps.admit(ask(900, 1))).toMatchObject({ notional: 0, binding: 'account-notional' });
  });

  it('rejects a time that is not a finite number', () => {
    const caps = capsWith({});
    expect(codeOf(() => caps.admit(ask(Number.NaN, 1)))).toBe('INVALID_AMOUNT');
    expect(codeOf(() => caps.settled('x', 0, Infinity))).toBe('INVALID_AMOUNT');
  });
});

describe('inputs and config', () => {
  it.each<[string, Partial<CapsConfig>, string]>([
    ['a negative account cap', { accountNotionalPerInterval: -1 }, 'caps.accountNotionalPerInterval'],
    ['a NaN insurance-loss cap', { accountInsuranceLossPerInterval: Number.NaN }, 'caps.accountInsuranceLossPerInterval'],
    ['a zero interval', { intervalUs: 0 }, 'caps.intervalUs'],
    ['an infinite window', { marketWindowUs: Infinity }, 'caps.marketWindowUs'],
    ['a fractional in-flight cap', { maxInFlight: 1.5 }, 'caps.maxInFlight'],
  ])('rejects %s with INVALID_CONFIG naming the field', (_title, bad, field) => {
    let error: unknown;
    try {
      validateCaps({ ...OFF, ...bad });
    } catch (e) {
      error = e;
    }
    expect(isUnwindError(error) && error.code === 'INVALID_CONFIG' && error.field === field).toBe(true);
  });

  it('accepts the documented defaults', () => {
    expect(validateCaps(DEFAULT_CAPS)).toBe(DEFAULT_CAPS);
    expect(DEFAULT_CAPS).toMatchObject({ intervalUs: 1_600_000, marketWindowUs: 30_000_000, maxInFlight: 50 });
  });

  it.each<[string, Partial<AdmitRequest>, string]>([
    ['a negative notional', { notional: -1 }, 'INVALID_AMOUNT'],
    ['an infinite insurance loss', { insuranceLoss: Infinity }, 'INVALID_AMOUNT'],
    ['a fractional account id', { account: 1.5 }, 'INVALID_ID'],
    ['a negative market id', { market: -1 }, 'INVALID_ID'],
  ])('rejects %s in a request', (_title, bad, code) => {
    expect(codeOf(() => capsWith({}).admit(ask(0, 1, bad)))).toBe(code);
  });

  it('allows a request for nothing without naming a cap', () => {
    const caps = capsWith({ maxInFlight: 0 });
    expect(caps.admit(ask(0, 0))).toEqual({ notional: 0, insuranceLoss: 0, binding: null });
  });
});

describe('memory', () => {
  it('holds only the usage of the current interval and window, however long it runs', () => {
    const caps = capsWith({ intervalUs: 50, marketWindowUs: 100 });
    let most = 0;
    for (let t = 0; t < 20_000; t++) {
      const id = issue(caps, t, 1, { account: t % 7, market: t % 3 });
      caps.settled(id, 1, t);
      most = Math.max(most, caps.heldRecords());
    }
    expect(most).toBeLessThanOrEqual(100 + 50);
    caps.admit(ask(1_000_000, 1));
    expect(caps.heldRecords()).toBe(0);
  });
});

// The property: random admit / issue / settle sequences against a brute-force reference built from the recorded events.
const P: CapsConfig = {
  accountNotionalPerInterval: 100,
  accountInsuranceLossPerInterval: 20,
  intervalUs: 100,
  marketNotionalPerWindow: 150,
  marketWindowUs: 250,
  maxInFlight: 6,
};
const ACCOUNTS = 3;
const MARKETS = 2;

type Op =
  | { kind: 'order'; dt: number; account: number; market: number; notional: number; lossRate: number; issue: boolean; fraction: number }
  | { kind: 'settle'; dt: number; pick: number; fill: number };

// Mostly small steps, so usage piles up inside an interval and a window; now and then exactly an interval or a window.
const dt = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 10 }) },
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constantFrom(P.intervalUs, P.marketWindowUs) },
);
// fc.double spreads over the float range (mostly tiny values); cents and thousandths give amounts of every size,
// the doubles add awkward binary fractions.
const amount = fc.oneof(fc.integer({ min: 0, max: 8_000 }).map((c) => c / 100), fc.double({ min: 0, max: 80, noNaN: true }), fc.constantFrom(0, 10, 50, 100));
const ratio = (max: number) => fc.oneof(fc.integer({ min: 0, max: max * 1_000 }).map((k) => k / 1_000), fc.double({ min: 0, max, noNaN: true }));
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('order' as const),
      dt,
      account: fc.integer({ min: 0, max: ACCOUNTS - 1 }),
      market: fc.integer({ min: 0, max: MARKETS - 1 }),
      notional: amount,
      lossRate: fc.oneof(fc.constant(0), ratio(1)),
      issue: fc.constantFrom(true, true, true, false),
      fraction: fc.oneof(fc.constant(1), ratio(1)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      dt,
      pick: fc.nat(),
      fill: fc.oneof(fc.constant(0), fc.constant(1), ratio(1.2)),
    }),
  },
);

interface Event {
  id: string;
  t: number;
  account: number;
  market: number;
  issued: number;
  notional: number;
  loss: number;
  open: boolean;
}

/** In issue order, as the class sums: the same floating-point sums. */
function sum(events: readonly Event[], keep: (e: Event) => boolean, f: (e: Event) => number): number {
  let s = 0;
  for (const e of events) if (keep(e)) s += f(e);
  return s;
}

/** Plain throws inside the property (fast-check reports the sequence); `expect` per step would dominate the runtime. */
function check(ok: boolean, what: () => string): void {
  if (!ok) throw new Error(what());
}

describe('the caps, over random sequences', () => {
  it('never let admitted and issued notional exceed any cap in any interval or window, nor in-flight exceed its limit', () => {
    const bound = new Map<CapName | null, number>();
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 60, size: 'max' }), (ops) => {
        const caps = new LiquidationCaps(P);
        const twin = new LiquidationCaps(P); // the same calls must give the same answers
        const events: Event[] = [];
        let now = 0;
        let n = 0;
        const inBucket = (a: number) => (e: Event) => e.account === a && Math.floor(e.t / P.intervalUs) === Math.floor(now / P.intervalUs);
        const inWindow = (m: number) => (e: Event) => e.market === m && e.t <= now && now < e.t + P.marketWindowUs;
        const flying = () => events.reduce((k, e) => k + (e.open ? 1 : 0), 0);
        for (const o of ops) {
          now += o.dt;
          if (o.kind === 'order') {
            const want = o.notional;
            const request: AdmitRequest = { account: o.account, market: o.market, notional: want, insuranceLoss: want * o.lossRate, nowUs: now, emergency: false };
            const a = caps.admit(request);
            const b = twin.admit(request);
            check(a.notional === b.notional && a.insuranceLoss === b.insuranceLoss && a.binding === b.binding, () => `same calls, different answers at ${now}`);
            check(a.notional >= 0 && a.notional <= want, () => `admitted ${a.notional} of ${want}`);
            check((a.binding === null) === (a.notional === want), () => `binding ${a.binding} with ${a.notional} of ${want}`);
            bound.set(a.binding, (bound.get(a.binding) ?? 0) + 1);

            // Not over-cautious either: the admitted notional is what the reference's rooms allow, to rounding.
            const lossRoom = Math.max(0, P.accountInsuranceLossPerInterval - sum(events, inBucket(o.account), (e) => e.loss));
            const expected = Math.min(
              want,
              Math.max(0, P.accountNotionalPerInterval - sum(events, inBucket(o.account), (e) => e.notional)),
              request.insuranceLoss > lossRoom ? (want * lossRoom) / request.insuranceLoss : want,
              Math.max(0, P.marketNotionalPerWindow - sum(events, inWindow(o.market), (e) => e.notional)),
              flying() < P.maxInFlight ? want : 0,
            );
            check(Math.abs(a.notional - expected) <= 1e-9, () => `admitted ${a.notional}, the reference allows ${expected} at ${now}`);

            if (o.issue && a.notional > 0) {
              const id = `p${n++}`;
              const notional = a.notional * o.fraction;
              const loss = a.insuranceLoss * o.fraction;
              for (const c of [caps, twin]) c.issued({ id, account: o.account, market: o.market, notional, insuranceLoss: loss, nowUs: now });
              events.push({ id, t: now, account: o.account, market: o.market, issued: notional, notional, loss, open: true });
            }
          } else {
            const open = events.filter((e) => e.open);
            if (open.length > 0) {
              const e = open[o.pick % open.length]!;
              const filled = e.issued * o.fill;
              check(caps.settled(e.id, filled, now) && twin.settled(e.id, filled, now), () => `${e.id} was not in flight`);
              e.open = false;
              const counted = Math.min(filled, e.issued); // documented: usage never grows on settlement
              if (counted < e.issued) e.loss = (e.loss * counted) / e.issued;
              e.notional = counted;
            }
          }

          // The invariants, for every account, market and the global count, after every step.
          for (let acc = 0; acc < ACCOUNTS; acc++) {
            const used = sum(events, inBucket(acc), (e) => e.notional);
            const lost = sum(events, inBucket(acc), (e) => e.loss);
            check(used <= P.accountNotionalPerInterval, () => `account ${acc} liquidated ${used} in the interval of ${now}`);
            check(lost <= P.accountInsuranceLossPerInterval, () => `account ${acc} cost the fund ${lost} in the interval of ${now}`);
          }
          for (let m = 0; m < MARKETS; m++) {
            const used = sum(events, inWindow(m), (e) => e.notional);
            check(used <= P.marketNotionalPerWindow, () => `market ${m} liquidated ${used} in the window ending at ${now}`);
          }
          const k = flying();
          check(caps.inFlight() === k && k <= P.maxInFlight, () => `${caps.inFlight()} in flight, the reference has ${k}`);
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
    // The sequences reach every cap, so the invariants above are not vacuous.
    for (const name of CAP_NAMES) expect(bound.get(name) ?? 0).toBeGreaterThan(100);
  });
});
