/**
 * Thread: main. The trigger index (README "Scan"): for every live position, the mark price of its market at which
 * its margin group could fall below the margin-call level, kept in one heap per market and side, so that an epoch
 * visits only the positions whose trigger the mark has crossed instead of scanning the book.
 *
 * A group is a candidate when equity < marginCallHealth * maintenance (src/domain/margin.ts `isMarginCall`). For the
 * position of size q in market m, with every other term of its group held at a bound, the group's margin is a
 * function of the mark p of m alone:
 *
 *   g(p) = E_o + q (p - entry) - h (M_o + maint_m(|q| p)),   maint_m(n) = n f_k - a_k on tier k
 *
 * A long's g rises with p (while h f_k < 1 on every tier), so the group is a candidate only below the root p*; a
 * short's g falls, so only above it. The root is found tier by tier in closed form, then widened by a relative
 * 1e-9 so that rounding never hides a candidate.
 *
 *   - Isolated positions: E_o is the position's own collateral and M_o is 0: exact.
 *   - Cross positions: E_o = collateral + the PnL of the account's other cross positions at the far end of their
 *     market's band (a long at ref * (1 - band), a short at ref * (1 + band)), and M_o their maintenance at
 *     ref * (1 + band): a bound that holds while every other market stays within its band around its reference
 *     price. When a market's mark leaves its band, its reference moves to the mark and every account holding it
 *     is recomputed. An account with one cross position is exact.
 *   - Where the root does not exist in that form (h f_k >= 1 on a tier) the trigger is infinite: always a candidate.
 *
 * The index proposes; it never decides. `collect` checks every proposed group exactly, with the executor's own
 * group functions (src/scan/group.ts), and writes only those below the margin-call level: the candidate set a full
 * scan would write. A full scan every `fullScanEvery` epochs (src/engine/core.ts) compares the two and counts any
 * group the index missed (`missed`, which must stay 0).
 */
import { isMarginCall } from '../domain/margin.js';
import { Control, isolatedRef, NONE, PositionFlag, tierBase, type Tables } from '../tables/layout.js';
import { marketMaintenance } from '../tables/margin.js';
import { crossGroup, emptyGroup, isolatedGroup } from '../scan/group.js';

/** Relative widening of every trigger, against rounding in the root and in the group's sums. */
const WIDEN = 1e-9;

export interface TriggerIndexConfig {
  readonly marginCallHealth: number;
  /** A market's band around its reference price, as a fraction (e.g. 0.02): cross bounds hold within it. */
  readonly band: number;
}

/** An indexed binary heap of position slots by trigger price: a max-heap (longs) or a min-heap (shorts). */
class SlotHeap {
  slots = new Int32Array(16);
  keys = new Float64Array(16);
  size = 0;
  constructor(
    private readonly max: boolean,
    private readonly at: Int32Array,
  ) {}

  private above(x: number, y: number): boolean {
    return this.max ? x > y : x < y;
  }

  private place(i: number, slot: number, key: number): void {
    this.slots[i] = slot;
    this.keys[i] = key;
    this.at[slot] = i;
  }

  set(slot: number, key: number): void {
    let i = this.at[slot]!;
    if (i < 0) {
      if (this.size === this.slots.length) this.grow();
      i = this.size++;
      this.place(i, slot, key);
    } else {
      this.keys[i] = key;
    }
    this.up(i);
    this.down(this.at[slot]!);
  }

  remove(slot: number): void {
    const i = this.at[slot]!;
    if (i < 0) return;
    this.at[slot] = -1;
    const last = --this.size;
    if (i === last) return;
    this.place(i, this.slots[last]!, this.keys[last]!);
    this.up(i);
    this.down(this.at[this.slots[i]!]!);
  }

