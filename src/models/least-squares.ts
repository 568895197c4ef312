/**
 * Ordinary least squares for the models' small regressions (HAR-RV's 4 coefficients, the impact fits' 1 and 2), by
 * the normal equations: X'X b = X'y, accumulated row by row in the order given and solved by Gaussian elimination
 * with partial pivoting. A k x k solve with k <= 4 is a few dozen lines, so no matrix library is brought in for it.
 *
 * Conditioning: the regressors differ in scale by many orders (a constant 1 beside realized variances of 1e-8), so
 * the system is solved in Jacobi-scaled form, (D X'X D) z = D X'y with D = diag(1 / sqrt(X'X_ii)) and b = D z. The
 * scaled matrix has a unit diagonal whatever the units, and a pivot below SINGULAR_PIVOT in it means the columns are
 * collinear (or one is all zero): the solve returns null rather than a meaningless answer.
 *
 * Deterministic: sums run in row order, elimination in a fixed order; the same rows give the same bits.
 */

/** A pivot below this in the unit-diagonal system means collinear columns (the squared cosine between them exceeds 1 - 1e-12). */
const SINGULAR_PIVOT = 1e-12;

/** The normal equations of a regression with `k` coefficients, accumulated one observation at a time. */
export class NormalEquations {
  /** X'X, row-major k x k. */
  private readonly xtx: Float64Array;
  /** X'y. */
  private readonly xty: Float64Array;
  private rowCount = 0;

  constructor(readonly k: number) {
    this.xtx = new Float64Array(k * k);
    this.xty = new Float64Array(k);
  }

  /** Observations added so far. */
  get rows(): number {
    return this.rowCount;
  }

  /** Adds one observation: regressors `x` (length k) and response `y`. */
  add(x: ArrayLike<number>, y: number): void {
    const k = this.k;
    for (let i = 0; i < k; i++) {
      const xi = x[i];
      this.xty[i] += xi * y;
      for (let j = 0; j < k; j++) this.xtx[i * k + j] += xi * x[j];
    }
    this.rowCount++;
  }

  /** The least-squares coefficients, or null when there are fewer rows than coefficients or the columns are collinear. */
  solve(): number[] | null {
    const k = this.k;
    if (this.rowCount < k) return null;
    const d = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const diag = this.xtx[i * k + i];
      if (!(diag > 0) || !Number.isFinite(diag)) return null;
      d[i] = 1 / Math.sqrt(diag);
    }
    // The augmented scaled system [D X'X D | D X'y], row-major k x (k + 1).
    const w = k + 1;
    const a = new Float64Array(k * w);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) a[i * w + j] = d[i] * this.xtx[i * k + j] * d[j];
      a[i * w + k] = d[i] * this.xty[i];
    }
    for (let col = 0; col < k; col++) {
      let pivot = col;
      for (let r = col + 1; r < k; r++) if (Math.abs(a[r * w + col]) > Math.abs(a[pivot * w + col])) pivot = r;
      if (!(Math.abs(a[pivot * w + col]) >= SINGULAR_PIVOT)) return null;
      if (pivot !== col) {
        for (let j = col; j < w; j++) {
          const t = a[col * w + j];
          a[col * w + j] = a[pivot * w + j];
          a[pivot * w + j] = t;
        }
      }
      for (let r = col + 1; r < k; r++) {
        const f = a[r * w + col] / a[col * w + col];
        if (f === 0) continue;
        for (let j = col; j < w; j++) a[r * w + j] -= f * a[col * w + j];
      }
    }
    const z = new Float64Array(k);
    for (let i = k - 1; i >= 0; i--) {
      let s = a[i * w + k];
      for (let j = i + 1; j < k; j++) s -= a[i * w + j] * z[j];
      z[i] = s / a[i * w + i];
    }
    const b = new Array<number>(k);
    for (let i = 0; i < k; i++) b[i] = d[i] * z[i];
    return b.every(Number.isFinite) ? b : null;
  }
}
