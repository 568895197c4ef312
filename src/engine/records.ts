/**
 * Inputs (src/engine/inputs.ts) as journal records, and back: what each record kind holds (README "Journal").
 * One mapping both ways, so the writing side and recovery cannot disagree about a column. The journal
 * (src/journal/) only stores records; what they mean is here.
 *
 * The record kinds and their payloads are those of journal format version 1 since its first release: a journal
 * written by any earlier version decodes to the same inputs.
 */
import type { Fill } from '../clearing/open-orders.js';
import type { KillLevel } from '../clearing/market-mode.js';
import type { MarketSpec, PositionUpdate, PriceUpdate } from '../tables/writer.js';
import type { TickBatch } from '../oracle/report.js';
import { SIGNATURE_BYTES } from '../oracle/report.js';
import { KIND_NAMES, RecordKind, type JournalRecord } from '../journal/format.js';
import { Columns, fromJson } from '../journal/payload.js';
import type { JournalWriter } from '../journal/writer.js';
import type { Input } from './inputs.js';

/** The f64 columns of each column kind, in payload order. NaN stands for "absent" where a field is optional. */
export const COLUMNS = {
  [RecordKind.Account]: ['id', 'collateral'],
  [RecordKind.Collateral]: ['account', 'collateral', 'createAccount'],
  [RecordKind.Positions]: ['account', 'market', 'size', 'entryPrice', 'isolatedCollateral'],
  [RecordKind.Prices]: ['market', 'price', 'oraclePrice', 'eventTimeUs'],
  [RecordKind.Ticks]: ['market', 'source', 'price', 'confidence', 'eventTimeUs', 'sourceSequence'],
  [RecordKind.Books]: ['market', 'bid', 'ask', 'last', 'eventTimeUs'],
  [RecordKind.Clock]: ['nowUs'],
  [RecordKind.Depth]: ['market', 'bidVolume', 'askVolume'],
  [RecordKind.EpochStart]: ['epoch', 'lastSequence'],
  [RecordKind.EpochEnd]: ['epoch', 'orders'],
} as const;
type ColumnKind = keyof typeof COLUMNS;
type Column = ArrayLike<number> | undefined;
/** One column per name of a kind's column list (a tuple of the same length). */
type ColumnsOf<Names extends readonly string[]> = { readonly [I in keyof Names]: Column };

function isColumnKind(kind: number): kind is ColumnKind {
  return Object.hasOwn(COLUMNS, kind);
}

/** A column record's columns, in the order COLUMNS names them (`undefined`: all NaN). */
function columns<K extends ColumnKind>(journal: JournalWriter, kind: K, rows: number, values: ColumnsOf<(typeof COLUMNS)[K]>, trailer?: Uint8Array): void {
  journal.appendColumns(kind, rows, values as unknown as readonly Column[], trailer);
}

/** Appends `input` to the journal as its record. */
export function journalInput(journal: JournalWriter, input: Input): void {
  switch (input.kind) {
    case 'market': {
      const { id, symbol, tiers, price, positionCapacity } = input.spec;
      journal.appendJson(RecordKind.Market, { id, symbol, tiers, price, positionCapacity });
      return;
    }
    case 'account':
      return columns(journal, RecordKind.Account, 1, [[input.id], [input.collateral]]);
    case 'collateral':
      return columns(journal, RecordKind.Collateral, 1, [[input.account], [input.collateral], [0]]);
    case 'collaterals': {
      const u = input.updates;
      return columns(journal, RecordKind.Collateral, u.length, [u.map((x) => x.account), u.map((x) => x.collateral), new Array<number>(u.length).fill(input.createAccounts ? 1 : 0)]);
    }
    case 'position':
      return columns(journal, RecordKind.Positions, 1, positionColumns([input.update]));
    case 'positions':
      return columns(journal, RecordKind.Positions, input.updates.length, positionColumns(input.updates));
    case 'price':
      return columns(journal, RecordKind.Prices, 1, [[input.market], [input.price], [input.oraclePrice ?? NaN], undefined]);
    case 'prices': {
      const u = input.updates;
      const col = (f: (x: PriceUpdate) => number | undefined): number[] => u.map((x) => f(x) ?? NaN);
      return columns(journal, RecordKind.Prices, u.length, [col((x) => x.market), col((x) => x.price), col((x) => x.oraclePrice), col((x) => x.eventTimeUs)]);
    }
    case 'priceColumns':
      return columns(journal, RecordKind.Prices, input.n, [input.market, input.price, undefined, input.eventTimeUs]);
    case 'ticks': {
      const b = input.batch;
      const n = b.length;
      return columns(journal, RecordKind.Ticks, n, [b.market, b.source, b.price, b.confidence, b.eventTimeUs, b.sourceSequence], b.signed ? b.signatures?.subarray(0, n * SIGNATURE_BYTES) : undefined);
    }
    case 'books': {
      const b = input.books;
      return columns(journal, RecordKind.Books, b.length, [b.map((x) => x.market), b.map((x) => x.bid), b.map((x) => x.ask), b.map((x) => x.last), b.map((x) => x.eventTimeUs)]);
    }
    case 'depth': {
      const b = input.books;
      return columns(journal, RecordKind.Depth, b.length, [b.map((x) => x.market), b.map((x) => x.bidVolume), b.map((x) => x.askVolume)]);
    }
    case 'clock':
      return columns(journal, RecordKind.Clock, 1, [[input.nowUs]]);
    case 'killSwitch':
      journal.appendJson(RecordKind.KillSwitch, { level: input.level, market: input.market ?? null, reason: input.reason ?? '' });
      return;
    case 'fills':
      journal.appendJson(RecordKind.Fills, input.fills);
      return;
    case 'expiries':
      journal.appendJson(RecordKind.Expiries, input.orderIds);
      return;
    case 'deleverage':
      journal.appendJson(RecordKind.Deleverage, { account: input.account, market: input.market });
      return;
    case 'insurance':
      journal.appendJson(RecordKind.Insurance, { market: input.market, amount: input.amount });
      return;
  }
}

