import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isUnwindError } from '../src/errors.js';
import { parsePricePathCsv, readPricePathCsv } from '../src/sim/venue/index.js';

const S = 1e6;

/** The code and field of the UnwindError `f` throws. */
function refusal(f: () => unknown): { code: string; field: string | undefined; message: string } {
  try {
    f();
  } catch (e) {
    if (isUnwindError(e)) return { code: e.code, field: e.field, message: e.message };
    throw e;
  }
  throw new Error('accepted');
}

describe('a trades CSV', () => {
  const text = ['timestamp,price,size', '1760129400000,100,2', '1760129400500,99.5,1.5', '1760129400500,99,0', '1760129402000,101,3', ''].join('\n');

  it('reads trades with millisecond timestamps and holds each price until the next trade', () => {
    const path = parsePricePathCsv(text);
    expect(path).toMatchObject({ kind: 'trades', rows: 4, volume: 6.5, startPrice: 100, originUs: 1_760_129_400_000_000, endUs: 2 * S });
    expect(path.priceAt(0)).toBe(100);
    expect(path.priceAt(0.4 * S)).toBe(100);
    expect(path.priceAt(0.5 * S)).toBe(99); // the last trade at that timestamp
    expect(path.priceAt(1.9 * S)).toBe(99);
    expect(path.priceAt(2 * S)).toBe(101);
    expect(path.priceAt(3_600 * S)).toBe(101);
    expect(path.liquidityAt(S)).toBe(1);
  });

  it('reads the same path from seconds, microseconds and ISO 8601 timestamps, with columns in any order and case', () => {
    const expected = parsePricePathCsv(text).points;
    const seconds = ['Price, Size, Timestamp', '100,2,1760129400', '99.5,1.5,1760129400.5', '99,0,1760129400.5', '101,3,1760129402'].join('\r\n');
    const micros = ['timestamp,price,size', '1760129400000000,100,2', '1760129400500000,99.5,1.5', '1760129400500000,99,0', '1760129402000000,101,3'].join('\n');
    const iso = ['timestamp,price,size', '2025-10-10T20:50:00Z,100,2', '2025-10-10 22:50:00.5+02:00,99.5,1.5', '2025-10-10T20:50:00.500Z,99,0', '2025-10-10T20:50:02,101,3'].join('\n');
    for (const t of [seconds, micros, iso]) {
      const path = parsePricePathCsv(t);
      expect(path.points).toEqual(expected);
      expect(path.originUs).toBe(1_760_129_400_000_000);
    }
  });

  it('takes a stated time unit over the one read from the numbers', () => {
    const path = parsePricePathCsv('timestamp,price,size\n0,10,1\n1500,11,1\n', { timeUnit: 'ms' });
    expect(path.endUs).toBe(1.5 * S);
  });
});

describe('a candles CSV', () => {
  const text = [
    'timestamp,open,high,low,close,volume',
    '1760129400,100,103,99,102,10', // up: open, low, high, close
    '1760129460,102,102.5,95,96,30', // down: open, high, low, close
    '1760129520,96,97,94,95,5',
  ].join('\n');

  it('becomes four points a candle, the extreme nearer the close last, a quarter of a candle apart', () => {
    const path = parsePricePathCsv(text, { source: 'btc-1m.csv' });
    expect(path).toMatchObject({ kind: 'candles', rows: 3, volume: 45, startPrice: 100 });
    expect(path.points.slice(0, 8)).toEqual([
      { tUs: 0, price: 100 },
      { tUs: 15 * S, price: 99 },
      { tUs: 30 * S, price: 103 },
      { tUs: 45 * S, price: 102 },
      { tUs: 60 * S, price: 102 },
      { tUs: 75 * S, price: 102.5 },
      { tUs: 90 * S, price: 95 },
      { tUs: 105 * S, price: 96 },
    ]);
    expect(path.priceAt(50 * S)).toBe(102);
    // The last candle reuses the gap before it: 60 s.
    expect(path.endUs).toBe(120 * S + 45 * S);
    expect(path.priceAt(10_000 * S)).toBe(95);
  });

  it('uses candleS when given', () => {
    const path = parsePricePathCsv(text, { candleS: 40 });
    expect(path.points.slice(0, 4).map((p) => p.tUs)).toEqual([0, 10 * S, 20 * S, 30 * S]);
  });
});

