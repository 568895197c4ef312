/**
 * Seeded scenarios for the engine tests: random markets (2-8, each with 1-3 margin tiers), accounts holding cross
 * and isolated positions across several markets, and a price path with a crash in the middle.
 *
 * `Book` is the tests' plain-JS mirror of every input given to the engine: each call goes to the engine first
 * and is recorded only if the engine accepted it, with the sequence number the engine gave it. A test computes
 * what the engine should decide from the book, never from the engine's tables.
 *
 * `runPath` plays the part of the matching engine beside us: between epochs (and, if asked, while one is in
 * flight) some accounts trade, and each liquidation order is filled in full, in half or not at all, all decided
 * by the seed. `BookState.snapshot()` keeps what an epoch saw apart from what arrived while it ran.
 */
import { Engine, type EngineConfig, type EpochResult, type LiquidationOrder, type MarketSpec, type PositionUpdate, type PriceUpdate } from '../../src/index.js';
import { compileTiers, maintenanceMargin, notional, type MarginTier, type TierSchedule } from '../../src/domain/index.js';
import { Random } from './random.js';

export interface ScenarioOptions {
  readonly seed: number;
  /** Default 300. */
  readonly accounts?: number;
  /** Price batches after loading; default 30. The crash falls in the middle fifth. */
  readonly steps?: number;
  /** Free position slots per market beyond the scenario's own positions; default 16. 0 leaves every market full. */
  readonly spareSlots?: number;
}

export interface ScenarioAccount {
  readonly id: number;
  readonly collateral: number;
  readonly positions: readonly PositionUpdate[];
}

export interface Scenario {
  readonly seed: number;
  /** With `positionCapacity` set. */
  readonly markets: readonly MarketSpec[];
  readonly accounts: readonly ScenarioAccount[];
  /** One batch of price updates per step. */
  readonly path: readonly (readonly PriceUpdate[])[];
  readonly capacity: { readonly markets: number; readonly accounts: number; readonly positions: number };
  /** Positions the scenario opens. */
  readonly positions: number;
}

const round = (x: number, digits = 8): number => Number(x.toPrecision(digits));
const cents = (x: number): number => Math.round(x * 100) / 100;

function tiersFor(rand: Random): MarginTier[] {
  const count = rand.int(1, 3);
  let mmf = rand.range(0.005, 0.04);
  let bound = rand.logRange(20_000, 150_000);
  const tiers: MarginTier[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      mmf = Math.min(0.45, mmf * rand.range(1.3, 2.5));
      bound *= rand.range(2, 6);
    }
    tiers.push({ maxNotional: i === count - 1 ? null : Math.round(bound), maintenanceMarginFraction: round(mmf, 4), initialMarginFraction: round(2 * mmf, 4) });
  }
  return tiers;
}

