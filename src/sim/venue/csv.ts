/**
 * A price path read from a CSV file the user supplies: trades (`timestamp,price,size`) or candles
 * (`timestamp,open,high,low,close,volume`), told apart by the header (column names case-insensitive, any order).
 *
 * Timestamps: ISO 8601 (`2025-10-10T20:50:00Z`, `2025-10-10 20:50:00.250+02:00`, `2025-10-10`; no zone means UTC,
 * so a file reads the same on every machine), or numbers whose unit is `timeUnit` or, by default, read from their
 * size: below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds. Every row must use the first row's
 * format and unit. Trades may share a timestamp but not go back; candles must strictly advance.
 *
 * The path starts (t = 0) at the first row's timestamp and holds each price until the next point (no invented
 * prices between trades). A candle of duration D (the gap to the next candle, the last one reuses the gap before
 * it; `candleS` overrides; 60 s for a lone candle) becomes four points: open at its start, then low and high
 * (high first when it closed below its open) at D/4 and D/2, close at 3D/4. Liquidity is `liquidity` (default 1).
 *
 * A bad row is refused with an UnwindError whose field is `<source>:<line>` (1-based, the header is line 1) and whose
 * message names the column: INVALID_PRICE for a price, INVALID_SIZE for a size or volume, INVALID_SCENARIO for the
 * header, the column count or a timestamp; CAPACITY_EXCEEDED for a file over `maxBytes` (default 64 MiB).
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { ErrorCode, UnwindError, configNumbers } from '../../errors.js';
import { type PricePath } from './paths.js';

export const DEFAULT_CSV_MAX_BYTES = 64 * 1024 * 1024;

export interface CsvPathOptions {
  /** The name errors give the file (default: the file's base name, or 'csv' for text). */
  readonly source?: string;
  readonly maxBytes?: number;
  /** The unit of numeric timestamps; default: read from their size. */
  readonly timeUnit?: 's' | 'ms' | 'us';
  /** A candle's duration in seconds; default: the gap between candles. */
  readonly candleS?: number;
  /** Constant liquidity factor in (0, 1] (default 1). */
  readonly liquidity?: number;
}

export interface CsvPricePath extends PricePath {
  readonly kind: 'trades' | 'candles';
  /** The first row's timestamp, microseconds since 1970 (or since whatever zero numeric timestamps count from). */
  readonly originUs: number;
  /** Path time of the last point: the price holds from there on. */
  readonly endUs: number;
  /** Data rows read. */
  readonly rows: number;
  /** Sum of the size (trades) or volume (candles) column, in base units. */
  readonly volume: number;
  /** The points the path steps through, in time order (`tUs` is path time). */
  readonly points: readonly { readonly tUs: number; readonly price: number }[];
}

const TRADES = ['timestamp', 'price', 'size'] as const;
const CANDLES = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
const UNIT_US = { s: 1e6, ms: 1e3, us: 1 } as const;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Reads and parses a CSV file, refusing one over `maxBytes` before reading it. */
export function readPricePathCsv(file: string, options: CsvPathOptions = {}): CsvPricePath {
  const source = options.source ?? basename(file);
  const maxBytes = options.maxBytes ?? DEFAULT_CSV_MAX_BYTES;
  const size = statSync(file).size;
  if (size > maxBytes) throw new UnwindError(ErrorCode.CapacityExceeded, `file of ${size} bytes; at most ${maxBytes} are read`, source);
  return parsePricePathCsv(readFileSync(file, 'utf8'), { ...options, source });
}