  /** Calls `visit` for every slot whose key is at or beyond `bound` (>= for a max-heap, <= for a min-heap). */
  each(bound: number, visit: (slot: number) => void, stack: number[]): void {
    if (this.size === 0) return;
    stack.length = 0;
    stack.push(0);
    while (stack.length > 0) {
      const i = stack.pop()!;
      const k = this.keys[i]!;
      if (this.max ? !(k >= bound) : !(k <= bound)) continue; // the whole subtree is on the safe side
      visit(this.slots[i]!);
      const l = 2 * i + 1;
      if (l < this.size) stack.push(l);
      if (l + 1 < this.size) stack.push(l + 1);
    }
  }

  private up(i: number): void {
    const slot = this.slots[i]!;
    const key = this.keys[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(key, this.keys[p]!)) break;
      this.place(i, this.slots[p]!, this.keys[p]!);
      i = p;
    }
    this.place(i, slot, key);
  }

  private down(i: number): void {
    const slot = this.slots[i]!;
    const key = this.keys[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const c = l + 1 < this.size && this.above(this.keys[l + 1]!, this.keys[l]!) ? l + 1 : l;
      if (!this.above(this.keys[c]!, key)) break;
      this.place(i, this.slots[c]!, this.keys[c]!);
      i = c;
    }
    this.place(i, slot, key);
  }

  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    slots.set(this.slots);
    const keys = new Float64Array(this.keys.length * 2);
    keys.set(this.keys);
    this.slots = slots;
    this.keys = keys;
  }
}

/** The trigger index's counters since start (`engine.scanStats()`). */
export interface TriggerIndexStats {
  /** Positions whose trigger was computed, and accounts recomputed because a market left its band. */
  recomputed: number;
  /** Markets that left their band, so that the cross accounts holding them were recomputed. */
  bandResets: number;
  /** Groups the index proposed, and those the exact check kept (written as candidates). */
  proposed: number;
  /** Proposed groups the exact check kept, written as candidates. */
  candidates: number;
  /** Groups a full scan found below the margin-call level that the index had not proposed (must be 0). */
  missed: number;
}

export class TriggerIndex {
  /** Per slot: its place in its heap (-1: none), and which of its market's heaps holds it (0: none, 1 longs, 2 shorts). */
  private readonly at: Int32Array;
  private readonly sideOf: Uint8Array;
  private heaps: SlotHeap[] = [];
  /** Per market: the band's reference price (0: none yet). */
  private reference = new Float64Array(0);
  /** Per account: the stamp of the last `collect` that proposed it (a cross account has an entry per position). */
  private readonly accountStamp: Uint32Array;
  private stamp = 0;
  private readonly stack: number[] = [];
  private readonly g = emptyGroup();
  readonly stats: TriggerIndexStats = { recomputed: 0, bandResets: 0, proposed: 0, candidates: 0, missed: 0 };

  constructor(
    private readonly t: Tables,
    private readonly config: TriggerIndexConfig,
  ) {
    const slots = t.positions.size.length;
    this.at = new Int32Array(slots).fill(-1);
    this.sideOf = new Uint8Array(slots);
    this.accountStamp = new Uint32Array(t.accounts.id.length);
  }

  /** Every account from scratch: after a start, a recovery, or a change of any market's tiers. */
  rebuild(accounts: number): void {
    this.reference = new Float64Array(this.t.markets.id.length);
    for (let m = 0; m < this.reference.length; m++) this.reference[m] = this.t.markets.markPrice[m]!;
    for (let a = 0; a < accounts; a++) this.account(a);
  }

  /**
   * An epoch's changes before its candidates: the accounts an input touched, and the markets whose price moved
   * (a market that left its band moves its reference and recomputes every account holding it).
   */
  update(accounts: Iterable<number>, markets: readonly number[]): void {
    if (this.reference.length < this.t.markets.id.length) {
      const grown = new Float64Array(this.t.markets.id.length);
      grown.set(this.reference);
      this.reference = grown;
    }
    const again = new Set<number>(accounts);
    const mk = this.t.markets;
    const p = this.t.positions;
    for (const m of markets) {
      const mark = mk.markPrice[m]!;
      const ref = this.reference[m]!;
      if (ref > 0 && Math.abs(mark - ref) <= this.config.band * ref) continue;
      this.reference[m] = mark;
      if (ref === 0) continue; // a new market: its positions' accounts are among the touched ones
      this.stats.bandResets++;
      const start = mk.positionStart[m]!;
      for (let s = start; s < start + mk.positionCount[m]!; s++) if ((p.flags[s]! & PositionFlag.Live) !== 0) again.add(p.account[s]!);
    }
    for (const a of again) this.account(a);
  }

