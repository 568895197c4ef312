/**
 * Liquidation caps (docs/domain.md section 3): how much liquidation the executor may put on the book now.
 *
 *   account-notional        liquidated notional per account per interval       (dYdX subaccount block limits)
 *   account-insurance-loss  insurance-fund loss per account per interval       (dYdX subaccount block limits)
 *   market-notional         liquidated notional per market per sliding window  (Synthetix maxSecondsInLiquidationWindow)
 *   in-flight               liquidation orders issued and not yet settled      (global)
 *
 * Pure and deterministic: no clock. Every call carries `nowUs`, event time in microseconds taken from the inputs, so
 * a replay of the same inputs gives the same answers. The executor calls, per order, `admit` (how much may go out),
 * then `issued` with what it sends, then `settled` when the order leaves flight (filled completely, or expired).
 * `admit` reserves nothing: issue what it admitted before the next `admit`.
 *
 * Decisions, each tested in test/execution-caps.test.ts:
 * - Accounting: usage counts the issued notional and is corrected down to the filled notional on settlement, so an
 *   expired IOC returns its unfilled part to every budget, and in the end usage is what filled (as dYdX counts).
 *   A fill worth more than the issued notional (the price moved) still counts as the issued notional: settlement
 *   only ever returns budget, so a cap that held at issue keeps holding. The insurance loss of a settled order is
 *   scaled by filled / issued notional.
 * - Account interval: fixed buckets [k * intervalUs, (k + 1) * intervalUs), the way dYdX resets its limits every block;
 *   usage of bucket k no longer counts from (k + 1) * intervalUs on.
 * - Market window: sliding and exact. Usage issued at t counts for any time in [t, t + marketWindowUs) and leaves the
 *   window at exactly t + marketWindowUs.
 * - Binding cap: the cap that allows least; ties go to the first in CAP_NAMES. Allowed 0 means queue the work.
 * - Emergency (health below the emergency level, docs/domain.md section 3): `admit` allows everything and names no cap,
 *   but `issued` still records the order, so later non-emergency requests see that usage.
 * - Time never goes backwards: a `nowUs` earlier than the latest seen is clamped to the latest (and counted in
 *   `clampedTimes`). Clamping errs on the safe side: nothing leaves a window early, and usage recorded at the
 *   clamped time stays in its window at least as long as it would have.
 * - Exactness: window sums are recomputed in issue order at each `admit`, and the room left is rounded down so that
 *   `used + allowed <= cap` holds in floating point, for the same in-order sum a reader would compute.
 *
 * Memory stays bounded by the orders of one interval and one window (plus those in flight): account usage is dropped
 * when the interval ends, market usage when it leaves the window.
 */
import { DEFAULT_CAPS, validateCaps, type CapsConfig } from '../config-types.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { refill } from '../maps.js';

/**
 * A liquidation cap (EngineConfig.caps): per account notional or insurance loss per interval, per market notional per
 * window, orders in flight.
 */
export type CapName = 'account-notional' | 'account-insurance-loss' | 'market-notional' | 'in-flight';

/** Every cap, in the order that breaks ties between caps allowing the same amount. */
export const CAP_NAMES: readonly CapName[] = ['account-notional', 'account-insurance-loss', 'market-notional', 'in-flight'];

export interface AdmitRequest {
  /** Account id (a non-negative integer). */
  readonly account: number;
  /** Market id (a non-negative integer). */
  readonly market: number;
  /** Quote units the order would carry, >= 0. */
  readonly notional: number;
  /** Expected insurance-fund loss of the whole `notional`, quote units, >= 0; assumed proportional to notional. */
  readonly insuranceLoss: number;
  /** Event time, microseconds. */
  readonly nowUs: number;
  /** Below the emergency level: bypass every cap. */
  readonly emergency: boolean;
}

export interface Admission {
  /** Quote units the order may carry now, in [0, requested]; 0 when a cap binds fully (queue the work). */
  readonly notional: number;
  /** The insurance loss attributed to the admitted notional (scaled from the request); pass it to `issued`. */
  readonly insuranceLoss: number;
  /** The cap that allows least, when it allows less than requested; null when nothing binds (or emergency). */
  readonly binding: CapName | null;
}

export interface IssuedOrder {
  /** Unique among the orders in flight. */
  readonly id: string;
  readonly account: number;
  readonly market: number;
  /** Quote units, >= 0. */
  readonly notional: number;
  /** Quote units, >= 0. */
  readonly insuranceLoss: number;
  readonly nowUs: number;
}

