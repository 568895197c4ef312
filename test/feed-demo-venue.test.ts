/**
 * `unwind demo` as a user runs it (the built CLI in a child process): the loopback feed demo whose matching engine
 * fills the orders it receives on the venue simulator and reports fills and expiries over the socket.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from './support/cli.js';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The summary's lines by their label (the text before the column of values). */
  readonly line: (label: string) => string;
}

const runs = new Map<string, Run>();

/** Runs the demo once per argument list (the tests share the runs). */
function demo(...args: string[]): Run {
  const key = args.join(' ');
  let run = runs.get(key);
  if (run === undefined) {
    const r = spawnSync(process.execPath, [CLI, 'demo', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const summary = r.stdout.slice(r.stdout.indexOf('--- summary ---'));
    const line = (label: string): string => summary.split('\n').find((l) => l.startsWith(`${label} `)) ?? '';
    run = { status: r.status, stdout: r.stdout, stderr: r.stderr, line };
    runs.set(key, run);
  }
  return run;
}

const IOC = ['--accounts', '2000', '--steps', '40', '--print', '0'];
const TWAP = ['--accounts', '2000', '--steps', '40', '--print', '3', '--strategy', 'twap'];

/** The first integer captured by `re` in `text`. */
function count(text: string, re: RegExp): number {
  const m = re.exec(text);
  if (m === null) throw new Error(`${re} not found in ${JSON.stringify(text)}`);
  return Number(m[1]);
}

describe.each([
  ['ioc', IOC],
  ['twap', TWAP],
])('unwind demo --strategy %s over loopback against the venue', (strategy, args) => {
  it('exits 0 and prints the summary: shortfall against the arrival mark, bad debt, where every deficit went', () => {
    const r = demo(...args);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--- summary ---');
    expect(r.line('execution')).toMatch(new RegExp(`^execution +${strategy}: \\d+ orders for \\d+ liquidations; shortfall -?\\d+\\.\\d bps against the arrival mark`));
    expect(r.line('bad debt left')).toMatch(/^bad debt left +\d+\.\d\d quote on accounts with no position/);
    expect(r.line('fill deficits')).toMatch(/paid by the ADL queue, .* socialized, .* unresolved/);
    expect(r.line('insurance funds')).toContain('paid out for fills beyond bankruptcy');
    expect(r.line('deficits open')).toContain('quote of negative equity on groups still holding positions');
    expect(r.line('wall time')).toMatch(/^wall time +\d+\.\d s$/);
  });

  it('liquidates on the way down, and the engine refuses none of the fills and expiries the venue reports', () => {
    const r = demo(...args);
    expect(count(r.line('liquidation orders'), /^liquidation orders +(\d+)/)).toBeGreaterThan(0);
    const fills = count(r.line('fills'), /^fills +(\d+) reported over the socket/);
    expect(fills).toBeGreaterThan(0);
    expect(count(r.line('liquidations'), /(\d+) fills refused/)).toBe(0);
    // Only the two frames the price publisher spoils on purpose are rejected.
    expect(r.line('rejected frames')).toMatch(/^rejected frames +1 INVALID_FIELD, 1 BAD_SIGNATURE$/);
    // The server took every fill the matching engine reported, and the engine settled each.
    expect(count(r.line('feed'), /, (\d+) fills, /)).toBe(fills);
    const closes = /^closes +(\d+) partial, (\d+) whole/.exec(r.line('closes'))!;
    expect(Number(closes[1]) + Number(closes[2])).toBeLessThanOrEqual(fills);
  });

  it('reports no fill at a price worse than its order\'s limit', () => {
    const r = demo(...args);
    expect(count(r.line('fills'), /; (\d+) beyond their order's limit/)).toBe(0);
    expect(r.stdout).not.toContain('INVALID_FILL');
  });
});

describe('unwind demo --strategy twap', () => {
  it('marks each child order the risk desk prints with its place in its liquidation, past the first', () => {
    const r = demo(...TWAP);
    const children = [...r.stdout.matchAll(/ LIQUIDATE .* twap child (\d+)$/gm)].map((m) => Number(m[1]));
    expect(children.length).toBeGreaterThan(0);
    expect(Math.max(...children)).toBeGreaterThan(1);
  });
});

describe('unwind demo (ioc)', () => {
  it('prints no child marks: every order of an ioc liquidation is its own', () => {
    expect(demo(...IOC.slice(0, 4), '--print', '3').stdout).not.toMatch(/ child \d+$/m);
  });

  it('gives the same order stream on every run: the demo steps the engine, one epoch per price step', () => {
    const digest = (r: Run): string => /^order stream sha256 +([0-9a-f]{64})/.exec(r.line('order stream sha256'))![1]!;
    const again = spawnSync(process.execPath, [CLI, 'demo', ...IOC], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(/order stream sha256 +([0-9a-f]{64})/.exec(again.stdout)?.[1]).toBe(digest(demo(...IOC)));
  });
});
