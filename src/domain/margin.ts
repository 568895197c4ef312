/**
 * Margin of positions and of margin groups (docs/domain.md section 1). Pure functions of plain numbers.
 *
 * A margin group is what shares one pool of collateral: all cross positions of an account, or one isolated
 * position with its own collateral. Its equity (total net collateral, TNC) is collateral plus unrealized PnL;
 * it is liquidatable when equity < maintenance margin (TMMR); health = equity / maintenance margin.
 */

/** |size| * price, in quote units. */
export function notional(size: number, price: number): number {
  return Math.abs(size) * price;
}

/** size * (price - entryPrice), in quote units; size is signed (long > 0). */
export function unrealizedPnl(size: number, price: number, entryPrice: number): number {
  return size * (price - entryPrice);
}

/** equity / maintenance; Infinity for a group with no maintenance requirement. */
export function health(equity: number, maintenance: number): number {
  return maintenance > 0 ? equity / maintenance : Infinity;
}

/** The liquidation rule: strictly below maintenance. A group without requirement is never liquidatable. */
export function canBeLiquidated(equity: number, maintenance: number): boolean {
  return maintenance > 0 && equity < maintenance;
}

/** Below the margin-call level but not (necessarily) liquidatable; `marginCallHealth` > 1. */
export function isMarginCall(equity: number, maintenance: number, marginCallHealth: number): boolean {
  return maintenance > 0 && equity < maintenance * marginCallHealth;
}

/** equity - initial margin: what a group may still commit to new exposure. */
export function freeCollateral(equity: number, initial: number): number {
  return equity - initial;
}
