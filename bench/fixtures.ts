/**
 * Seeded fixtures: a book of markets, accounts and positions built into a real Engine through its public API.
 *
 * Thread: main only (the engine's input writer). Nothing here reads the clock or Math.random: the same seed
 * gives the same book, byte for byte, so figures from two runs describe the same data.
 *
 * Shape of a book of `positions` positions:
 *   8 markets with 4 margin tiers each (1% .. 10% maintenance), held by 98% .. 40% of accounts (POPULARITY);
 *   every account holds one cross position in each of 2..8 markets (about 5.8 on average, so accounts ~
 *   positions / 5.8: one position per (account, market) and 8 markets cap it at 8, short of "positions / 10");
 *   an account's positions sit in different market shards, so phase 2 assembles each account across shards;
 *   each market's slots are filled in a seeded random order of accounts, as positions opened over time would
 *   be: phase 2 follows an account's list by random access, not by stride;
 *   accounts are healthy (health 3..10) except one in `distressedEvery`, with health 0.9..1.15 (margin calls and
 *   a few liquidations, so the executor has candidates to re-check every epoch);
 *   two victim accounts (after the regular ones), each with a single long of 10,000 notional at health 1.5 in
 *   the most held market and in the least held one: liquidatable once that market falls 1%
 *   (push-to-order-latency.ts). Each market keeps 8 spare slots.
 */
import { Engine, domain, type EngineConfig, type MarketSpec } from '../src/index.js';
import { mulberry32 } from '../src/sim/random.js';

const TIERS = [
  { maxNotional: 50_000, initialMarginFraction: 0.02, maintenanceMarginFraction: 0.01 },
  { maxNotional: 250_000, initialMarginFraction: 0.04, maintenanceMarginFraction: 0.02 },
  { maxNotional: 1_000_000, initialMarginFraction: 0.1, maintenanceMarginFraction: 0.05 },
  { maxNotional: null, initialMarginFraction: 0.2, maintenanceMarginFraction: 0.1 },
];
const SCHEDULE = domain.compileTiers(TIERS);

export const MARKETS: readonly MarketSpec[] = [
  { id: 1, symbol: 'BTC-USD', price: 60_000, tiers: TIERS },
  { id: 2, symbol: 'ETH-USD', price: 3_000, tiers: TIERS },
  { id: 3, symbol: 'SOL-USD', price: 150, tiers: TIERS },
  { id: 4, symbol: 'BNB-USD', price: 550, tiers: TIERS },
  { id: 5, symbol: 'XRP-USD', price: 0.6, tiers: TIERS },
  { id: 6, symbol: 'DOGE-USD', price: 0.15, tiers: TIERS },
  { id: 7, symbol: 'AVAX-USD', price: 25, tiers: TIERS },
  { id: 8, symbol: 'LINK-USD', price: 14, tiers: TIERS },
];
/** Probability that an account holds a position in MARKETS[k] (before the at-least-2 rule). */
const POPULARITY = [0.98, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4] as const;
const MIN_MARKETS_PER_ACCOUNT = 2;
const SPARE_SLOTS = 8;

/** The victims of the latency bench: one cross long each, in the most and the least held market. */
const VICTIM_MARKETS = [0, MARKETS.length - 1] as const;
export const VICTIM_NOTIONAL = 10_000;
/** At the base price: equity 150, maintenance 100 (health 1.5); 1% lower: equity 50 < maintenance 99. */
export const VICTIM_COLLATERAL = 150;

export interface BookSpec {
  /** Positions of the regular accounts (the victims add one each). */
  readonly positions: number;
  readonly seed: number;
  /** One account in this many is near its limit; 0: none (the latency bench keeps every other account safe). */
  readonly distressedEvery: number;
}

export interface Victim {
  readonly account: number;
  readonly market: MarketSpec;
  /** Regular accounts with a position in the victim's market: those a push there makes phase 2 re-assemble. */
  readonly accountsInMarket: number;
}

export interface Book {
  readonly spec: BookSpec;
  /** Regular accounts, ids 1..accounts; victims follow. */
  readonly accounts: number;
  readonly victims: readonly Victim[];
  /** Positions held in each market by regular accounts. */
  readonly perMarket: readonly number[];
  readonly capacity: { markets: number; accounts: number; positions: number };
  /** Positions in the tables, victims included. */
  readonly totalPositions: number;
}

/** The per-position values, dropped once the engine holds them. */
interface BookData {
  /** Per (account, market), dense `account * 8 + market`; 0 where the account holds nothing. */
  readonly size: Float64Array;
  readonly entry: Float64Array;
  readonly collateral: Float64Array;
  /** Per market, the account indexes holding it, in slot order. */
  readonly slotOrder: readonly Uint32Array[];
}

