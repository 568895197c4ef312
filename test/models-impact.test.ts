import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { ImpactModel, fitLinearImpact, fitSquareRootLaw, type FillObservation, type ImpactState } from '../src/models/index.js';
import { mulberry32, normal } from '../src/sim/random.js';
import { VenueBook, bookParamsFor } from '../src/sim/venue/index.js';

const LINEAR = { epsilon: 0.01, eta: 0.002, gamma: 0.001 };

/**
 * Fills from the Almgren-Chriss linear model: s (M1 - M0) = gamma q + noise (sd 0.05), s (P - M0) = epsilon +
 * eta q / T + gamma q / 2 + noise (sd 0.02); q in [1, 100], T in [1, 60] s, arrival mids around 100.
 */
function linearFills(n: number, seed: number): FillObservation[] {
  const u = mulberry32(seed);
  const z = normal(mulberry32(seed + 500));
  return Array.from({ length: n }, () => {
    const side = u() < 0.5 ? 1 : -1;
    const quantity = 1 + 99 * u();
    const durationSec = 1 + 59 * u();
    const arrivalMidPrice = 100 * Math.exp(0.01 * z());
    const cost = LINEAR.epsilon + (LINEAR.eta * quantity) / durationSec + (LINEAR.gamma * quantity) / 2 + 0.02 * z();
    const permanent = LINEAR.gamma * quantity + 0.05 * z();
    return { side, quantity, price: arrivalMidPrice + side * cost, arrivalMidPrice, midAfter: arrivalMidPrice + side * permanent, durationSec, volatility: 1e-3, bookVolume: 1000 } as FillObservation;
  });
}

const SQRT = { y: 0.7, delta: 0.5 };

/** Fills from the square-root law with lognormal noise (sd 0.3 in logs): cost / M0 = Y sigma (q / V)^delta e^noise; q / V in [1e-4, 1e-1]. */
function sqrtLawFills(n: number, seed: number): FillObservation[] {
  const u = mulberry32(seed);
  const z = normal(mulberry32(seed + 500));
  return Array.from({ length: n }, () => {
    const side = u() < 0.5 ? 1 : -1;
    const bookVolume = 500 + 1000 * u();
    const quantity = bookVolume * Math.pow(10, -4 + 3 * u());
    const volatility = 5e-4 + 2e-3 * u();
    const cost = SQRT.y * volatility * Math.pow(quantity / bookVolume, SQRT.delta) * Math.exp(0.3 * z());
    const arrivalMidPrice = 2000;
    return { side, quantity, price: arrivalMidPrice * (1 + side * cost), arrivalMidPrice, midAfter: arrivalMidPrice, durationSec: 10, volatility, bookVolume } as FillObservation;
  });
}

describe('fitLinearImpact', () => {
  // Tolerances: gamma and eta within 10%, epsilon within 0.01 (the noise's sd is 0.02).
  it.each([1, 2])('recovers epsilon 0.01, eta 0.002 and gamma 0.001 from 500 simulated fills (seed %i)', (seed) => {
    const fit = fitLinearImpact(linearFills(500, seed))!;
    expect(Math.abs(fit.gamma / LINEAR.gamma - 1)).toBeLessThan(0.1);
    expect(Math.abs(fit.eta / LINEAR.eta - 1)).toBeLessThan(0.1);
    expect(Math.abs(fit.epsilon - LINEAR.epsilon)).toBeLessThan(0.01);
    expect(fit.fills).toBe(500);
  });

  it('returns null when every fill has the same rate (eta is not identified)', () => {
    const fills = linearFills(50, 3).map((f) => ({ ...f, quantity: 10, durationSec: 5 }));
    expect(fitLinearImpact(fills)).toBeNull();
  });
});

/**
 * The venue simulator's BTC book (bookParamsFor(60,000): tick 1, 0.22 BTC a level, gamma 3.6) with the same depth at
 * every level, so that a sweep walks the price down a straight line: the k-th base unit taken costs k * tick / depth0
 * beyond the best level, and a sweep of q pays (tick / depth0) q / 2 on average beyond it.
 */
