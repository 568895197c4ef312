/**
 * Every input the engine accepts, as a journal record, and back: what each record kind holds (README "Journal")
 * and the engine call that replays it. One table, so the writing side (src/engine/engine.ts) and the replaying
 * side (src/engine/replay.ts) cannot disagree about a column.
 */
import type { Engine } from './engine.js';
import type { OrderFill } from '../clearing/open-orders.js';
import type { KillLevel } from '../clearing/market-mode.js';
import type { MarketSpec, PositionUpdate, PriceUpdate } from '../tables/writer.js';
import type { ReportColumns } from '../oracle/report.js';
import { SIGNATURE_BYTES } from '../oracle/report.js';
import { KIND_NAMES, RecordKind, type JournalRecord } from '../journal/format.js';
import { Columns, fromJson } from '../journal/payload.js';

/** The f64 columns of each column kind, in payload order. NaN stands for "absent" where a field is optional. */
export const COLUMNS = {
  [RecordKind.Account]: ['id', 'collateral'],
  [RecordKind.Collateral]: ['account', 'collateral', 'createAccount'],
  [RecordKind.Positions]: ['account', 'market', 'size', 'entryPrice', 'isolatedCollateral'],
  [RecordKind.Prices]: ['market', 'price', 'oraclePrice', 'eventTimeUs'],
  [RecordKind.Ticks]: ['market', 'source', 'price', 'confidence', 'eventTimeUs', 'sourceSequence'],
  [RecordKind.Books]: ['market', 'bid', 'ask', 'last', 'eventTimeUs'],
  [RecordKind.Clock]: ['nowUs'],
  [RecordKind.EpochStart]: ['epoch', 'lastSequence'],
  [RecordKind.EpochEnd]: ['epoch', 'orders'],
} as const;
export type ColumnKind = keyof typeof COLUMNS;

export function isColumnKind(kind: number): kind is ColumnKind {
  return Object.hasOwn(COLUMNS, kind);
}

const absent = (v: number): number | undefined => (Number.isNaN(v) ? undefined : v);

/** The input a record holds, replayed into `engine` by the call that accepted it (autoEpoch off). */
export function applyInput(engine: Engine, r: JournalRecord): void {
  if (isColumnKind(r.kind)) {
    const c = new Columns(r.rows, COLUMNS[r.kind].length, r.payload);
    applyColumns(engine, r, c);
    return;
  }
  const v = fromJson(r.payload.toString('utf8')) as never;
  switch (r.kind) {
    case RecordKind.Market:
      return engine.addMarket(v as MarketSpec);
    case RecordKind.KillSwitch: {
      const k = v as { level: KillLevel; market: number | null; reason: string };
      return engine.setKillSwitch(k.level, k.market ?? undefined, k.reason);
    }
    case RecordKind.Fills:
      return engine.fill(v as OrderFill[]);
    case RecordKind.Deleverage: {
      const d = v as { account: number; market: number };
      return engine.deleverage(d.account, d.market);
    }
    case RecordKind.Expiries:
      return engine.expire(v as string[]);
    case RecordKind.Insurance: {
      const d = v as { market: number | 'pooled'; amount: number };
      return engine.depositInsurance(d.market, d.amount);
    }
    default:
      throw new Error(`record ${r.sequence} has kind ${r.kind} (${KIND_NAMES[r.kind] ?? 'unknown'}), which is not an input`);
  }
}

function applyColumns(engine: Engine, r: JournalRecord, c: Columns): void {
  const n = r.rows;
  const rows = <T>(f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
  switch (r.kind) {
    case RecordKind.Account:
      return engine.addAccount(c.value(0), c.value(1));
    case RecordKind.Collateral:
      return engine.setCollaterals(rows((i) => ({ account: c.value(0, i), collateral: c.value(1, i) })), n > 0 && c.value(2) === 1);
    case RecordKind.Positions:
      return engine.upsertPositions(
        rows((i) => ({ account: c.value(0, i), market: c.value(1, i), size: c.value(2, i), entryPrice: c.value(3, i), isolatedCollateral: absent(c.value(4, i)) ?? null })),
      );
    case RecordKind.Prices: {
      const oracle = c.column(2);
      const times = c.column(3);
      if (oracle.every(Number.isNaN)) return engine.pushPriceColumns(c.column(0), c.column(1), n, times.some(Number.isNaN) ? undefined : times);
      return engine.pushPrices(rows((i): PriceUpdate => ({ market: c.value(0, i), price: c.value(1, i), oraclePrice: absent(oracle[i]!), eventTimeUs: absent(times[i]!) })));
    }
    case RecordKind.Ticks: {
      const signatures = r.payload.byteLength > n * 6 * 8 ? new Uint8Array(r.payload.subarray(n * 6 * 8, n * 6 * 8 + n * SIGNATURE_BYTES)) : undefined;
      const batch: ReportColumns = {
        length: n,
        market: c.column(0),
        source: c.column(1),
        price: c.column(2),
        confidence: c.column(3),
        eventTimeUs: c.column(4),
        sourceSequence: c.column(5),
        signed: signatures !== undefined,
        signatures,
      };
      return engine.pushTicks(batch);
    }
    case RecordKind.Books:
      return engine.pushBooks(rows((i) => ({ market: c.value(0, i), bid: c.value(1, i), ask: c.value(2, i), last: c.value(3, i), eventTimeUs: c.value(4, i) })));
    case RecordKind.Clock:
      return engine.advanceClock(c.value(0));
    default:
      throw new Error(`record ${r.sequence} has kind ${r.kind} (${KIND_NAMES[r.kind] ?? 'unknown'}), which is not an input`);
  }
}

/** The record of a position batch: NaN for a cross-margined position's isolated collateral. */
export function positionColumns(updates: readonly PositionUpdate[]): number[][] {
  return [
    updates.map((u) => u.account),
    updates.map((u) => u.market),
    updates.map((u) => u.size),
    updates.map((u) => u.entryPrice),
    updates.map((u) => u.isolatedCollateral ?? NaN),
  ];
}