function generate(spec: BookSpec): { book: Book; data: BookData } {
  const rand = mulberry32(spec.seed);
  const m = MARKETS.length;
  if (!Number.isInteger(spec.positions) || spec.positions < MIN_MARKETS_PER_ACCOUNT) throw new Error('positions must be an integer >= 2');

  // Which markets each account holds, until the positions add up exactly (the last account may hold fewer).
  const masks: number[] = [];
  let total = 0;
  while (total < spec.positions) {
    let mask = 0;
    for (let k = 0; k < m; k++) if (rand() < POPULARITY[k]!) mask |= 1 << k;
    while (popcount(mask) < MIN_MARKETS_PER_ACCOUNT) mask |= 1 << Math.floor(rand() * m);
    for (let k = m - 1; k >= 0 && total + popcount(mask) > spec.positions; k--) mask &= ~(1 << k);
    masks.push(mask);
    total += popcount(mask);
  }
  const n = masks.length;

  const size = new Float64Array(n * m);
  const entry = new Float64Array(n * m);
  const collateral = new Float64Array(n);
  const perMarket: number[] = new Array<number>(m).fill(0);
  for (let a = 0; a < n; a++) {
    let pnl = 0;
    let mm = 0;
    for (let k = 0; k < m; k++) {
      if ((masks[a]! & (1 << k)) === 0) continue;
      perMarket[k]!++;
      const price = MARKETS[k]!.price;
      const notional = 100 + rand() * 19_900; // quote units, inside tier 0
      const q = (rand() < 0.5 ? -1 : 1) * (notional / price);
      const e = price * (0.98 + rand() * 0.04);
      size[a * m + k] = q;
      entry[a * m + k] = e;
      pnl += domain.unrealizedPnl(q, price, e);
      mm += domain.maintenanceMargin(domain.notional(q, price), SCHEDULE);
    }
    const distressed = spec.distressedEvery > 0 && a % spec.distressedEvery === spec.distressedEvery - 1;
    const health = distressed ? 0.9 + rand() * 0.25 : 3 + rand() * 7;
    collateral[a] = health * mm - pnl;
  }

  // Each market's slots in a seeded random order of its accounts (Fisher-Yates).
  const slotOrder = perMarket.map((count, k) => {
    const order = new Uint32Array(count);
    let i = 0;
    for (let a = 0; a < n; a++) if ((masks[a]! & (1 << k)) !== 0) order[i++] = a;
    for (let j = count - 1; j > 0; j--) {
      const r = Math.floor(rand() * (j + 1));
      const t = order[j]!;
      order[j] = order[r]!;
      order[r] = t;
    }
    return order;
  });

  const victims = VICTIM_MARKETS.map((k, i) => ({ account: n + 1 + i, market: MARKETS[k]!, accountsInMarket: perMarket[k]! }));
  const book: Book = {
    spec,
    accounts: n,
    victims,
    perMarket,
    capacity: { markets: m, accounts: n + victims.length, positions: total + m * SPARE_SLOTS },
    totalPositions: total + victims.length,
  };
  return { book, data: { size, entry, collateral, slotOrder } };
}

function popcount(x: number): number {
  let c = 0;
  for (let v = x; v !== 0; v &= v - 1) c++;
  return c;
}

function registerMarketsAndAccounts(engine: Engine, book: Book, collateral: (a: number) => number): void {
  MARKETS.forEach((spec, k) => engine.addMarket({ ...spec, positionCapacity: book.perMarket[k]! + SPARE_SLOTS }));
  for (let a = 0; a < book.accounts; a++) engine.addAccount(a + 1, collateral(a));
  for (const v of book.victims) engine.addAccount(v.account, VICTIM_COLLATERAL);
}

/**
 * Sets a victim's position again with the same values before a sample: a new input sequence, so the executor may order
 * it again. A position has at most one open order and these samples never fill theirs, so the victim's last order is
 * expired first, as a venue ends an IOC it could not fill. Listens for the victims' orders from construction on.
 */
export class VictimReset {
  private readonly open = new Map<number, string>();
  private readonly off: () => void;

  constructor(
    private readonly engine: Engine,
    victims: readonly Victim[],
  ) {
    const ids = new Set(victims.map((v) => v.account));
    this.off = engine.onOrder((o) => {
      if (ids.has(o.account)) this.open.set(o.account, o.id);
    });
  }

