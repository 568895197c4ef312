import { describe, expect, it } from 'vitest';
import { NormalEquations, RollingWindow, nelderMead } from '../src/models/index.js';
import { mulberry32, normal } from '../src/sim/random.js';

const rosenbrock = (x: readonly number[]) => 100 * (x[1] - x[0] * x[0]) ** 2 + (1 - x[0]) ** 2;

describe('nelderMead', () => {
  it("finds Rosenbrock's minimum at (1, 1) from the classic start (-1.2, 1)", () => {
    const m = nelderMead(rosenbrock, [-1.2, 1], { xTolerance: 1e-10, fTolerance: 1e-12, maxIterations: 5000, maxEvaluations: 10_000 });
    expect(m.converged).toBe(true);
    expect(m.x[0]).toBeCloseTo(1, 6);
    expect(m.x[1]).toBeCloseTo(1, 6);
    expect(m.fx).toBeLessThan(1e-12);
  });

  it('minimizes a coupled, badly scaled 3-dimensional quadratic to the tolerance asked', () => {
    const f = (x: readonly number[]) => (x[0] - 3) ** 2 + 100 * (x[1] + 1 - 0.5 * x[0] + 1.5) ** 2 + 0.01 * (x[2] - 0.5) ** 2;
    const m = nelderMead(f, [0, 0, 0], { xTolerance: 1e-10, fTolerance: 1e-14, maxIterations: 10_000, maxEvaluations: 20_000 });
    expect(m.converged).toBe(true);
    expect(m.x[0]).toBeCloseTo(3, 5);
    expect(m.x[1]).toBeCloseTo(-1, 5);
    expect(m.x[2]).toBeCloseTo(0.5, 4);
  });

  it('treats NaN as worse than any number and so stays in the region where the objective is defined', () => {
    const f = (x: readonly number[]) => (x[0] < 0 ? NaN : (x[0] - 2) ** 2 + x[1] * x[1]);
    const m = nelderMead(f, [0.5, 0.5], { xTolerance: 1e-8, fTolerance: 1e-12, initialStep: 1 });
    expect(m.x[0]).toBeCloseTo(2, 4);
    expect(Number.isNaN(m.fx)).toBe(false);
  });

  it('stops at its evaluation limit and says it did not converge', () => {
    const m = nelderMead(rosenbrock, [-1.2, 1], { maxEvaluations: 20 });
    expect(m.converged).toBe(false);
    expect(m.evaluations).toBeLessThanOrEqual(20 + 3);
  });

  it('gives the same bits on every run', () => {
    const runs = [0, 1].map(() => nelderMead(rosenbrock, [-1.2, 1], { xTolerance: 1e-10, fTolerance: 1e-12, maxIterations: 5000 }));
    expect(Object.is(runs[0].x[0], runs[1].x[0]) && Object.is(runs[0].x[1], runs[1].x[1]) && Object.is(runs[0].fx, runs[1].fx)).toBe(true);
    expect(runs[0].evaluations).toBe(runs[1].evaluations);
  });
});

describe('NormalEquations', () => {
  it('recovers exact coefficients from noiseless rows whose columns differ in scale by eight orders', () => {
    const eq = new NormalEquations(3);
    const u = mulberry32(5);
    for (let i = 0; i < 200; i++) {
      const x = [1, 1e-8 * (1 + u()), 1e-8 * u() + 1e-9 * u()];
      eq.add(x, 2e-7 + 0.4 * x[1] - 3 * x[2]);
    }
    const b = eq.solve()!;
    expect(b[0]).toBeCloseTo(2e-7, 18);
    expect(b[1] / 0.4).toBeCloseTo(1, 6);
    expect(b[2] / -3).toBeCloseTo(1, 6);
  });

  it('matches the textbook least-squares line on noisy data', () => {
    // y = 1 + 2x + noise; the slope is sum((x - mx)(y - my)) / sum((x - mx)^2).
    const z = normal(mulberry32(9));
    const xs = Array.from({ length: 100 }, (_, i) => i / 10);
    const ys = xs.map((x) => 1 + 2 * x + 0.3 * z());
    const eq = new NormalEquations(2);
    xs.forEach((x, i) => eq.add([1, x], ys[i]));
    const [a, b] = eq.solve()!;
    const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
    const my = ys.reduce((s, y) => s + y, 0) / ys.length;
    const slope = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
    expect(b).toBeCloseTo(slope, 10);
    expect(a).toBeCloseTo(my - slope * mx, 10);
  });

  it('returns null for collinear columns, an all-zero column, or fewer rows than coefficients', () => {
    const collinear = new NormalEquations(2);
    for (let i = 0; i < 10; i++) collinear.add([i, 2 * i], i);
    expect(collinear.solve()).toBeNull();
    const zero = new NormalEquations(2);
    for (let i = 0; i < 10; i++) zero.add([1, 0], i);
    expect(zero.solve()).toBeNull();
    const short = new NormalEquations(3);
    short.add([1, 2, 3], 1);
    short.add([1, 5, 3], 2);
    expect(short.solve()).toBeNull();
  });
});

describe('RollingWindow', () => {
  it('keeps the last capacity numbers, oldest first, and restores from a plain array', () => {
    const w = new RollingWindow(3);
    for (const v of [1, 2, 3, 4, 5]) w.push(v);
    expect(w.toArray()).toEqual([3, 4, 5]);
    expect([w.at(0), w.at(2), w.length]).toEqual([3, 5, 3]);
    w.reset([7, 8, 9, 10]);
    expect(w.toArray()).toEqual([8, 9, 10]);
    w.push(-0);
    expect(Object.is(w.at(2), -0)).toBe(true);
  });
});
