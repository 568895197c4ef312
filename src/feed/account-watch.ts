/**
 * The accounts some feed connection watches, and the state last sent for each, so that after an epoch only the
 * accounts whose state changed are sent. Counts watchers: an account is forgotten when its last watcher leaves.
 */
import type { Engine } from '../engine/engine.js';
import type { AccountState } from './messages.js';
import { Watchers } from './watchers.js';

export class AccountWatch {
  private readonly watchers = new Watchers();
  private readonly last = new Map<number, AccountState>();

  constructor(private readonly engine: Engine) {}

  get size(): number {
    return this.watchers.size;
  }

  /** Adds a watcher; returns the account's state now (undefined while the account does not exist). */
  watch(account: number): AccountState | undefined {
    this.watchers.add(account);
    return this.state(account);
  }

  unwatch(account: number): void {
    if (this.watchers.remove(account)) this.last.delete(account);
  }

  /** After an epoch: the watched accounts whose state differs from the one last sent. */
  changed(): Map<number, AccountState> {
    const changed = new Map<number, AccountState>();
    for (const account of this.watchers.ids()) {
      const before = this.last.get(account);
      const now = this.state(account);
      if (now !== undefined && (before === undefined || !sameState(before, now))) changed.set(account, now);
    }
    return changed;
  }

  private state(account: number): AccountState | undefined {
    if (!this.engine.hasAccount(account)) return undefined;
    const { id, ...summary } = this.engine.accountSummary(account);
    const state: AccountState = { ...summary, account: id, epoch: this.engine.epochs };
    this.last.set(account, state);
    return state;
  }
}

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
