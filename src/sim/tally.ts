/** What the demos count of the engine's fill settlements: fees, insurance cover, deficit, liquidated notional. */
import type { Engine } from '../engine/engine.js';
import { MARKETS } from './world.js';

export interface SettlementTally {
  fills: number;
  /** Quote notional closed, at the fill prices. */
  notional: number;
  accounts: Set<number>;
  /** Liquidation fees paid into the insurance funds, quote. */
  fees: number;
  /** Paid by the insurance funds for fills worse than the bankruptcy value, quote. */
  insuranceCover: number;
  /** Losses the funds could not pay (for ADL or socialized loss), quote. */
  deficit: number;
}

/** Counts every settlement the engine reports from now on. */
export function tallySettlements(engine: Engine): SettlementTally {
  const t: SettlementTally = { fills: 0, notional: 0, accounts: new Set(), fees: 0, insuranceCover: 0, deficit: 0 };
  engine.onFill((f) => {
    t.fills++;
    t.notional += f.closed * f.price;
    t.accounts.add(f.account);
    t.fees += f.fee;
    t.insuranceCover += f.insuranceCover;
    t.deficit += f.deficit;
  });
  return t;
}

/** Every demo market's insurance fund starts with this, quote. */
export const INSURANCE_SEED = 250_000;

export function seedInsurance(engine: Engine): void {
  for (const m of MARKETS) engine.depositInsurance(m.id, INSURANCE_SEED);
}

export function insuranceHeld(engine: Engine): number {
  return MARKETS.reduce((sum, m) => sum + engine.insuranceFund(m.id), 0);
}

/** The money side of a demo's summary. */
export interface MoneySummary {
  readonly accountsLiquidated: number;
  readonly notionalLiquidated: number;
  readonly fees: number;
  readonly insuranceCover: number;
  readonly deficit: number;
  /** The funds' balance at the end, quote (seeded with INSURANCE_SEED per market). */
  readonly insuranceFunds: number;
  /** The ledger's sum over all entries: always 0 atoms. */
  readonly ledgerTotal: bigint;
}

export function moneySummary(engine: Engine, t: SettlementTally): MoneySummary {
  return {
    accountsLiquidated: t.accounts.size,
    notionalLiquidated: t.notional,
    fees: t.fees,
    insuranceCover: t.insuranceCover,
    deficit: t.deficit,
    insuranceFunds: insuranceHeld(engine),
    ledgerTotal: engine.ledger.total(),
  };
}