  /** Expires the victim's open order (if any), upserts its position; returns the upsert's input sequence. */
  reset(v: Victim): number {
    const id = this.open.get(v.account);
    if (id !== undefined) {
      this.open.delete(v.account);
      this.engine.expire(id);
    }
    this.engine.upsertPosition({ account: v.account, market: v.market.id, size: VICTIM_NOTIONAL / v.market.price, entryPrice: v.market.price });
    return this.engine.lastSequence;
  }

  detach(): void {
    this.off();
  }
}

/** Fills `engine` through addMarket, addAccount and upsertPosition. Returns the upserts' wall time in ms. */
function fill(engine: Engine, book: Book, data: BookData): number {
  const m = MARKETS.length;
  registerMarketsAndAccounts(engine, book, (a) => data.collateral[a]!);
  const started = performance.now();
  for (let k = 0; k < m; k++) {
    const market = MARKETS[k]!.id;
    const order = data.slotOrder[k]!;
    for (let i = 0; i < order.length; i++) {
      const a = order[i]!;
      engine.upsertPosition({ account: a + 1, market, size: data.size[a * m + k]!, entryPrice: data.entry[a * m + k]! });
    }
  }
  for (const v of book.victims) {
    engine.upsertPosition({ account: v.account, market: v.market.id, size: VICTIM_NOTIONAL / v.market.price, entryPrice: v.market.price });
  }
  return performance.now() - started;
}

/** The seeded book of `spec` and the capacities an engine needs for it (an engine started elsewhere: a replica). */
export function bookOf(spec: BookSpec): Book {
  return generate(spec).book;
}

/** Fills an engine started with `bookOf(spec).capacity` (as buildEngine does). Returns the book and the upserts' ms. */
export function fillEngine(engine: Engine, spec: BookSpec): { book: Book; fillMs: number } {
  const { book, data } = generate(spec);
  return { book, fillMs: fill(engine, book, data) };
}

/** Generates the book, starts an engine with its capacities and fills it. */
export async function buildEngine(spec: BookSpec, config: EngineConfig): Promise<{ engine: Engine; book: Book; fillMs: number }> {
  const { book, data } = generate(spec);
  const engine = await Engine.start({ ...config, capacity: book.capacity });
  try {
    return { engine, book, fillMs: fill(engine, book, data) };
  } catch (e) {
    await engine.close();
    throw e;
  }
}

/**
 * A second engine over the same book without replaying 10^7 upserts: markets and accounts are registered through
 * the API (so the writer's indexes match), then the market, account, position and term tables are copied byte for byte
 * from `source` (same capacities, so the same layout). Call it while `source` has no epoch in flight. The copy
 * includes the accounts' phase-2 cache, which the clone's first epoch recomputes (all its markets start dirty).
 * Only the writer's sequence counter differs, which no figure depends on. Checked through the account view.
 */
export async function cloneEngine(source: Engine, book: Book, config: EngineConfig): Promise<Engine> {
  const engine = await Engine.start({ ...config, capacity: book.capacity });
  try {
    registerMarketsAndAccounts(engine, book, () => 0);
    const { from, to } = inputTablesByteRange(source);
    new Uint8Array(engine.tables.buffer, from, to - from).set(new Uint8Array(source.tables.buffer, from, to - from));
    verifyClone(source, engine, book);
    return engine;
  } catch (e) {
    await engine.close();
    throw e;
  }
}

const BYTES = { f64: 8, u32: 4, i32: 4, u8: 1 } as const;

/** The byte range of the markets, accounts, positions and terms tables, from the layout map. */
function inputTablesByteRange(engine: Engine): { from: number; to: number } {
  let from = Infinity;
  let to = 0;
  const { tables } = engine.tables.layout;
  for (const table of [tables.markets, tables.accounts, tables.positions, tables.terms]) {
    for (const c of Object.values(table)) {
      from = Math.min(from, c.offset);
      to = Math.max(to, c.offset + c.length * BYTES[c.type]);
    }
  }
  return { from, to };
}

function verifyClone(source: Engine, clone: Engine, book: Book): void {
  const ids = [1, book.accounts, 1 + (book.accounts >>> 1), 1 + (book.accounts >>> 2), ...book.victims.map((v) => v.account)];
  for (const id of ids) {
    const x = JSON.stringify(source.account(id));
    const y = JSON.stringify(clone.account(id));
    if (x !== y) throw new Error(`cloned engine differs at account ${id}:\n${x}\n${y}`);
  }
}

/** A batch that moves every market's price: alternately the base price and one 1e-4 above it. */
export function allMarketsBatch(round: number): { market: number; price: number }[] {
  const up = round % 2 === 1 ? 1.0001 : 1;
  return MARKETS.map((s) => ({ market: s.id, price: s.price * up }));
}
