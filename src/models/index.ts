/**
 * Forecasting models for execution strategies: volatility (EWMA, GARCH(1,1), HAR-RV), forecast losses, and market
 * impact fitted to our own fills. Pure and deterministic, for the executor thread: no clock, no unseeded randomness,
 * no iteration over unordered structures; each model's state round-trips through plain data (exportState,
 * importState) for snapshots. Imports only src/domain and the leaves (errors, validate).
 */
export { type EwmaConfig, type EwmaState, DEFAULT_EWMA_CONFIG, validateEwmaConfig, EwmaVolatility } from './ewma.js';
export {
  type GarchConfig,
  type GarchParams,
  type GarchFit,
  type GarchState,
  DEFAULT_GARCH_CONFIG,
  validateGarchConfig,
  fitGarch,
  garchFilter,
  garchLogLikelihood,
  GarchVolatility,
} from './garch.js';
export { type HarConfig, type HarCoefficients, type HarState, DEFAULT_HAR_CONFIG, validateHarConfig, fitHar, HarRv } from './har.js';
export {
  type FillObservation,
  type LinearImpact,
  type SquareRootLaw,
  type ImpactConfig,
  type ImpactState,
  DEFAULT_IMPACT_CONFIG,
  validateImpactConfig,
  validateFillObservation,
  fitLinearImpact,
  fitSquareRootLaw,
  ImpactModel,
} from './impact.js';
export { qlike, meanQlike, mse } from './evaluation.js';
export { type NelderMeadOptions, type NelderMeadResult, nelderMead } from './nelder-mead.js';
export { NormalEquations } from './least-squares.js';
export { RollingWindow } from './rolling-window.js';
