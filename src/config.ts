/** Engine configuration with its defaults (dYdX v4 for the fillable price; DOMAIN.md). */
import { availableParallelism } from 'node:os';
import { DEFAULT_BANKRUPTCY_ADJUSTMENT, DEFAULT_SPREAD_TO_MAINTENANCE_MARGIN_RATIO } from './domain/liquidation.js';
import { ErrorCode, UnwindError } from './errors.js';
import { type Capacities, DEFAULT_POSITIONS_PER_ACCOUNT } from './tables/layout.js';
import { type LiquidatorConfig } from './execution/liquidator.js';

export interface EngineConfig {
  /**
   * Preallocated table sizes. Defaults: 64 markets, 100,000 accounts, 1,000,000 positions, and at most
   * min(markets, 16) positions per account.
   */
  readonly capacity?: Partial<Capacities>;
  /** Scan worker threads; 0 scans on the calling thread and runs the executor in-process (for `check`). */
  readonly scanWorkers?: number;
  readonly bankruptcyAdjustment?: number;
  readonly spreadToMaintenanceMarginRatio?: number;
  /** Health below which a margin call is raised; must exceed 1. Default 1.2. */
  readonly marginCallHealth?: number;
  /** Run an epoch automatically after inputs (default true); false: epochs run only on `step()`. */
  readonly autoEpoch?: boolean;
}

export interface ResolvedConfig extends LiquidatorConfig {
  readonly capacity: Capacities;
  readonly scanWorkers: number;
  readonly autoEpoch: boolean;
}

export const DEFAULT_MARGIN_CALL_HEALTH = 1.2;

export function resolveConfig(c: EngineConfig = {}): ResolvedConfig {
  const markets = c.capacity?.markets ?? 64;
  const accounts = c.capacity?.accounts ?? 100_000;
  const positions = c.capacity?.positions ?? 1_000_000;
  const capacity: Capacities = {
    markets,
    accounts,
    positions,
    positionsPerAccount: c.capacity?.positionsPerAccount ?? Math.min(markets, DEFAULT_POSITIONS_PER_ACCOUNT),
    candidates: c.capacity?.candidates ?? Math.min(accounts + positions, 1 << 20),
    output: c.capacity?.output ?? 65_536,
  };
  const scanWorkers = c.scanWorkers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  if (!Number.isInteger(scanWorkers) || scanWorkers < 0 || scanWorkers > 64) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an integer in [0, 64], got ${String(scanWorkers)}`, 'scanWorkers');
  }
  const bankruptcyAdjustment = c.bankruptcyAdjustment ?? DEFAULT_BANKRUPTCY_ADJUSTMENT;
  if (!(bankruptcyAdjustment > 0) || !Number.isFinite(bankruptcyAdjustment)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a finite number > 0, got ${String(bankruptcyAdjustment)}`, 'bankruptcyAdjustment');
  }
  const spreadToMaintenanceMarginRatio = c.spreadToMaintenanceMarginRatio ?? DEFAULT_SPREAD_TO_MAINTENANCE_MARGIN_RATIO;
  if (!(spreadToMaintenanceMarginRatio >= 0 && spreadToMaintenanceMarginRatio <= 1)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a number in [0, 1], got ${String(spreadToMaintenanceMarginRatio)}`, 'spreadToMaintenanceMarginRatio');
  }
  const marginCallHealth = c.marginCallHealth ?? DEFAULT_MARGIN_CALL_HEALTH;
  if (!(marginCallHealth > 1) || !Number.isFinite(marginCallHealth)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected a finite number > 1, got ${String(marginCallHealth)}`, 'marginCallHealth');
  }
  return {
    capacity,
    scanWorkers,
    bankruptcyAdjustment,
    spreadToMaintenanceMarginRatio,
    marginCallHealth,
    autoEpoch: c.autoEpoch ?? true,
  };
}
