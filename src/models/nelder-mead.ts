/**
 * Nelder-Mead downhill simplex minimization (Nelder and Mead 1965; the step rules and coefficients of Lagarias et al.
 * 1998, as in SciPy's `minimize(method='Nelder-Mead')`), for the GARCH(1,1) likelihood.
 *
 * Why it is written here rather than taken from npm: none of the registry's candidates could be used. `fmin` 0.0.4,
 * the common one, exports nothing when imported from Node ESM (its `main` is a UMD bundle in a `"type": "module"`
 * package, so it only sets `globalThis.fmin`; its source entry imports extensionless paths Node cannot resolve), and
 * its shrink step assigns an undeclared `i`, a ReferenceError in strict mode. `optimization-js` 1.5.0 (last change
 * 2018) ships browserify, jsdoc and travis as runtime dependencies; `numeric` 1.2.6 dates from 2012; `nlopt-js` 0.1.1
 * is a pre-1.0 WebAssembly build with an asynchronous start; `ml-levenberg-marquardt` (maintained) fits least
 * squares, not a likelihood. Replace this file with a maintained library when one fits.
 *
 * Deterministic: a fixed initial simplex, vertices ordered by value with ties kept in index order (an insertion sort
 * with strict comparisons, no engine-dependent sort), NaN values treated as +Infinity, and a bounded number of steps.
 */

export interface NelderMeadOptions {
  /** Largest number of iterations (simplex steps). Default 200 * n (SciPy's). */
  readonly maxIterations?: number;
  /** Largest number of objective evaluations. Default 200 * n (SciPy's). */
  readonly maxEvaluations?: number;
  /** Converged when every vertex is within this of the best in every coordinate (SciPy's xatol). Default 1e-4. */
  readonly xTolerance?: number;
  /** ... and every vertex's value is within this of the best's (SciPy's fatol). Default 1e-4. */
  readonly fTolerance?: number;
  /** The initial simplex: x0 and x0 plus this along each axis. Default 0.1. */
  readonly initialStep?: number;
}

export interface NelderMeadResult {
  /** The best vertex found. */
  readonly x: number[];
  /** The objective there. */
  readonly fx: number;
  readonly iterations: number;
  readonly evaluations: number;
  /** Whether the tolerances were met (rather than a limit on steps or evaluations reached). */
  readonly converged: boolean;
}

/** Reflection, expansion, contraction and shrink coefficients (the standard ones). */
const RHO = 1;
const CHI = 2;
const PSI = 0.5;
const SIGMA = 0.5;

/** Minimizes `f` from `x0`. `f` is called with a fresh array it may keep; a NaN it returns counts as +Infinity. */
export function nelderMead(f: (x: readonly number[]) => number, x0: readonly number[], options: NelderMeadOptions = {}): NelderMeadResult {
  const n = x0.length;
  const maxIterations = options.maxIterations ?? 200 * n;
  const maxEvaluations = options.maxEvaluations ?? 200 * n;
  const xTolerance = options.xTolerance ?? 1e-4;
  const fTolerance = options.fTolerance ?? 1e-4;
  const step = options.initialStep ?? 0.1;
  let evaluations = 0;
  const value = (x: number[]): number => {
    evaluations++;
    const v = f(x);
    return Number.isNaN(v) ? Infinity : v;
  };

  const points: number[][] = [x0.slice()];
  for (let i = 0; i < n; i++) {
    const p = x0.slice();
    p[i] += step;
    points.push(p);
  }
  const values = points.map(value);
  /** Vertex indices, best first once sorted. */
  const order = points.map((_, i) => i);
  const sort = () => {
    for (let i = 1; i <= n; i++) {
      const v = order[i];
      let j = i - 1;
      while (j >= 0 && values[v] < values[order[j]]) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = v;
    }
  };
  const along = (c: readonly number[], worst: readonly number[], t: number): number[] => c.map((ci, i) => ci + t * (ci - worst[i]));
  const replaceWorst = (x: number[], fx: number) => {
    points[order[n]] = x;
    values[order[n]] = fx;
  };

  let iterations = 0;
  let converged = false;
  sort();
  while (iterations < maxIterations && evaluations < maxEvaluations) {
    const best = points[order[0]];
    let spread = 0;
    let fSpread = 0;
    for (let v = 1; v <= n; v++) {
      const p = points[order[v]];
      for (let i = 0; i < n; i++) spread = Math.max(spread, Math.abs(p[i] - best[i]));
      fSpread = Math.max(fSpread, Math.abs(values[order[v]] - values[order[0]]));
    }
    if (spread <= xTolerance && fSpread <= fTolerance) {
      converged = true;
      break;
    }
    iterations++;

    const centroid = new Array<number>(n).fill(0);
    for (let v = 0; v < n; v++) for (let i = 0; i < n; i++) centroid[i] += points[order[v]][i];
    for (let i = 0; i < n; i++) centroid[i] /= n;
    const worst = points[order[n]];
    const fWorst = values[order[n]];

    const xr = along(centroid, worst, RHO);
    const fr = value(xr);
    let shrink = false;
    if (fr < values[order[0]]) {
      const xe = along(centroid, worst, RHO * CHI);
      const fe = value(xe);
      if (fe < fr) replaceWorst(xe, fe);
      else replaceWorst(xr, fr);
    } else if (fr < values[order[n - 1]]) {
      replaceWorst(xr, fr);
    } else if (fr < fWorst) {
      // Outside contraction: between the centroid and the reflected point.
      const xc = along(centroid, worst, PSI * RHO);
      const fc = value(xc);
      if (fc <= fr) replaceWorst(xc, fc);
      else shrink = true;
    } else {
      // Inside contraction: between the centroid and the worst vertex.
      const xcc = along(centroid, worst, -PSI);
      const fcc = value(xcc);
      if (fcc < fWorst) replaceWorst(xcc, fcc);
      else shrink = true;
    }
    if (shrink) {
      const b = points[order[0]];
      for (let v = 1; v <= n; v++) {
        const p = points[order[v]].map((pi, i) => b[i] + SIGMA * (pi - b[i]));
        points[order[v]] = p;
        values[order[v]] = value(p);
      }
    }
    sort();
  }
  return { x: points[order[0]].slice(), fx: values[order[0]], iterations, evaluations, converged };
}