const absent = (v: number): number | undefined => (Number.isNaN(v) ? undefined : v);

/** The input a record holds. Throws on a record that holds none (Config, epoch boundaries, an unknown kind). */
export function decodeInput(r: JournalRecord): Input {
  if (isColumnKind(r.kind)) return decodeColumns(r, new Columns(r.rows, COLUMNS[r.kind].length, r.payload));
  const v = fromJson(r.payload.toString('utf8')) as never;
  switch (r.kind) {
    case RecordKind.Market:
      return { kind: 'market', spec: v as MarketSpec };
    case RecordKind.KillSwitch: {
      const k = v as { level: KillLevel; market: number | null; reason: string };
      return { kind: 'killSwitch', level: k.level, market: k.market ?? undefined, reason: k.reason };
    }
    case RecordKind.Fills:
      return { kind: 'fills', fills: v as Fill[] };
    case RecordKind.Deleverage: {
      const d = v as { account: number; market: number };
      return { kind: 'deleverage', account: d.account, market: d.market };
    }
    case RecordKind.Expiries:
      return { kind: 'expiries', orderIds: v as string[] };
    case RecordKind.Insurance: {
      const d = v as { market: number | 'pooled'; amount: number };
      return { kind: 'insurance', market: d.market, amount: d.amount };
    }
    default:
      throw notAnInput(r);
  }
}

function decodeColumns(r: JournalRecord, c: Columns): Input {
  const n = r.rows;
  const rows = <T>(f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
  switch (r.kind) {
    case RecordKind.Account:
      return { kind: 'account', id: c.value(0), collateral: c.value(1) };
    case RecordKind.Collateral:
      return { kind: 'collaterals', updates: rows((i) => ({ account: c.value(0, i), collateral: c.value(1, i) })), createAccounts: n > 0 && c.value(2) === 1 };
    case RecordKind.Positions:
      return {
        kind: 'positions',
        updates: rows((i) => ({ account: c.value(0, i), market: c.value(1, i), size: c.value(2, i), entryPrice: c.value(3, i), isolatedCollateral: absent(c.value(4, i)) ?? null })),
      };
    case RecordKind.Prices: {
      const oracle = c.column(2);
      const times = c.column(3);
      if (oracle.every(Number.isNaN)) return { kind: 'priceColumns', market: c.column(0), price: c.column(1), n, eventTimeUs: times.some(Number.isNaN) ? undefined : times };
      return { kind: 'prices', updates: rows((i): PriceUpdate => ({ market: c.value(0, i), price: c.value(1, i), oraclePrice: absent(oracle[i]!), eventTimeUs: absent(times[i]!) })) };
    }
    case RecordKind.Ticks: {
      const columnBytes = n * COLUMNS[RecordKind.Ticks].length * 8;
      const signatures = r.payload.byteLength > columnBytes ? new Uint8Array(r.payload.subarray(columnBytes, columnBytes + n * SIGNATURE_BYTES)) : undefined;
      const batch: TickBatch = {
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
      return { kind: 'ticks', batch };
    }
    case RecordKind.Books:
      return { kind: 'books', books: rows((i) => ({ market: c.value(0, i), bid: c.value(1, i), ask: c.value(2, i), last: c.value(3, i), eventTimeUs: c.value(4, i) })) };
    case RecordKind.Clock:
      return { kind: 'clock', nowUs: c.value(0) };
    case RecordKind.Depth:
      return { kind: 'depth', books: rows((i) => ({ market: c.value(0, i), bidVolume: c.value(1, i), askVolume: c.value(2, i) })) };
    default:
      throw notAnInput(r);
  }
}

/** An epoch began: every input before this record landed in it, the last of them `lastSequence`. */
export function journalEpochStart(journal: JournalWriter, epoch: number, lastSequence: number): void {
  columns(journal, RecordKind.EpochStart, 1, [[epoch], [lastSequence]]);
}

/** An epoch's `orders` orders were issued. */
export function journalEpochEnd(journal: JournalWriter, epoch: number, orders: number): void {
  columns(journal, RecordKind.EpochEnd, 1, [[epoch], [orders]]);
}

/** An epoch boundary record's (epoch, second column): EpochStart's last input sequence, EpochEnd's order count. */
export function epochBoundary(r: JournalRecord): { readonly epoch: number; readonly value: number } {
  const c = new Columns(r.rows, COLUMNS[RecordKind.EpochStart].length, r.payload);
  return { epoch: c.value(0), value: c.value(1) };
}

function notAnInput(r: JournalRecord): Error {
  return new Error(`record ${r.sequence} has kind ${r.kind} (${KIND_NAMES[r.kind] ?? 'unknown'}), which is not an input`);
}

/** The columns of a position batch: NaN for a cross-margined position's isolated collateral. */
function positionColumns(updates: readonly PositionUpdate[]): [number[], number[], number[], number[], number[]] {
  return [
    updates.map((u) => u.account),
    updates.map((u) => u.market),
    updates.map((u) => u.size),
    updates.map((u) => u.entryPrice),
    updates.map((u) => u.isolatedCollateral ?? NaN),
  ];
}