/** One order's usage; shared by its account's bucket and its market's window, corrected in place on settlement. */
interface Usage {
  readonly tUs: number;
  readonly market: number;
  readonly issuedNotional: number;
  notional: number;
  insuranceLoss: number;
}

/** A queue over an array: push at the tail, shift at the head, iterate head to tail (issue order). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The queue as a plain array (a snapshot's part), and back. */
  toArray(): T[] {
    return this.items.slice(this.head);
  }
  static of<T>(items: readonly T[]): Fifo<T> {
    const q = new Fifo<T>();
    q.replace(items);
    return q;
  }
  replace(items: readonly T[]): void {
    this.items = [...items];
    this.head = 0;
  }

  push(x: T): void {
    this.items.push(x);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head++];
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  sum(f: (x: T) => number): number {
    let s = 0;
    for (let i = this.head; i < this.items.length; i++) s += f(this.items[i]!);
    return s;
  }
}

/** The caps' usage as plain data (a snapshot's part). */
export interface CapsState {
  readonly now: number;
  readonly clamped: number;
  readonly bucket: number;
  readonly accounts: ReadonlyMap<number, Usage[]>;
  readonly markets: ReadonlyMap<number, readonly Usage[]>;
  readonly window: readonly Usage[];
  readonly flying: ReadonlyMap<string, Usage>;
}

export class LiquidationCaps {
  private readonly config: CapsConfig;
  /** The latest event time seen; calls earlier than it are clamped to it. */
  private now = -Infinity;
  private clamped = 0;
  /** Index of the account interval that `accounts` holds usage for. */
  private bucket = -Infinity;
  /** Account -> usage of the current interval, in issue order. */
  private readonly accounts = new Map<number, Usage[]>();
  /** Market -> usage inside the window, in issue order (which is time order: time never goes backwards). */
  private readonly markets = new Map<number, Fifo<Usage>>();
  /** Every market's usage in issue order, so eviction touches only what leaves the window. */
  private readonly window = new Fifo<Usage>();
  private readonly flying = new Map<string, Usage>();

  constructor(config: CapsConfig = DEFAULT_CAPS) {
    this.config = validateCaps(config);
  }

  /**
   * Snapshot (src/journal), as plain data. One Usage object is shared by its account's bucket, its market's window,
   * the global window and `flying`; a structured clone of the whole state keeps that sharing.
   */
  exportState(): CapsState {
    const markets = new Map<number, Usage[]>();
    for (const [m, q] of this.markets) markets.set(m, q.toArray());
    return { now: this.now, clamped: this.clamped, bucket: this.bucket, accounts: this.accounts, markets, window: this.window.toArray(), flying: this.flying };
  }
  importState(s: CapsState): void {
    this.now = s.now;
    this.clamped = s.clamped;
    this.bucket = s.bucket;
    refill(this.accounts, s.accounts);
    this.markets.clear();
    for (const [m, q] of s.markets) this.markets.set(m, Fifo.of(q));
    this.window.replace(s.window);
    refill(this.flying, s.flying);
  }

  /**
   * How much of `notional` (quote) an order for (account, market) may carry now; 0 when a cap binds fully.
   * Reports the binding cap (the one that allows least). `emergency` bypasses every cap (`issued` still records usage).
   */
  admit(req: AdmitRequest): Admission {
    checkId(req.account, 'account');
    checkId(req.market, 'market');
    checkAmount(req.notional, 'notional');
    checkAmount(req.insuranceLoss, 'insuranceLoss');
    this.advance(req.nowUs);
    const want = req.notional;
    if (req.emergency || want === 0) return { notional: want, insuranceLoss: req.insuranceLoss, binding: null };

    const c = this.config;
    const usage = this.accounts.get(req.account);
    const lossRoom = room(usage === undefined ? 0 : sumOf(usage, lossOf), c.accountInsuranceLossPerInterval);
    const allows: number[] = [
      Math.min(want, room(usage === undefined ? 0 : sumOf(usage, notionalOf), c.accountNotionalPerInterval)),
      req.insuranceLoss <= lossRoom ? want : (want * lossRoom) / req.insuranceLoss,
      Math.min(want, room(this.markets.get(req.market)?.sum(notionalOf) ?? 0, c.marketNotionalPerWindow)),
      this.flying.size < c.maxInFlight ? want : 0,
    ];
    let allowed = want;
    let binding: CapName | null = null;
    for (let i = 0; i < allows.length; i++) {
      if (allows[i]! < allowed) {
        allowed = allows[i]!; // strictly less: a tie keeps the earlier cap
        binding = CAP_NAMES[i]!;
      }
    }
    const loss = Math.min(allowed === want ? req.insuranceLoss : (req.insuranceLoss * allowed) / want, lossRoom);
    return { notional: allowed, insuranceLoss: loss, binding };
  }