  /**
   * Writes the candidate table: every group the index proposes at the current marks that is below the margin-call
   * level, checked exactly. Returns how many (possibly more than the table holds: the executor then re-checks all).
   */
  collect(): number {
    const t = this.t;
    const stamp = ++this.stamp;
    let n = 0;
    const capacity = t.candidates.ref.length;
    const h = this.config.marginCallHealth;
    const visit = (slot: number): void => {
      this.stats.proposed++;
      const isolated = (t.positions.flags[slot]! & PositionFlag.Isolated) !== 0;
      let ref: number;
      if (isolated) {
        // An isolated group is its one slot, in one heap: visited once.
        const g = isolatedGroup(t, slot, this.g);
        if (!isMarginCall(g.equity, g.maintenance, h)) return;
        ref = isolatedRef(slot);
      } else {
        const a = t.positions.account[slot]!;
        if (this.accountStamp[a] === stamp) return;
        this.accountStamp[a] = stamp;
        const g = crossGroup(t, a, this.g);
        if (!isMarginCall(g.equity, g.maintenance, h)) return;
        ref = a;
      }
      if (n < capacity) {
        t.candidates.ref[n] = ref;
        t.candidates.level[n] = 0;
      }
      n++;
    };
    for (let m = 0; m < (this.heaps.length + 1) >> 1; m++) {
      const mark = t.markets.markPrice[m]!;
      this.heaps[2 * m]?.each(mark, visit, this.stack);
      this.heaps[2 * m + 1]?.each(mark, visit, this.stack);
    }
    this.stats.candidates += n;
    Atomics.store(t.control, Control.CandidateCount, n);
    return n;
  }

  /**
   * Whether the last `collect` proposed group `ref` (an account row, or the isolated position at `isolatedSlot`),
   * asked before any table changes: an isolated slot was proposed if its trigger is at or beyond its market's mark.
   */
  proposedLast(ref: number, isolatedSlot: number | null): boolean {
    if (isolatedSlot === null) return this.accountStamp[ref] === this.stamp;
    const side = this.sideOf[isolatedSlot]!;
    const i = this.at[isolatedSlot]!;
    if (side === 0 || i < 0) return false;
    const heap = this.heaps[2 * this.t.positions.market[isolatedSlot]! + side - 1]!;
    const mark = this.t.markets.markPrice[this.t.positions.market[isolatedSlot]!]!;
    return side === 1 ? heap.keys[i]! >= mark : heap.keys[i]! <= mark;
  }

  /** Every slot of account `a` again: its triggers from the tables as they are. */
  private account(a: number): void {
    const t = this.t;
    const p = t.positions;
    const mk = t.markets;
    const band = this.config.band;
    // The account's cross terms at the far end of every band: PnL low, maintenance high.
    let pnl = 0;
    let mm = 0;
    let cross = 0;
    for (let s = t.accounts.firstPosition[a]!; s !== NONE; s = p.next[s]!) {
      if ((p.flags[s]! & (PositionFlag.Live | PositionFlag.Isolated)) !== PositionFlag.Live || p.size[s] === 0) continue;
      const m = p.market[s]!;
      const ref = this.reference[m]! > 0 ? this.reference[m]! : mk.markPrice[m]!;
      const q = p.size[s]!;
      pnl += q * ((q > 0 ? ref * (1 - band) : ref * (1 + band)) - p.entryPrice[s]!);
      mm += marketMaintenance(t, m, Math.abs(q) * ref * (1 + band));
      cross++;
    }
    for (let s = t.accounts.firstPosition[a]!; s !== NONE; s = p.next[s]!) {
      this.stats.recomputed++;
      const f = p.flags[s]!;
      const q = p.size[s]!;
      if ((f & PositionFlag.Live) === 0 || q === 0) {
        this.drop(s);
        continue;
      }
      const m = p.market[s]!;
      let otherEquity: number;
      let otherMaintenance: number;
      if ((f & PositionFlag.Isolated) !== 0) {
        otherEquity = p.isolatedCollateral[s]!;
        otherMaintenance = 0;
      } else if (cross === 1) {
        otherEquity = t.accounts.collateral[a]!;
        otherMaintenance = 0;
      } else {
        // Less this position's own bound terms.
        const ref = this.reference[m]! > 0 ? this.reference[m]! : mk.markPrice[m]!;
        otherEquity = t.accounts.collateral[a]! + pnl - q * ((q > 0 ? ref * (1 - band) : ref * (1 + band)) - p.entryPrice[s]!);
        otherMaintenance = mm - marketMaintenance(t, m, Math.abs(q) * ref * (1 + band));
      }
      this.place(s, m, q, triggerPrice(t, m, q, p.entryPrice[s]!, otherEquity, otherMaintenance, this.config.marginCallHealth));
    }
  }

