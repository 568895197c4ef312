/**
 * OS threads of this process, to check that closing every engine left no thread behind (a scan pool or an
 * executor that outlives Engine.close() need not keep Node alive, so a clean exit proves nothing).
 * Linux only (/proc/self/task); elsewhere the count is null and the check is skipped.
 */
import { existsSync, readdirSync } from 'node:fs';

export function threadCount(): number | null {
  return existsSync('/proc/self/task') ? readdirSync('/proc/self/task').length : null;
}

/** Waits up to `ms` for the thread count to fall back to `baseline`; returns the last count. */
export async function settledThreadCount(baseline: number, ms = 2000): Promise<number | null> {
  const deadline = performance.now() + ms;
  for (;;) {
    const n = threadCount();
    if (n === null || n <= baseline || performance.now() >= deadline) return n;
    await new Promise((r) => setTimeout(r, 20));
  }
}