  /** Records an issued order: it counts in flight, in its account's interval and in its market's window. */
  issued(order: IssuedOrder): void {
    if (typeof order.id !== 'string' || order.id === '') throw new UnwindError(ErrorCode.InvalidId, `expected a non-empty string, got ${String(order.id)}`, 'id');
    if (this.flying.has(order.id)) throw new UnwindError(ErrorCode.InvalidId, `order ${JSON.stringify(order.id)} is already in flight`, 'id');
    checkId(order.account, 'account');
    checkId(order.market, 'market');
    checkAmount(order.notional, 'notional');
    checkAmount(order.insuranceLoss, 'insuranceLoss');
    this.advance(order.nowUs);
    const u: Usage = { tUs: this.now, market: order.market, issuedNotional: order.notional, notional: order.notional, insuranceLoss: order.insuranceLoss };
    const usage = this.accounts.get(order.account);
    if (usage === undefined) this.accounts.set(order.account, [u]);
    else usage.push(u);
    let m = this.markets.get(order.market);
    if (m === undefined) this.markets.set(order.market, (m = new Fifo()));
    m.push(u);
    this.window.push(u);
    this.flying.set(order.id, u);
  }

  /**
   * An order left flight: filled completely, or expired after a partial fill (or none). Its usage becomes
   * `filledNotional` (at most the issued notional), returning the unfilled part to the budgets of the interval and
   * window it was issued in; its insurance loss scales with it. Returns false, changing nothing, when `id` is not in
   * flight (never issued, or already settled).
   */
  settled(id: string, filledNotional: number, nowUs: number): boolean {
    checkAmount(filledNotional, 'filledNotional');
    this.advance(nowUs);
    const u = this.flying.get(id);
    if (u === undefined) return false;
    this.flying.delete(id);
    const filled = Math.min(filledNotional, u.issuedNotional);
    if (filled < u.issuedNotional) u.insuranceLoss = (u.insuranceLoss * filled) / u.issuedNotional;
    u.notional = filled;
    return true;
  }

  /** Liquidation orders issued and not yet settled. */
  inFlight(): number {
    return this.flying.size;
  }

  /** How many calls carried a time earlier than one already seen (and were clamped to it). */
  clampedTimes(): number {
    return this.clamped;
  }

  /** Usage records held for the current interval and the market windows (memory bound, for tests and metrics). */
  heldRecords(): number {
    let n = this.window.length;
    for (const usage of this.accounts.values()) n += usage.length;
    return n;
  }

  /** Moves event time forward (clamping an earlier one) and drops usage that no longer counts. */
  private advance(nowUs: number): void {
    if (typeof nowUs !== 'number' || !Number.isFinite(nowUs)) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite event time in microseconds, got ${String(nowUs)}`, 'nowUs');
    }
    if (nowUs < this.now) {
      this.clamped++;
      return;
    }
    this.now = nowUs;
    const bucket = Math.floor(nowUs / this.config.intervalUs);
    if (bucket !== this.bucket) {
      this.bucket = bucket;
      this.accounts.clear(); // every record was issued in an earlier interval
    }
    const w = this.config.marketWindowUs;
    for (let u = this.window.peek(); u !== undefined && u.tUs + w <= nowUs; u = this.window.peek()) {
      this.window.shift();
      const m = this.markets.get(u.market)!;
      m.shift(); // the oldest of its market too: both are in issue order
      if (m.length === 0) this.markets.delete(u.market);
    }
  }
}

const notionalOf = (u: Usage): number => u.notional;
const lossOf = (u: Usage): number => u.insuranceLoss;

function sumOf(usage: readonly Usage[], f: (u: Usage) => number): number {
  let s = 0;
  for (const u of usage) s += f(u);
  return s;
}

/** The largest r with used + r <= cap in floating point (0 when none is left); Infinity for a disabled cap. */
function room(used: number, cap: number): number {
  if (cap === Infinity) return Infinity;
  let r = cap - used;
  if (!(r > 0)) return 0;
  while (used + r > cap) r = nextDown(r);
  return r;
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** The largest double below a positive finite x. */
function nextDown(x: number): number {
  f64[0] = x;
  u64[0] = u64[0]! - 1n;
  return f64[0];
}

function checkId(v: number, field: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new UnwindError(ErrorCode.InvalidId, `expected a non-negative integer, got ${String(v)}`, field);
}

function checkAmount(v: number, field: string): void {
  if (typeof v !== 'number' || !(v >= 0) || v === Infinity) {
    throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite number of quote units >= 0, got ${String(v)}`, field);
  }
}