/** A scenario drawn from `seed`: the same seed always gives the same scenario. */
export function generateScenario(o: ScenarioOptions): Scenario {
  const rand = new Random(o.seed);
  const accountCount = o.accounts ?? 300;
  const steps = o.steps ?? 30;
  const spare = o.spareSlots ?? 16;

  // Markets: ids are sparse and unordered, so that id order and table order differ.
  const marketCount = rand.int(2, 8);
  const marketIds = rand.distinctInts(marketCount, 1, 999);
  const markets = marketIds.map((id) => ({
    id,
    symbol: `M${id}-USD`,
    price: round(rand.logRange(0.05, 80_000), 6),
    tiers: tiersFor(rand),
    // Negative beta: the market rises in the crash, so shorts are liquidated too.
    beta: rand.range(0.5, 1.5) * (rand.chance(0.25) ? -1 : 1),
  }));
  const schedules = new Map(markets.map((m) => [m.id, compileTiers(m.tiers)]));

  // Accounts: 1-4 positions each, mostly long, a fifth isolated; collateral a random multiple of maintenance.
  const held = new Map<number, number>(markets.map((m) => [m.id, 0]));
  const accounts: ScenarioAccount[] = rand.distinctInts(accountCount, 1, 10_000_000).map((id) => {
    const chosen = rand.shuffle(markets).slice(0, rand.int(1, Math.min(4, marketCount)));
    let crossMaintenance = 0;
    const positions = chosen.map((m): PositionUpdate => {
      const n = rand.logRange(500, 400_000);
      const size = round(((rand.chance(0.65) ? 1 : -1) * n) / m.price);
      const entryPrice = round(m.price * rand.range(0.995, 1.005));
      const mm = maintenanceMargin(notional(size, m.price), schedules.get(m.id)!);
      held.set(m.id, held.get(m.id)! + 1);
      if (rand.chance(0.2)) return { account: id, market: m.id, size, entryPrice, isolatedCollateral: cents(mm * rand.logRange(1.05, 8)) };
      crossMaintenance += mm;
      return { account: id, market: m.id, size, entryPrice, isolatedCollateral: null };
    });
    const collateral = crossMaintenance > 0 ? cents(crossMaintenance * rand.logRange(1.05, 10)) : cents(rand.range(0, 1_000));
    return { id, collateral, positions };
  });

  // Prices: a common factor (noise, a crash of ~12%, a partial rebound) times each market's beta, plus own noise.
  const crashFrom = Math.floor(steps * 0.4);
  const crashTo = Math.max(crashFrom + 1, Math.floor(steps * 0.6));
  let factor = 0;
  const own = markets.map(() => 0);
  const path: PriceUpdate[][] = [];
  for (let t = 0; t < steps; t++) {
    const crashing = t >= crashFrom && t < crashTo;
    factor += rand.range(-0.004, 0.004) + (crashing ? Math.log(0.88) / (crashTo - crashFrom) : t >= crashTo ? Math.log(1.04) / (steps - crashTo) : 0);
    const batch: PriceUpdate[] = [];
    markets.forEach((m, i) => {
      own[i] = own[i]! + rand.range(-0.003, 0.003);
      // Outside the crash only some markets move: the others keep their phase-1 results between epochs.
      if (!crashing && !rand.chance(0.6)) return;
      const price = round(m.price * Math.exp(m.beta * factor + own[i]!));
      batch.push(rand.chance(0.3) ? { market: m.id, price, oraclePrice: round(price * rand.range(0.997, 1.003)) } : { market: m.id, price });
    });
    if (batch.length === 0) batch.push({ market: markets[0]!.id, price: round(markets[0]!.price * Math.exp(markets[0]!.beta * factor + own[0]!)) });
    path.push(batch);
  }

  const specs: MarketSpec[] = markets.map((m) => ({
    id: m.id,
    symbol: m.symbol,
    price: m.price,
    tiers: m.tiers,
    positionCapacity: held.get(m.id)! + spare,
  }));
  const positionCapacity = specs.reduce((n, m) => n + m.positionCapacity!, 0);
  return {
    seed: o.seed,
    markets: specs,
    accounts,
    path,
    capacity: { markets: marketCount, accounts: accountCount, positions: positionCapacity },
    positions: [...held.values()].reduce((x, y) => x + y, 0),
  };
}

export interface HeldMarket {
  readonly id: number;
  readonly tiers: readonly MarginTier[];
  readonly schedule: TierSchedule;
  readonly positionCapacity: number;
  markPrice: number;
  oraclePrice: number;
  /** Position slots used (a slot, once taken by an account, stays its own). */
  slots: number;
}

export interface HeldPosition {
  readonly account: number;
  readonly market: number;
  size: number;
  entryPrice: number;
  /** null: cross-margined. */
  isolatedCollateral: number | null;
  /** Sequence number of the input that last set this position. */
  sequence: number;
}

export interface HeldAccount {
  readonly id: number;
  collateral: number;
  /** In the order the account first opened them (the engine's list order). */
  readonly positions: HeldPosition[];
}

