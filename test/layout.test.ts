/** The shared-memory layout: one map, checked for overlap, alignment and fit, and checked again on attach. */
import { describe, expect, it } from 'vitest';
import { KILL_LEVELS } from '../src/clearing/market-mode.js';
import { MAX_TIERS } from '../src/domain/tiers.js';
import { DEFAULT_POSITIONS_PER_ACCOUNT, type Capacities } from '../src/config-types.js';
import { ErrorCode } from '../src/errors.js';
import {
  allocateTables,
  attachTables,
  BYTES_PER_ACCOUNT,
  BYTES_PER_POSITION,
  computeLayout,
  LAYOUT_VERSION,
  LiquidationMode,
  termOf,
  tierBase,
  type Tables,
} from '../src/tables/layout.js';
import { Random } from './support/random.js';

const SMALL: Capacities = { markets: 3, accounts: 17, positions: 101, positionsPerAccount: 5, candidates: 33, output: 9 };
const GIB = 1024 ** 3;

/** Every table of a table set: each has its own row count (`rowsOf`). */
const TABLES = ['markets', 'accounts', 'positions', 'terms', 'candidates', 'output'] as const;
type TableName = (typeof TABLES)[number];

/** Rows of `table` for `capacities`: the terms table has K rows per account. */
function rowsOf(capacities: Capacities, table: TableName): number {
  if (table === 'terms') return capacities.accounts * (capacities.positionsPerAccount ?? DEFAULT_POSITIONS_PER_ACCOUNT);
  return capacities[table];
}

/** Every typed view of a table set, named `table.column`. */
function columnViews(t: Tables): [string, ArrayBufferView][] {
  return TABLES.flatMap((table) => Object.entries(t[table]).map(([name, v]): [string, ArrayBufferView] => [`${table}.${name}`, v as ArrayBufferView]));
}

/** A copy of `t`'s buffer with `edit` applied to its header words. */
function withHeader(t: Tables, edit: (header: Uint32Array) => void, byteLength = t.buffer.byteLength): SharedArrayBuffer {
  const copy = new SharedArrayBuffer(byteLength);
  new Uint8Array(copy).set(new Uint8Array(t.buffer, 0, Math.min(byteLength, t.buffer.byteLength)));
  edit(new Uint32Array(copy, 0, 8));
  return copy;
}

function layoutError(buffer: SharedArrayBuffer): unknown {
  try {
    attachTables(buffer);
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('the shared-memory layout', () => {
  const rand = new Random(0x1a70);
  const capacitySets: Capacities[] = [
    SMALL,
    { markets: 1, accounts: 1, positions: 1, candidates: 1, output: 1 },
    ...Array.from({ length: 20 }, () => ({
      markets: rand.int(1, 64),
      accounts: rand.int(1, 5_000),
      positions: rand.int(1, 20_000),
      candidates: rand.int(1, 3_000),
      output: rand.int(1, 500),
      // Half the sets take the default K, so both the given and the default one are placed.
      ...(rand.float() < 0.5 ? {} : { positionsPerAccount: rand.int(1, 64) }),
    })),
  ];

  it('has a test for every table the layout places', () => {
    expect(Object.keys(computeLayout(SMALL).tables).sort()).toEqual([...TABLES].sort());
  });

  it.each(capacitySets)('places no two columns, the header or the control words on the same bytes for %o', (capacities) => {
    const layout = computeLayout(capacities);
    const regions = [
      { name: 'header', start: 0, end: 64 },
      { name: 'control', start: layout.controlOffset, end: layout.controlOffset + 8 * 64 },
      ...columnViews(allocateTables(capacities)).map(([name, v]) => ({ name, start: v.byteOffset, end: v.byteOffset + v.byteLength })),
    ].sort((x, y) => x.start - y.start);
    for (let i = 1; i < regions.length; i++) {
      expect(regions[i]!.start, `${regions[i]!.name} overlaps ${regions[i - 1]!.name}`).toBeGreaterThanOrEqual(regions[i - 1]!.end);
    }
  });

  it.each(capacitySets)('starts every column on a 64-byte boundary and ends it inside the buffer for %o', (capacities) => {
    const t = allocateTables(capacities);
    expect(t.layout.controlOffset % 64).toBe(0);
    for (const [name, v] of columnViews(t)) {
      expect(v.byteOffset % 64, name).toBe(0);
      expect(v.byteOffset + v.byteLength, name).toBeLessThanOrEqual(t.layout.byteLength);
    }
    expect(t.buffer.byteLength).toBe(t.layout.byteLength);
  });

  it.each([SMALL, { ...SMALL, positionsPerAccount: undefined }])('sizes every column to its table\'s rows times its elements per row for %o', (capacities) => {
    const t = allocateTables(capacities);
    for (const [name, v] of columnViews(t)) {
      const rows = rowsOf(capacities, name.split('.')[0] as TableName);
      const length = (v as Float64Array).length;
      expect(length % rows, name).toBe(0);
      expect(length, name).toBeGreaterThanOrEqual(rows);
    }
  });

  it('gives the terms table positionsPerAccount rows per account, 16 when not given', () => {
    expect(allocateTables(SMALL).terms.pnl.length).toBe(SMALL.accounts * SMALL.positionsPerAccount!);
    const t = allocateTables({ ...SMALL, positionsPerAccount: undefined });
    expect(t.positionsPerAccount).toBe(DEFAULT_POSITIONS_PER_ACCOUNT);
    expect(t.terms.pnl.length).toBe(SMALL.accounts * 16);
  });

  it('gives every account its own K terms rows, together covering the terms table exactly once (termOf)', () => {
    const t = allocateTables(SMALL);
    const K = t.positionsPerAccount;
    const seen = new Uint8Array(t.terms.pnl.length);
    for (let a = 0; a < SMALL.accounts; a++) {
      for (let k = 0; k < K; k++) seen[termOf(t, a, k)]!++;
      // Account-major: an account's rows are contiguous, so phase 2 reads them in one sweep.
      expect(termOf(t, a, K - 1) - termOf(t, a, 0)).toBe(K - 1);
    }
    expect([...seen].every((n) => n === 1)).toBe(true);
  });

  it('gives every market its own MAX_TIERS elements of each tier column, together covering it exactly once (tierBase)', () => {
    const t = allocateTables(SMALL);
    const seen = new Uint8Array(t.markets.tierUpperBound.length);
    for (let m = 0; m < SMALL.markets; m++) for (let i = 0; i < MAX_TIERS; i++) seen[tierBase(m) + i]!++;
    expect([...seen].every((n) => n === 1)).toBe(true);
    for (const column of [t.markets.maintenanceFraction, t.markets.maintenanceAmount, t.markets.initialFraction, t.markets.initialAmount]) {
      expect(column.length).toBe(seen.length);
    }
  });

  it('numbers the liquidation modes as the kill levels they come from', () => {
    expect(Object.values(LiquidationMode)).toEqual(KILL_LEVELS.map((_, i) => i));
    expect(KILL_LEVELS[LiquidationMode.Halt]).toBe('halt');
    expect(KILL_LEVELS[LiquidationMode.NoNew]).toBe('no-new');
  });

  it('gives the same map for the same capacities', () => {
    expect(computeLayout({ ...SMALL })).toEqual(computeLayout({ ...SMALL }));
  });

  it('counts in BYTES_PER_POSITION and BYTES_PER_ACCOUNT exactly the bytes of one row of their columns', () => {
    const t = allocateTables(SMALL);
    const perRow = (table: 'positions' | 'accounts'): number =>
      Object.values(t[table]).reduce((n, v) => n + (v as ArrayBufferView).byteLength, 0) / SMALL[table];
    expect(BYTES_PER_POSITION).toBe(perRow('positions'));
    expect(BYTES_PER_ACCOUNT).toBe(perRow('accounts'));
  });

  it('fits 10 million positions and 1 million accounts in well under 2 GiB', () => {
    const capacities = { markets: 64, accounts: 1_000_000, positions: 10_000_000, candidates: 1 << 20, output: 65_536 };
    const { byteLength } = computeLayout(capacities);
    expect(byteLength).toBeLessThan(2 * GIB);
    // The tables are the bulk of it: no column is padded by more than one cache line.
    expect(byteLength).toBeGreaterThanOrEqual(capacities.positions * BYTES_PER_POSITION + capacities.accounts * BYTES_PER_ACCOUNT);
  });

  it('rejects capacities that are not positive integers with INVALID_CONFIG', () => {
    for (const bad of [0, -1, 1.5, NaN, 2 ** 31]) {
      expect(() => computeLayout({ ...SMALL, positions: bad })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidConfig }));
    }
  });
});