describe('a bad CSV', () => {
  const trades = (...rows: string[]): string => ['timestamp,price,size', ...rows].join('\n');
  const candles = (...rows: string[]): string => ['timestamp,open,high,low,close,volume', ...rows].join('\n');
  const at = (text: string) => refusal(() => parsePricePathCsv(text, { source: 'user.csv' }));

  it('is refused at the row that is wrong, naming the line and the column', () => {
    expect(at(trades('1760129400,100,1', '1760129401,abc,1'))).toMatchObject({ code: 'INVALID_PRICE', field: 'user.csv:3' });
    expect(at(trades('1760129400,100,1', '1760129401,-1,1')).message).toMatch(/^user\.csv:3: price: expected a finite number > 0, got '-1'/);
    expect(at(trades('1760129400,100,1', '', '1760129401,100,-2'))).toMatchObject({ code: 'INVALID_SIZE', field: 'user.csv:4' });
    expect(at(trades('1760129400,100,1', '1760129401,100'))).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:3' });
    expect(at(trades('1760129400,100,1', 'yesterday,100,1'))).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:3' });
    expect(at(trades('1760129400,100,1', '1760129300,100,1')).message).toMatch(/user\.csv:3: timestamp: trades must not go back in time/);
    expect(at(trades('1760129400,100,1', '1760129400000,100,1')).message).toMatch(/reads as milliseconds, the first row's as seconds/);
    expect(at(trades('2025-10-10T20:50:00Z,100,1', '1760129401,100,1'))).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:3' });
    expect(at(trades('2025-02-30T00:00:00Z,100,1'))).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:2' });
    expect(at(trades('2024-02-29T00:00:00Z,100,1', '2024-13-01T00:00:00Z,100,1'))).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:3' });
    expect(at(trades('1760129400,100,1', '1760129401,1e999,1'))).toMatchObject({ code: 'INVALID_PRICE', field: 'user.csv:3' });
    expect(at(trades('1760129400,,1'))).toMatchObject({ code: 'INVALID_PRICE', field: 'user.csv:2' });
  });

  it('is refused when a candle breaks low <= open, close <= high, or repeats a timestamp', () => {
    expect(at(candles('1760129400,100,101,99,102,1'))).toMatchObject({ code: 'INVALID_PRICE', field: 'user.csv:2' });
    expect(at(candles('1760129400,100,101,99,100,1', '1760129400,100,101,99,100,1')).message).toMatch(/user\.csv:3: timestamp: candles must strictly advance/);
    expect(at(candles('1760129400,100,101,99,100,x'))).toMatchObject({ code: 'INVALID_SIZE', field: 'user.csv:2' });
  });

  it('is refused at line 1 for an unknown header and at line 2 when it has no rows', () => {
    expect(at('time,price,qty\n1,2,3')).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:1' });
    expect(at('timestamp,price,size,extra\n1,2,3,4')).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:1' });
    expect(at('timestamp,price,size\n\n')).toMatchObject({ code: 'INVALID_SCENARIO', field: 'user.csv:2' });
  });

  it('is refused whole when it is larger than maxBytes', () => {
    expect(refusal(() => parsePricePathCsv(trades('1,100,1', '2,100,1'), { maxBytes: 20 })).code).toBe('CAPACITY_EXCEEDED');
  });
});

describe('a CSV file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unwind-venue-csv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is read from disk, and errors name it by its base name', () => {
    const file = join(dir, 'eth.csv');
    writeFileSync(file, 'timestamp,price,size\n1760129400,4000,1\n1760129460,3900,2\n1760129461,zero,2\n');
    expect(refusal(() => readPricePathCsv(file))).toMatchObject({ code: 'INVALID_PRICE', field: 'eth.csv:4' });
    writeFileSync(file, 'timestamp,price,size\n1760129400,4000,1\n1760129460,3900,2\n');
    expect(readPricePathCsv(file).priceAt(60 * S)).toBe(3900);
  });

  it('is refused before reading when it is over maxBytes', () => {
    const file = join(dir, 'big.csv');
    writeFileSync(file, `timestamp,price,size\n${'1760129400,4000,1\n'.repeat(1_000)}`);
    expect(refusal(() => readPricePathCsv(file, { maxBytes: 1_024 }))).toMatchObject({ code: 'CAPACITY_EXCEEDED', field: 'big.csv' });
  });
});