/** Markets, accounts and positions as plain JS. */
export class BookState {
  readonly markets = new Map<number, HeldMarket>();
  /** In the order they were added. */
  readonly accounts = new Map<number, HeldAccount>();
  /** Inputs accepted so far (the engine numbers them 1, 2, ...). */
  sequence = 0;

  position(account: number, market: number): HeldPosition | undefined {
    return this.accounts.get(account)?.positions.find((p) => p.market === market);
  }

  /** A deep copy: what an epoch starting now sees, whatever is accepted while it runs. */
  snapshot(): BookState {
    const s = new BookState();
    for (const [id, m] of this.markets) s.markets.set(id, { ...m });
    for (const [id, a] of this.accounts) s.accounts.set(id, { ...a, positions: a.positions.map((p) => ({ ...p })) });
    s.sequence = this.sequence;
    return s;
  }
}

/** The inputs the engine accepted. Every mutator forwards to the engine first and records only what it accepted. */
export class Book extends BookState {
  constructor(readonly engine: Engine) {
    super();
  }

  addMarket(spec: MarketSpec): void {
    this.engine.addMarket(spec);
    this.sequence++;
    this.markets.set(spec.id, {
      id: spec.id,
      tiers: spec.tiers,
      schedule: compileTiers(spec.tiers),
      positionCapacity: spec.positionCapacity ?? Infinity,
      markPrice: spec.price,
      oraclePrice: spec.price,
      slots: 0,
    });
  }

  addAccount(id: number, collateral: number): void {
    this.engine.addAccount(id, collateral);
    this.sequence++;
    this.accounts.set(id, { id, collateral, positions: [] });
  }

  setCollateral(id: number, collateral: number): void {
    this.engine.setCollateral(id, collateral);
    this.sequence++;
    this.accounts.get(id)!.collateral = collateral;
  }

  upsertPosition(u: PositionUpdate): void {
    this.engine.upsertPosition(u);
    const sequence = ++this.sequence;
    const account = this.accounts.get(u.account)!;
    let p = this.position(u.account, u.market);
    if (p === undefined) {
      p = { account: u.account, market: u.market, size: 0, entryPrice: 0, isolatedCollateral: null, sequence };
      account.positions.push(p);
      this.markets.get(u.market)!.slots++;
    }
    p.size = u.size;
    p.entryPrice = u.size === 0 && !u.entryPrice ? 0 : u.entryPrice;
    p.isolatedCollateral = u.isolatedCollateral ?? null;
    p.sequence = sequence;
  }

  pushPrices(batch: readonly PriceUpdate[]): void {
    this.engine.pushPrices(batch);
    for (const u of batch) {
      this.sequence++;
      const m = this.markets.get(u.market)!;
      m.markPrice = u.price;
      m.oraclePrice = u.oraclePrice ?? u.price;
    }
  }

}

/** Starts an engine sized for `s` (autoEpoch off unless `config` says otherwise) and loads the scenario into it. */
export async function startScenario(s: Scenario, config: EngineConfig = {}): Promise<Book> {
  const engine = await Engine.start({ autoEpoch: false, ...config, capacity: { ...s.capacity, ...config.capacity } });
  const book = new Book(engine);
  try {
    for (const m of s.markets) book.addMarket(m);
    for (const a of s.accounts) {
      book.addAccount(a.id, a.collateral);
      for (const p of a.positions) book.upsertPosition(p);
    }
  } catch (e) {
    await engine.close();
    throw e;
  }
  return book;
}

/**
 * Between epochs `count` accounts act: a deposit, a resize of a position, or a new position in a market where
 * the account holds none and a slot is free.
 */