export function parsePricePathCsv(text: string, options: CsvPathOptions = {}): CsvPricePath {
  const source = options.source ?? 'csv';
  const maxBytes = options.maxBytes ?? DEFAULT_CSV_MAX_BYTES;
  const check = configNumbers({ ...options, maxBytes }, 'csv');
  check('maxBytes', (v) => Number.isInteger(v) && v > 0, 'an integer number of bytes > 0');
  if (options.candleS !== undefined) check('candleS', (v) => v > 0 && Number.isFinite(v), 'a finite duration > 0 in seconds');
  if (options.liquidity !== undefined) check('liquidity', (v) => v > 0 && v <= 1, 'a liquidity factor in (0, 1]');
  if (options.timeUnit !== undefined && !Object.hasOwn(UNIT_US, options.timeUnit)) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected 's', 'ms' or 'us', got ${String(options.timeUnit)}`, 'csv.timeUnit');
  }
  if (typeof text !== 'string') throw new UnwindError(ErrorCode.InvalidArgument, 'expected the CSV text as a string', source);
  // A UTF-16 length bounds the UTF-8 bytes from below; close enough to refuse a runaway input before splitting it.
  if (text.length > maxBytes) throw new UnwindError(ErrorCode.CapacityExceeded, `text of ${text.length} characters; at most ${maxBytes} are read`, source);

  const lines = text.split(/\r?\n/);
  if (lines[0]!.charCodeAt(0) === 0xfeff) lines[0] = lines[0]!.slice(1);
  const header = lines[0]!.split(',').map((c) => c.trim().toLowerCase());
  const at = (line: number): string => `${source}:${line}`;
  const refuse: (code: ErrorCode, line: number, message: string) => never = (code, line, message) => {
    throw new UnwindError(code, message, at(line));
  };
  const kind = sameColumns(header, TRADES) ? 'trades' : sameColumns(header, CANDLES) ? 'candles' : undefined;
  if (kind === undefined) {
    refuse(ErrorCode.InvalidScenario, 1, `header '${lines[0]}': expected the columns timestamp,price,size (trades) or timestamp,open,high,low,close,volume (candles)`);
  }
  const columns = kind === 'trades' ? TRADES : CANDLES;
  const index = Object.fromEntries(columns.map((c) => [c, header.indexOf(c)])) as Record<string, number>;

  const clock = new TimestampReader(options.timeUnit);
  const rows: { line: number; tUs: number; values: Record<string, number> }[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = n + 1;
    const raw = lines[n]!;
    if (raw.trim() === '') continue;
    const cells = raw.split(',').map((c) => c.trim());
    if (cells.length !== header.length) refuse(ErrorCode.InvalidScenario, line, `${cells.length} columns; the header has ${header.length}`);
    const tUs = clock.read(cells[index.timestamp!]!, (m) => refuse(ErrorCode.InvalidScenario, line, `timestamp: ${m}`));
    const values: Record<string, number> = {};
    for (const c of columns.slice(1)) {
      const isSize = c === 'size' || c === 'volume';
      const cell = cells[index[c]!]!;
      const v = NUMBER.test(cell) ? Number(cell) : NaN;
      const ok = Number.isFinite(v) && (isSize ? v >= 0 : v > 0);
      if (!ok) refuse(isSize ? ErrorCode.InvalidSize : ErrorCode.InvalidPrice, line, `${c}: expected a finite number ${isSize ? '>= 0' : '> 0'}, got '${cell}'`);
      values[c] = v;
    }
    if (kind === 'candles') {
      const { open, high, low, close } = values as Record<(typeof CANDLES)[number], number>;
      if (low > Math.min(open, close) || high < Math.max(open, close)) {
        refuse(ErrorCode.InvalidPrice, line, `high/low: expected low <= open, close <= high, got open ${open} high ${high} low ${low} close ${close}`);
      }
    }
    const previous = rows[rows.length - 1];
    if (previous !== undefined && (tUs < previous.tUs || (kind === 'candles' && tUs === previous.tUs))) {
      refuse(ErrorCode.InvalidScenario, line, `timestamp: ${kind === 'candles' ? 'candles must strictly advance' : 'trades must not go back in time'} (line ${previous.line} is later or equal)`);
    }
    rows.push({ line, tUs, values });
  }
  if (rows.length === 0) refuse(ErrorCode.InvalidScenario, 2, 'no data rows after the header');

  const originUs = rows[0]!.tUs;
  const points: { tUs: number; price: number }[] = [];
  let volume = 0;
  if (kind === 'trades') {
    for (const r of rows) {
      points.push({ tUs: r.tUs - originUs, price: r.values.price! });
      volume += r.values.size!;
    }
  } else {
    rows.forEach((r, i) => {
      const gap = i + 1 < rows.length ? rows[i + 1]!.tUs - r.tUs : i > 0 ? r.tUs - rows[i - 1]!.tUs : 60e6;
      const d = options.candleS !== undefined ? options.candleS * 1e6 : gap;
      const { open, high, low, close } = r.values as Record<(typeof CANDLES)[number], number>;
      const t = r.tUs - originUs;
      const [first, second] = close < open ? [high, low] : [low, high];
      points.push({ tUs: t, price: open }, { tUs: t + d / 4, price: first }, { tUs: t + d / 2, price: second }, { tUs: t + (3 * d) / 4, price: close });
      volume += r.values.volume!;
    });
    // A fixed candleS longer than the gap would put a candle's close after the next one's open: keep time order.
    for (let i = 1; i < points.length; i++) if (points[i]!.tUs < points[i - 1]!.tUs) points[i] = { ...points[i]!, tUs: points[i - 1]!.tUs };
  }
  const liquidity = options.liquidity ?? 1;
  return {
    kind,
    originUs,
    endUs: points[points.length - 1]!.tUs,
    rows: rows.length,
    volume,
    points,
    startPrice: points[0]!.price,
    priceAt: (tUs) => points[lastAtOrBefore(points, tUs)]!.price,
    liquidityAt: () => liquidity,
  };
}

function sameColumns(header: readonly string[], expected: readonly string[]): boolean {
  return header.length === expected.length && expected.every((c) => header.includes(c));
}

/** The last point at or before `tUs` (the first point for earlier times): the price that holds then. */
function lastAtOrBefore(points: readonly { tUs: number }[], tUs: number): number {
  if (typeof tUs !== 'number' || Number.isNaN(tUs)) throw new UnwindError(ErrorCode.InvalidArgument, `expected a time in microseconds, got ${String(tUs)}`, 'tUs');
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (points[mid]!.tUs <= tUs) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Reads timestamps to microseconds, holding every row to the first row's format and unit. */
class TimestampReader {
  private format: 'iso' | 's' | 'ms' | 'us' | undefined;

  constructor(private readonly unit: 's' | 'ms' | 'us' | undefined) {}

  read(cell: string, refuse: (message: string) => never): number {
    if (NUMBER.test(cell)) {
      const v = Number(cell);
      const unit = this.unit ?? (Math.abs(v) < 1e11 ? 's' : Math.abs(v) < 1e14 ? 'ms' : Math.abs(v) < 1e17 ? 'us' : undefined);
      if (unit === undefined || !Number.isFinite(v)) refuse(`expected seconds, milliseconds or microseconds, got '${cell}'`);
      this.hold(unit!, cell, refuse);
      const us = Math.round(v * UNIT_US[unit!]);
      if (!Number.isSafeInteger(us)) refuse(`'${cell}' is out of range`);
      return us;
    }
    const m = ISO.exec(cell);
    if (m === null) refuse(`expected ISO 8601 or a number, got '${cell}'`);
    this.hold('iso', cell, refuse);
    const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone = 'Z'] = m!;
    // Date.UTC would roll 2025-02-30 over into March: refuse dates that do not exist first.
    const daysInMonth = (Date.UTC(+y!, +mo!, 1) - Date.UTC(+y!, +mo! - 1, 1)) / 86_400_000;
    if (+mo! < 1 || +mo! > 12 || +d! < 1 || +d! > daysInMonth || +h > 23 || +mi > 59 || +s > 59) refuse(`'${cell}' is not a valid date and time`);
    const ms = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s);
    let offsetMin = 0;
    if (zone !== 'Z') {
      const digits = zone.replace(':', '');
      offsetMin = (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
    }
    const subSecondUs = Number(frac.padEnd(6, '0').slice(0, 6));
    return (ms - offsetMin * 60_000) * 1000 + subSecondUs;
  }

  private hold(format: 'iso' | 's' | 'ms' | 'us', cell: string, refuse: (message: string) => never): void {
    if (this.format === undefined) this.format = format;
    else if (this.format !== format) refuse(`'${cell}' reads as ${name(format)}, the first row's as ${name(this.format)}`);
  }
}

function name(format: 'iso' | 's' | 'ms' | 'us'): string {
  return format === 'iso' ? 'ISO 8601' : format === 's' ? 'seconds' : format === 'ms' ? 'milliseconds' : 'microseconds';
}