  private place(slot: number, m: number, q: number, trigger: number): void {
    const side = q > 0 ? 1 : 2;
    if (this.sideOf[slot] !== side) this.drop(slot);
    const which = 2 * m + side - 1;
    while (this.heaps.length <= which) this.heaps.push(new SlotHeap(this.heaps.length % 2 === 0, this.at));
    this.sideOf[slot] = side;
    this.heaps[which]!.set(slot, trigger);
  }

  private drop(slot: number): void {
    const side = this.sideOf[slot]!;
    if (side === 0) return;
    this.heaps[2 * this.t.positions.market[slot]! + side - 1]!.remove(slot);
    this.sideOf[slot] = 0;
  }
}

/**
 * The mark of market `m` at which a position of signed size `q` (entry `entry`), whose group has `otherEquity` and
 * `otherMaintenance` besides it, reaches the margin-call level `h`: a long is a candidate at or below it, a short at
 * or above it. Widened by WIDEN toward the safe side's far end; +Infinity (a long) or 0 (a short) when the group is
 * a candidate at every price, and the reverse when at none.
 */
export function triggerPrice(t: Tables, m: number, q: number, entry: number, otherEquity: number, otherMaintenance: number, h: number): number {
  const mk = t.markets;
  const base = tierBase(m);
  const count = mk.tierCount[m]!;
  const Q = Math.abs(q);
  const long = q > 0;
  // g(p) on tier k: long  E + Q (p - e) - h (M + Q p f - a);  short  E - Q (p - e) - h (M + Q p f - a).
  // A short's g always falls with p; a long's rises only while h f < 1 on every tier (else: a candidate at any price).
  if (long) for (let k = 0; k < count; k++) if (h * mk.maintenanceFraction[base + k]! >= 1) return Infinity;
  const g = (p: number): number => {
    const pnl = q * (p - entry);
    return otherEquity + pnl - h * (otherMaintenance + marketMaintenance(t, m, Q * p));
  };
  // The tier holding the root: g is monotone, so the first tier whose upper bound is on the far side of the root.
  let k = 0;
  for (; k < count - 1; k++) {
    const edge = mk.tierUpperBound[base + k]! / Q;
    if (long ? g(edge) >= 0 : g(edge) <= 0) break;
  }
  const f = mk.maintenanceFraction[base + k]!;
  const amount = mk.maintenanceAmount[base + k]!;
  const root = long ? (h * (otherMaintenance - amount) - otherEquity + Q * entry) / (Q * (1 - h * f)) : (otherEquity + Q * entry - h * (otherMaintenance - amount)) / (Q * (1 + h * f));
  if (!Number.isFinite(root)) return long ? Infinity : 0;
  // Widened toward more candidates, by a share of the price and a share of the group's equity in price terms.
  const slack = WIDEN * (Math.abs(root) + (Math.abs(otherEquity) + Math.abs(otherMaintenance) + Q * Math.abs(entry)) / Q);
  return long ? root + slack : Math.max(0, root - slack);
}