export function trade(book: Book, rand: Random, count: number): void {
  const accounts = [...book.accounts.values()];
  const markets = [...book.markets.values()];
  for (let i = 0; i < count; i++) {
    const a = rand.pick(accounts);
    const action = rand.float();
    const open = a.positions.filter((p) => p.size !== 0);
    if (action < 0.4 || open.length === 0) {
      book.setCollateral(a.id, cents(a.collateral + rand.logRange(10, 10_000)));
    } else if (action < 0.8) {
      const p = rand.pick(open);
      book.upsertPosition({ account: a.id, market: p.market, size: round(p.size * rand.range(0.5, 1.5)), entryPrice: p.entryPrice, isolatedCollateral: p.isolatedCollateral });
    } else {
      const m = rand.pick(markets);
      if (book.position(a.id, m.id) !== undefined || m.slots >= m.positionCapacity) continue;
      const size = round(((rand.chance(0.5) ? 1 : -1) * rand.logRange(500, 50_000)) / m.markPrice);
      book.upsertPosition({ account: a.id, market: m.id, size, entryPrice: m.markPrice, isolatedCollateral: null });
    }
  }
}

/**
 * The matching engine's answer to one epoch's orders, in stream order: about 65% fill in full at the limit price,
 * 20% fill half, 15% do not fill (the position keeps its state, so the engine must not re-issue the order).
 * Realized PnL moves to the account's collateral (an isolated position's collateral returns to it on close).
 */
export function fill(book: Book, orders: readonly LiquidationOrder[], rand: Random): void {
  for (const o of orders) {
    const r = rand.float();
    if (r >= 0.85) continue;
    const p = book.position(o.account, o.market)!;
    const a = book.accounts.get(o.account)!;
    const full = r < 0.65;
    const closed = full ? p.size : p.size / 2;
    const realized = closed * (o.limitPrice - p.entryPrice);
    const remaining = full ? 0 : p.size - closed;
    if (p.isolatedCollateral === null) {
      book.upsertPosition({ account: o.account, market: o.market, size: remaining, entryPrice: full ? 0 : p.entryPrice, isolatedCollateral: null });
      book.setCollateral(o.account, a.collateral + realized);
    } else if (full) {
      const left = p.isolatedCollateral + realized;
      book.upsertPosition({ account: o.account, market: o.market, size: 0, entryPrice: 0, isolatedCollateral: null });
      if (left > 0) book.setCollateral(o.account, a.collateral + left);
    } else {
      book.upsertPosition({ account: o.account, market: o.market, size: remaining, entryPrice: p.entryPrice, isolatedCollateral: Math.max(0, p.isolatedCollateral + realized) });
    }
  }
}

export interface RunOptions {
  /** Accounts that trade before each price batch; default 5. */
  readonly tradesPerStep?: number;
  /** Accounts that trade while each epoch is in flight (their inputs land in the next epoch); default 0. */
  readonly tradesInFlight?: number;
  /** Called after each epoch with the book as that epoch saw it (before the fills of its orders). */
  readonly onEpoch?: (result: EpochResult, seen: BookState) => void;
}

/**
 * Plays the scenario: one epoch over the loaded state, then per step trades, the price batch, one epoch (with
 * more trades while it runs, if asked) and the fills of its orders. Every choice comes from the scenario's seed,
 * and so do the epoch boundaries. Returns every epoch's result.
 */
export async function runPath(book: Book, s: Scenario, o: RunOptions = {}): Promise<EpochResult[]> {
  const rand = new Random((s.seed ^ 0x5bd1e995) >>> 0);
  const results: EpochResult[] = [];
  const epoch = async (): Promise<void> => {
    const seen = o.onEpoch === undefined ? book : book.snapshot();
    const running = book.engine.step();
    if (o.tradesInFlight) {
      await Promise.resolve(); // the epoch has begun: what it sees is fixed
      trade(book, rand, o.tradesInFlight);
    }
    const r = await running;
    o.onEpoch?.(r, seen);
    results.push(r);
    fill(book, r.orders, rand);
  };
  await epoch();
  for (const batch of s.path) {
    trade(book, rand, o.tradesPerStep ?? 5);
    book.pushPrices(batch);
    await epoch();
  }
  return results;
}
