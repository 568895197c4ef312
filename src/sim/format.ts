/** How the demos print a liquidation order: one line, the numbers to 6 significant digits. */
import { type LiquidationOrder } from '../clearing/orders.js';

export function formatOrder(step: number, o: LiquidationOrder): string {
  return (
    `step ${String(step).padStart(4)}  LIQUIDATE ${o.side.toUpperCase().padEnd(4)} ${fmt(o.quantity).padStart(12)} ${o.symbol.padEnd(8)}` +
    ` limit ${fmt(o.limitPrice).padStart(10)} (oracle ${fmt(o.oraclePrice)})  account ${o.account}  health ${o.health.toFixed(3)}  ${o.reason}  id ${o.id}`
  );
}

function fmt(x: number): string {
  return Number(x.toPrecision(6)).toString();
}