describe('attaching to a shared buffer', () => {
  it('sees the same bytes through the attached views as through the allocating ones', () => {
    const t = allocateTables(SMALL);
    const other = attachTables(t.buffer);
    t.positions.size[100] = -2.5;
    t.accounts.collateral[16] = 1234.5;
    t.terms.maintenance[termOf(t, 16, 4)] = 7.25;
    expect(other.positions.size[100]).toBe(-2.5);
    expect(other.accounts.collateral[16]).toBe(1234.5);
    expect(other.terms.maintenance[termOf(other, 16, 4)]).toBe(7.25);
    expect(other.positionsPerAccount).toBe(t.positionsPerAccount);
    expect(other.layout).toEqual(t.layout);
  });

  it.each([
    ['a wrong magic number', (h: Uint32Array) => (h[0] = 0x12345678)],
    ['a newer layout version', (h: Uint32Array) => (h[1] = LAYOUT_VERSION + 1)],
    ['an older layout version', (h: Uint32Array) => (h[1] = LAYOUT_VERSION - 1)],
    ['a zeroed header', (h: Uint32Array) => h.fill(0)],
  ])('rejects a buffer with %s with LAYOUT_MISMATCH', (_label, edit) => {
    const e = layoutError(withHeader(allocateTables(SMALL), edit));
    expect(e).toMatchObject({ name: 'UnwindError', code: ErrorCode.LayoutMismatch });
  });

  it.each([
    ['one cache line too long', 64],
    ['one cache line too short', -64],
  ])('rejects a buffer %s for the capacities in its header with LAYOUT_MISMATCH', (_label, delta) => {
    const t = allocateTables(SMALL);
    const e = layoutError(withHeader(t, () => {}, t.buffer.byteLength + delta));
    expect(e).toMatchObject({ name: 'UnwindError', code: ErrorCode.LayoutMismatch });
  });

  // Header words: magic, version, then markets, accounts, positions, positionsPerAccount, candidates, output.
  it.each([
    ['positions', 4, SMALL.positions * 2],
    ['positionsPerAccount (the terms table\'s rows)', 5, SMALL.positionsPerAccount! + 1],
  ])('rejects a buffer whose header claims a %s it was not allocated for with LAYOUT_MISMATCH', (_label, word, value) => {
    const e = layoutError(withHeader(allocateTables(SMALL), (h) => (h[word] = value)));
    expect(e).toMatchObject({ name: 'UnwindError', code: ErrorCode.LayoutMismatch });
  });
});
