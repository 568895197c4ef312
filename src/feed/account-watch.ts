/**
 * The accounts some feed connection watches, who watches each, and the state last sent for each, so that after an
 * epoch only the accounts whose state changed are sent, to their watchers alone. An account is forgotten when its
 * last watcher leaves. States are read only where the tables hold exactly one epoch's state (Engine.onEpochState,
 * Engine.stateEpoch), and labelled with that epoch.
 *
 * Bounded work per epoch (`budget`): reading an account's state costs 1, each row sent for it 1 per watcher. An
 * epoch reads the accounts named since the last one (`touch`: the epoch's orders and margin calls, the feed's
 * position, collateral and fill rows) first, then resumes a round robin over every watched account where the last
 * epoch left it. So the cost of an epoch does not grow with the topics subscribers hold: an account nobody named is
 * refreshed within ceil(work of a whole round / budget) epochs, and a client gets its latest state, not each one
 * (conflation).
 */
import type { CrossSummary } from '../risk/account-report.js';
import type { AccountState } from './messages.js';

/** What an AccountWatch reads from the engine (the server passes its Engine): declared here, the feed does not import src/engine. */
export interface AccountSource {
  hasAccount(id: number): boolean;
  accountSummary(id: number): CrossSummary;
}

export class AccountWatch<W> {
  /** Account id -> the watchers (connections) that watch it, each once. */
  private readonly watchers = new Map<number, W[]>();
  private readonly last = new Map<number, AccountState>();
  /**
   * Watched accounts named and not read yet, in the order they were named: read first. A queue (array and head)
   * with a set for membership, not a Set alone: reading from the front of a Set that keeps growing at the back walks
   * every entry deleted before (until it is rehashed), a cost that grows with the inputs.
   */
  private touchedQueue: number[] = [];
  private touchedHead = 0;
  private readonly touched = new Set<number>();
  /**
   * Where the round robin resumes: a live iterator over `watchers` (a Map iterator skips entries deleted after it
   * was made and reaches those added). Replaced once it is done.
   */
  private cursor: IterableIterator<number> | undefined;

  constructor(
    private readonly engine: AccountSource,
    /** Work per epoch at most, as above (FeedServerOptions.accountStateBudget). */
    private readonly budget: number,
  ) {}

  /** Accounts watched. */
  get size(): number {
    return this.watchers.size;
  }

  /** Adds `watcher` to `account`'s watchers (once: the caller keeps its own set). Its first state is the caller's to read, with `states`. */
  watch(account: number, watcher: W): void {
    const list = this.watchers.get(account);
    if (list === undefined) this.watchers.set(account, [watcher]);
    else list.push(watcher);
  }

  unwatch(account: number, watcher: W): void {
    const list = this.watchers.get(account);
    if (list === undefined) return;
    const i = list.indexOf(watcher);
    if (i < 0) return;
    list[i] = list[list.length - 1]!;
    list.pop();
    if (list.length > 0) return;
    this.watchers.delete(account);
    this.last.delete(account);
    this.touched.delete(account);
  }

  /** Who watches `account` (empty when nobody does). */
  watchersOf(account: number): readonly W[] {
    return this.watchers.get(account) ?? NONE;
  }

  /** Notes that `account`'s state may have moved: the next epoch reads it first (only if it is watched). */
  touch(account: number): void {
    if (this.touched.has(account) || !this.watchers.has(account)) return;
    this.touched.add(account);
    this.touchedQueue.push(account);
  }

  /**
   * The states of `accounts` now, as epoch `epoch`'s (accounts that do not exist are left out): a new watcher's
   * snapshot. Only an account without a baseline takes its state as the last sent: its other watchers were sent
   * `last`, which a snapshot must not overwrite, or a change they have not seen would look sent.
   */
  states(accounts: Iterable<number>, epoch: number): AccountState[] {
    const out: AccountState[] = [];
    for (const account of accounts) {
      const s = this.read(account, epoch);
      if (s === undefined) continue;
      if (!this.last.has(account)) this.last.set(account, s);
      out.push(s);
    }
    return out;
  }

  /**
   * When epoch `epoch` is decided: watched accounts whose state differs from the one last sent, now recorded as
   * sent, within `budget` work (see the header): the named ones first, then the round robin.
   */
  changed(epoch: number): Map<number, AccountState> {
    const changed = new Map<number, AccountState>();
    let work = 0;
    const visit = (account: number): void => {
      const watchers = this.watchers.get(account);
      if (watchers === undefined) return;
      work++;
      const now = this.read(account, epoch);
      if (now === undefined) return;
      const before = this.last.get(account);
      if (before !== undefined && sameState(before, now)) return;
      this.last.set(account, now);
      changed.set(account, now);
      work += watchers.length;
    };
    const queue = this.touchedQueue;
    while (work < this.budget && this.touchedHead < queue.length) {
      const account = queue[this.touchedHead++]!;
      // Not in the set: unwatched since it was named (or a duplicate of an entry read already).
      if (this.touched.delete(account)) visit(account);
    }
    if (this.touchedHead === queue.length) {
      this.touchedQueue = [];
      this.touchedHead = 0;
    } else if (this.touchedHead > 1024 && this.touchedHead * 2 > queue.length) {
      this.touchedQueue = queue.slice(this.touchedHead);
      this.touchedHead = 0;
    }
    // At most one round per epoch: an account is read once even when the budget exceeds the whole round.
    for (let round = 0; work < this.budget && round < this.watchers.size; round++) {
      let next = this.cursor?.next();
      if (next === undefined || next.done === true) {
        this.cursor = this.watchers.keys();
        next = this.cursor.next();
        if (next.done === true) break;
      }
      if (!changed.has(next.value)) visit(next.value);
    }
    return changed;
  }

  private read(account: number, epoch: number): AccountState | undefined {
    if (!this.engine.hasAccount(account)) return undefined;
    const s = this.engine.accountSummary(account);
    // Spelled out, not spread: one object shape for every state (this runs up to `budget` times an epoch).
    return {
      account: s.id,
      epoch,
      collateral: s.collateral,
      equity: s.equity,
      initialMargin: s.initialMargin,
      maintenanceMargin: s.maintenanceMargin,
      freeCollateral: s.freeCollateral,
      health: s.health,
      liquidatable: s.liquidatable,
      marginCall: s.marginCall,
    };
  }
}

const NONE: readonly never[] = [];

function sameState(a: AccountState, b: AccountState): boolean {
  return (
    a.collateral === b.collateral &&
    a.equity === b.equity &&
    a.initialMargin === b.initialMargin &&
    a.maintenanceMargin === b.maintenanceMargin &&
    a.liquidatable === b.liquidatable &&
    a.marginCall === b.marginCall
  );
}