const FLAT_BOOK = bookParamsFor(60_000, { decayPerLevel: 0 });
const SLOPE = FLAT_BOOK.tick / FLAT_BOOK.depth0;
/** The schedule's step the observations charge each order over (AC's h(n / tau) = eta n / tau), seconds. */
const TAU = 5;

/**
 * One IOC sweep per fill, as the venue runs them: a fresh book around a mid somewhere in a tick, levels taken from
 * the old mid's best outward, then the mid moved by gamma q for good (after the fills). q in [0.5, 20] BTC.
 */
function sweepFills(n: number, seed: number, gamma: number, permanentShare?: number): FillObservation[] {
  const u = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const book = new VenueBook({ ...FLAT_BOOK, gamma }, 60_000);
    book.setReference(60_000 + 60 * u(), 1, 0);
    const side = u() < 0.5 ? 'buy' : 'sell';
    const quantity = 0.5 + 19.5 * u();
    const s = book.sweep(side, quantity, undefined, 0);
    const f = { side: side === 'buy' ? 1 : -1, quantity, price: s.averagePrice!, arrivalMidPrice: s.midBefore, midAfter: s.midAfter, durationSec: TAU, volatility: 1e-3, bookVolume: 83 } as const;
    return permanentShare === undefined ? f : { ...f, permanentShare };
  });
}

describe('fitLinearImpact on single IOC sweeps', () => {
  // The sweep carries none of its own permanent move (it lands after the fills): eta = (slope / 2) tau, positive,
  // whatever gamma is; gamma from the mid after, exactly.
  it.each([
    ['the venue gamma 3.6', FLAT_BOOK.gamma],
    ['a gamma 2.5 times the slope', 2.5 * SLOPE],
  ])("with permanentShare 0 recovers the book's slope as eta = slope tau / 2, within 2%, at %s", (_, gamma) => {
    const fit = fitLinearImpact(sweepFills(300, 11, gamma, 0))!;
    expect(fit.eta).toBeGreaterThan(0);
    expect(Math.abs(fit.eta / ((SLOPE * TAU) / 2) - 1)).toBeLessThan(0.02);
    expect(Math.abs(fit.gamma / gamma - 1)).toBeLessThan(1e-6);
    // epsilon is the half spread, between half a tick and a tick (the mid anywhere in its tick, a 1-tick spread).
    expect(fit.epsilon).toBeGreaterThan(0.4 * FLAT_BOOK.tick);
    expect(fit.epsilon).toBeLessThan(1.1 * FLAT_BOOK.tick);
  });

  it('with the even-trading share 1/2 (the default) comes out gamma tau / 2 short: negative once gamma exceeds the slope', () => {
    const gamma = 2.5 * SLOPE;
    const swept = fitLinearImpact(sweepFills(300, 11, gamma, 0))!;
    for (const even of [fitLinearImpact(sweepFills(300, 11, gamma))!, fitLinearImpact(sweepFills(300, 11, gamma, 0.5))!]) {
      expect(even.eta).toBeCloseTo(swept.eta - (gamma * TAU) / 2, 6);
      expect(even.eta).toBeLessThan(0);
    }
  });

  it('refuses a permanentShare outside [0, 1], naming it', () => {
    const m = new ImpactModel();
    const f = sweepFills(1, 12, FLAT_BOOK.gamma, 0)[0]!;
    for (const permanentShare of [-0.1, 1.5, NaN]) expect(() => m.observe({ ...f, permanentShare })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, field: 'fill.permanentShare' }));
    expect(m.count).toBe(0);
  });
});

describe('fitSquareRootLaw', () => {
  // Tolerances: delta within 0.05, Y within 15%.
  it.each([1, 2])('recovers Y 0.7 and delta 0.5 by log-log regression from 500 simulated fills (seed %i)', (seed) => {
    const fit = fitSquareRootLaw(sqrtLawFills(500, seed))!;
    expect(Math.abs(fit.delta - SQRT.delta)).toBeLessThan(0.05);
    expect(Math.abs(fit.y / SQRT.y - 1)).toBeLessThan(0.15);
    expect(fit.sqrtLawFills).toBe(500);
  });

  it('leaves fills that beat the arrival price out of the log-log fit', () => {
    const fills = sqrtLawFills(100, 4);
    const better = fills.slice(0, 10).map((f) => ({ ...f, price: f.arrivalMidPrice * (1 - f.side * 1e-4) }));
    expect(fitSquareRootLaw([...better, ...fills.slice(10)])!.sqrtLawFills).toBe(90);
  });
});

describe('ImpactModel', () => {
  it('fits first at minFills, then every refitEvery fills, over the last window fills', () => {
    const m = new ImpactModel({ window: 100, minFills: 30, refitEvery: 20 });
    const fills = linearFills(200, 5);
    const refitsAt: number[] = [];
    let last = m.linear;
    fills.forEach((f, i) => {
      m.observe(f);
      if (m.linear !== last) refitsAt.push(i + 1);
      last = m.linear;
    });
    expect(refitsAt).toEqual([30, 50, 70, 90, 110, 130, 150, 170, 190]);
    expect(m.count).toBe(100);
    expect(m.linear).toEqual(fitLinearImpact(fills.slice(90, 190)));
    const c = m.linear!;
    expect(m.expectedCost(20, 4)).toBe(c.epsilon + (c.eta * 20) / 4 + (c.gamma * 20) / 2);
    expect(m.permanentImpact(20)).toBe(c.gamma * 20);
    const law = m.sqrtLaw!;
    expect(m.sqrtLawCost(10, 1e-3, 1000)).toBe(law.y * 1e-3 * Math.pow(0.01, law.delta));
  });

  it('has no forecast before its first fit', () => {
    const m = new ImpactModel();
    m.observe(linearFills(1, 6)[0]);
    expect([m.expectedCost(1, 1), m.permanentImpact(1), m.sqrtLawCost(1, 1e-3, 10)]).toEqual([undefined, undefined, undefined]);
  });

  it('continues bit-identically after its state is exported mid-stream, cloned (structuredClone and JSON) and imported', () => {
    const config = { window: 150, minFills: 30, refitEvery: 20 };
    const fills = [...linearFills(200, 7), ...sqrtLawFills(200, 8)];
    const whole = new ImpactModel(config);
    const trace = fills.map((f) => {
      whole.observe(f);
      return [whole.expectedCost(10, 3), whole.sqrtLawCost(10, 1e-3, 1000)];
    });
    const first = new ImpactModel(config);
    fills.slice(0, 177).forEach((f) => first.observe(f));
    const state = first.exportState();
    for (const copy of [structuredClone(state), JSON.parse(JSON.stringify(state)) as ImpactState]) {
      const restored = new ImpactModel(config);
      restored.importState(copy);
      const rest = fills.slice(177).map((f) => {
        restored.observe(f);
        return [restored.expectedCost(10, 3), restored.sqrtLawCost(10, 1e-3, 1000)];
      });
      expect(rest.every((v, i) => Object.is(v[0], trace[177 + i][0]) && Object.is(v[1], trace[177 + i][1]))).toBe(true);
      expect(restored.exportState()).toEqual(whole.exportState());
    }
  });

  it('refuses a fill observation with a bad field, naming it', () => {
    const m = new ImpactModel();
    const good = linearFills(1, 9)[0];
    expect(() => m.observe({ ...good, side: 0 as 1 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, field: 'fill.side' }));
    expect(() => m.observe({ ...good, quantity: -1 })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidSize, field: 'fill.quantity' }));
    expect(() => m.observe({ ...good, midAfter: NaN })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidPrice, field: 'fill.midAfter' }));
    expect(() => m.observe({ ...good, durationSec: 0 })).toThrow(expect.objectContaining({ field: 'fill.durationSec' }));
    expect(m.count).toBe(0);
  });
});
