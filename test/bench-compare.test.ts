/**
 * The bench's regression gate (bench/compare.ts) as pure functions, the committed baseline CI gates against, and
 * `unwind bench` refusing bad command lines and baselines before it measures anything. The bench itself is not
 * run here (a quick run takes minutes); CI runs it (.ci/run).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareFigures,
  comparisonFailed,
  comparisonTable,
  GATED,
  githubBenchmarkJson,
  parseBaseline,
  readBaseline,
  smallerPath,
  type BenchResults,
  type Better,
  type Comparison,
  type Figure,
} from '../bench/compare.js';
import { parseBenchArgs } from '../bench/run.js';
import { targetRows } from '../bench/targets.js';
import { isUnwindError } from '../src/errors.js';
import { runCli } from './support/cli.js';

const ROOT = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'unwind-bench-compare-'));

const fig = (name: string, value: number, better: Better = 'bigger', gate = true, section = 'scan'): Figure => ({ name, section, unit: 'x', value, better, gate, what: '' });
const ALL = new Set(['scan', 'latency', 'feed', 'oracle', 'journal', 'strategies']);
const compare = (baseline: Figure[], now: Figure[], tolerance = 0.2, sectionsRun: ReadonlySet<string> = ALL): Comparison[] =>
  compareFigures(baseline, now, { tolerance, sectionsRun });
const verdictOf = (b: Figure, n: Figure, tolerance = 0.2): Comparison => compare([b], [n], tolerance)[0]!;

/** The UnwindError code and field `f` throws. */
function errorOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isUnwindError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an UnwindError, got none');
}

describe('compareFigures: the verdict per figure at a tolerance of 20%', () => {
  // [direction, baseline, now, verdict, fails]
  const cases: [Better, number, number, string, boolean][] = [
    ['bigger', 1.0, 1.0, 'ok', false],
    ['bigger', 1.0, 0.81, 'ok', false],
    ['bigger', 1.0, 0.8, 'ok', false], // exactly at the tolerance: not beyond it
    ['bigger', 1.0, 0.79, 'REGRESSED', true],
    ['bigger', 2.0, 1.0, 'REGRESSED', true],
    ['bigger', 1.0, 1.5, 'better', false],
    ['smaller', 1.0, 1.19, 'ok', false],
    ['smaller', 1.0, 1.21, 'REGRESSED', true],
    ['smaller', 1.5, 3.0, 'REGRESSED', true],
    ['smaller', 1.0, 0.5, 'better', false],
    ['smaller', 1.0, 0.85, 'ok', false],
  ];
  it.each(cases)('%s is better: baseline %d, now %d -> %s', (better, b, n, verdict, fails) => {
    const r = verdictOf(fig('f', b, better), fig('f', n, better));
    expect(r.verdict).toBe(verdict);
    expect(r.fails).toBe(fails);
    expect(r.change).toBeCloseTo(n / b - 1, 12);
    expect(comparisonFailed([r])).toBe(fails);
  });

  it('fails a run when any gated figure regressed, and only then', () => {
    const baseline = [fig('a', 1), fig('b', 1, 'smaller'), fig('c', 1)];
    expect(comparisonFailed(compare(baseline, [fig('a', 1.1), fig('b', 0.9, 'smaller'), fig('c', 2)]))).toBe(false);
    const rows = compare(baseline, [fig('a', 1.1), fig('b', 1.3, 'smaller'), fig('c', 2)]);
    expect(rows.map((r) => r.verdict)).toEqual(['ok', 'REGRESSED', 'better']);
    expect(comparisonFailed(rows)).toBe(true);
  });

  it('reports a figure that does not gate as worse, missing or invalid, in lower case, without failing the run', () => {
    const r = verdictOf(fig('noisy', 1, 'bigger', false), fig('noisy', 0.3, 'bigger', false));
    expect(r).toMatchObject({ verdict: 'worse', fails: false });
    expect(verdictOf(fig('noisy', 1, 'smaller', false), fig('noisy', 0, 'smaller', false))).toMatchObject({ verdict: 'invalid', fails: false });
    const gone = compare([fig('noisy', 1, 'bigger', false), fig('kept', 1)], [fig('kept', 1)]);
    expect(gone.map((x) => [x.verdict, x.fails])).toEqual([
      ['missing', false],
      ['ok', false],
    ]);
    expect(comparisonFailed(gone)).toBe(false);
  });

  it('takes the gate and the direction from this run, not from the baseline', () => {
    // The baseline says 'not gated, smaller is better'; this run's definition (gated, bigger) decides.
    const r = verdictOf(fig('f', 1, 'smaller', false), fig('f', 0.5, 'bigger', true));
    expect(r).toMatchObject({ verdict: 'REGRESSED', fails: true, better: 'bigger', gate: true });
  });

  it('reports a gated figure this run lacks as MISSING and fails, unless its section did not run', () => {
    const baseline = [fig('scan figure', 1, 'bigger', true, 'scan'), fig('feed figure', 1, 'bigger', true, 'feed')];
    const all = compare(baseline, [fig('scan figure', 1)]);
    expect(all.map((r) => [r.name, r.verdict, r.fails])).toEqual([
      ['scan figure', 'ok', false],
      ['feed figure', 'MISSING', true],
    ]);
    expect(comparisonFailed(all)).toBe(true);
    const onlyScan = compare(baseline, [fig('scan figure', 1)], 0.2, new Set(['scan']));
    expect(onlyScan.map((r) => r.verdict)).toEqual(['ok', 'not run']);
    expect(comparisonFailed(onlyScan)).toBe(false);
  });

  it('lists a figure the baseline lacks as new, after the baseline\'s, without failing', () => {
    const rows = compare([fig('old', 1)], [fig('added', 0.01), fig('old', 1)]);
    expect(rows.map((r) => [r.name, r.verdict, r.baseline, r.now])).toEqual([
      ['old', 'ok', 1, 1],
      ['added', 'new', null, 0.01],
    ]);
    expect(comparisonFailed(rows)).toBe(false);
  });

  it('fails on a gated figure this run measured as zero or NaN (a broken measurement)', () => {
    expect(verdictOf(fig('f', 1), fig('f', 0))).toMatchObject({ verdict: 'INVALID', fails: true });
    expect(verdictOf(fig('f', 1, 'smaller'), fig('f', Number.NaN, 'smaller'))).toMatchObject({ verdict: 'INVALID', fails: true });
  });

  it('refuses a tolerance outside [0, 1) with INVALID_CONFIG', () => {
    for (const t of [-0.1, 1, 2, Number.NaN]) expect(errorOf(() => compare([fig('f', 1)], [fig('f', 1)], t)).code).toBe('INVALID_CONFIG');
  });

  it('passes every figure at least as good as its baseline and fails every gated one worse by more than the tolerance (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.double({ min: 1, max: 100, noNaN: true }),
        fc.constantFrom<Better>('bigger', 'smaller'),
        (b, t, factor, better) => {
          const improved = better === 'bigger' ? b * factor : b / factor;
          expect(verdictOf(fig('f', b, better), fig('f', improved, better), t).fails).toBe(false);
          // Worse by the tolerance and then some: 1% beyond the boundary.
          const worse = better === 'bigger' ? b * (1 - t) * 0.99 : b * (1 + t) * 1.01;
          expect(verdictOf(fig('f', b, better), fig('f', worse, better), t)).toMatchObject({ verdict: 'REGRESSED', fails: true });
          // Ratios are scale-free: scaling both sides leaves the verdict.
          const k = factor;
          expect(verdictOf(fig('f', b * k, better), fig('f', worse * k, better), t).verdict).toBe('REGRESSED');
        },
      ),
      { seed: 16, numRuns: 300 },
    );
  });

  it('prints a table with the gated rows first: figure, gate, better, baseline, now, change, verdict', () => {
    const rows = compare([fig('loose', 1, 'bigger', false), fig('tight', 2, 'smaller')], [fig('loose', 1, 'bigger', false), fig('tight', 3, 'smaller')]);
    const lines = comparisonTable(rows).split('\n');
    expect(lines[0]).toMatch(/^figure\s+gate\s+better\s+baseline\s+now\s+change\s+verdict$/);
    expect(lines[2]).toMatch(/^tight\s+yes\s+smaller\s+2\.000\s+3\.000\s+\+50\.0%\s+REGRESSED$/);
    expect(lines[3]).toMatch(/^loose\s+no\s+bigger\s+1\.000\s+1\.000\s+\+0\.0%\s+ok$/);
  });
});

describe('parseBaseline: a baseline is what unwind bench --json wrote, or a coded error', () => {
  const doc = (extra: object): string => JSON.stringify({ benchmark: 'unwind', mode: 'quick', ...extra });
  const good = [fig('scan 1e6, 2 workers / sequential read', 0.09), fig('feed tick-to-order BTC-USD, p50 socket / in-process', 1.14, 'smaller', false, 'feed')];

  it('reads back the figures a run wrote, with their mode', () => {
    expect(parseBaseline(doc({ figures: good }))).toEqual({ mode: 'quick', figures: good });
  });

  const bad: [string, string, string][] = [
    ['not JSON', '{"benchmark": "unwind", ', '--compare'],
    ['JSON of something else', JSON.stringify([1, 2, 3]), '--compare'],
    ['another benchmark', JSON.stringify({ benchmark: 'other', figures: good }), '--compare'],
    ['no figures (an older bench)', doc({}), '--compare'],
    ['an empty figure list', doc({ figures: [] }), '--compare'],
    ['a figure without a name', doc({ figures: [{ value: 1, better: 'bigger' }] }), '--compare figures[0].name'],
    ['a zero value', doc({ figures: [{ name: 'f', value: 0, better: 'bigger' }] }), '--compare figures[0].value'],
    ['a value that is a string', doc({ figures: [{ name: 'f', value: '1.2', better: 'bigger' }] }), '--compare figures[0].value'],
    ['no direction', doc({ figures: [{ name: 'f', value: 1 }] }), '--compare figures[0].better'],
    ['a name twice', doc({ figures: [{ name: 'f', value: 1, better: 'bigger' }, { name: 'f', value: 2, better: 'bigger' }] }), '--compare figures[1].name'],
  ];
  it.each(bad)('refuses %s with INVALID_CONFIG naming where', (_what, text, field) => {
    const e = errorOf(() => parseBaseline(text));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.message.startsWith(`${field}: `)).toBe(true);
  });

  it('refuses a file it cannot read, and a baseline of the other mode', () => {
    expect(errorOf(() => readBaseline(join(dir, 'absent.json'), 'quick')).message).toMatch(/^--compare: cannot read the baseline/);
    const full = join(dir, 'full.json');
    writeFileSync(full, JSON.stringify({ benchmark: 'unwind', mode: 'full', figures: good }));
    expect(errorOf(() => readBaseline(full, 'quick'))).toMatchObject({ code: 'INVALID_CONFIG' });
    expect(readBaseline(full, 'full').figures).toEqual(good);
  });
});

describe('the committed baseline (.ci/bench-baseline.json) that CI gates against', () => {
  it('is a quick run that holds every figure the gate names, each marked as gated', () => {
    const baseline = readBaseline(join(ROOT, '.ci/bench-baseline.json'), 'quick');
    expect(baseline.mode).toBe('quick');
    expect(GATED.size).toBeGreaterThan(0);
    const byName = new Map(baseline.figures.map((f) => [f.name, f]));
    for (const name of GATED) expect(byName.get(name)?.gate, name).toBe(true);
    expect(baseline.figures.filter((f) => f.gate).map((f) => f.name).sort()).toEqual([...GATED].sort());
  });

  it('passes against itself', () => {
    const baseline = readBaseline(join(ROOT, '.ci/bench-baseline.json'), 'quick');
    const rows = compareFigures(baseline.figures, baseline.figures, { tolerance: 0, sectionsRun: ALL });
    expect(rows.every((r) => r.verdict === 'ok')).toBe(true);
  });
});

describe('githubBenchmarkJson: the files github-action-benchmark reads', () => {
  it('splits the figures by direction into { name, unit, value, extra } entries', () => {
    const figures = [fig('a', 0.123456789), fig('b', 1.5, 'smaller', false, 'feed'), fig('c', 2)];
    const { bigger, smaller } = githubBenchmarkJson(figures, 'quick run');
    expect(bigger.map((e) => [e.name, e.unit, e.value])).toEqual([
      ['a', 'x', 0.123457],
      ['c', 'x', 2],
    ]);
    expect(smaller.map((e) => e.name)).toEqual(['b']);
    expect(bigger[0]!.extra).toMatch(/gated by unwind bench --compare; quick run$/);
    expect(smaller[0]!.extra).not.toMatch(/gated/);
    // What the action parses: a JSON array of objects with a string name and unit and a number value.
    for (const e of JSON.parse(JSON.stringify([...bigger, ...smaller])) as unknown[]) {
      expect(e).toEqual(expect.objectContaining({ name: expect.any(String), unit: expect.any(String), value: expect.any(Number) }));
    }
  });

  it('names the smaller-is-better file after the bigger one', () => {
    expect(smallerPath('out/bench.json')).toBe('out/bench.smaller.json');
    expect(smallerPath('bench')).toBe('bench.smaller.json');
  });
});

describe('targetRows: issue 16\'s targets, reported from what a run measured', () => {
  const p = (p50: number, p99: number) => ({ n: 60, min: 1, mean: p50, p50, p90: p99, p99, p999: p99, max: p99 });
  const latencyRow = (workers: number, market: string, p50: number, p99: number, topology = `main -> scan pool (${workers}) -> executor`) =>
    ({ topology, positions: 1_000_002, workers, market, touchedShare: 0.5, micros: p(p50, p99), spill: { orders: 0, marginCalls: 0 } });
  const results = {
    scan: [],
    latency: {
      size: 1_000_000,
      rows: [latencyRow(1, 'BTC-USD', 900, 9_000), latencyRow(2, 'BTC-USD', 280, 2_500), latencyRow(2, 'LINK-USD', 200, 1_000), latencyRow(2, 'BTC-USD', 50, 60, 'x full-scan')],
    },
    feed: { ingest: { rows: [{ ticksPerFrame: 1_000, pairedRatioToEcho: 0.48 }] } },
    oracle: null,
    journal: null,
    strategies: null,
  } as unknown as BenchResults;
  const byTarget = new Map(targetRows(results).map((t) => [t.target, t]));

  it('takes the worst victim of the engine with the most workers, not the full-scan yardstick', () => {
    expect(byTarget.get('push-to-order p50 <= 300 us at 1e6, in process')).toMatchObject({ verdict: 'met', measured: '280 us (BTC-USD, 2 workers)' });
    expect(byTarget.get('push-to-order p99 <= 2 ms at 1e6, in process')).toMatchObject({ verdict: 'missed', note: '25.0% off the target' });
  });

  it('says by how much a lower bound was missed, and which run measures what this one did not', () => {
    expect(byTarget.get('batched ingest >= 0.6 of the bare uWS echo at 1,000 ticks/frame')).toMatchObject({ verdict: 'missed', measured: '0.48x', note: '25.0% off the target' });
    expect(byTarget.get('phase-1 kernel >= 0.5 of the C loop per core')).toMatchObject({ verdict: 'not measured', measured: null, note: 'the kernels section measures it' });
    expect(byTarget.get('full epoch >= 1.8x from 1 to 2 scan workers')?.verdict).toBe('not measured');
  });
});

describe('the bench command line', () => {
  it('reads every flag, with a tolerance only beside a baseline', () => {
    expect(parseBenchArgs(['--quick', '--only', 'feed', '--json', '--compare', 'b.json', '--tolerance', '0.3', '--github-json', 'g.json'])).toEqual({
      quick: true,
      only: 'feed',
      json: 'bench-results.json',
      compare: 'b.json',
      tolerance: 0.3,
      githubJson: 'g.json',
    });
    expect(parseBenchArgs([])).toMatchObject({ quick: false, only: null, json: null, compare: null, tolerance: 0.2, githubJson: null });
    expect(parseBenchArgs(['--json', 'x.json'])).toMatchObject({ json: 'x.json' });
    expect(parseBenchArgs(['--help'])).toBe('help');
  });

  const bad: [string[], string][] = [
    [['--fast'], '--fast'],
    [['--only', 'everything'], '--only'],
    [['--compare'], '--compare'],
    [['--compare', '--quick'], '--compare'],
    [['--compare', 'b.json', '--tolerance', '1'], '--tolerance'],
    [['--compare', 'b.json', '--tolerance', 'lots'], '--tolerance'],
    [['--compare', 'b.json', '--tolerance', ''], '--tolerance'],
    [['--tolerance', '0.1'], '--tolerance'],
    [['--github-json'], '--github-json'],
  ];
  it.each(bad)('refuses %j with INVALID_CONFIG naming %s', (argv, flag) => {
    const e = errorOf(() => parseBenchArgs(argv));
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.message.startsWith(`${flag}: `)).toBe(true);
  });
});

describe('unwind bench, as a user runs it', () => {
  it('prints its usage for --help and exits 0', async () => {
    const r = await runCli('bench', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: unwind bench \[--quick\]/);
    expect(r.stdout).toContain('--compare FILE');
    expect(r.stdout).toContain('--github-json FILE');
  });

  it('is listed in the usage of unwind', async () => {
    const r = await runCli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('unwind bench [--quick]');
  });

  it('exits 2 with the usage for a bad flag, before measuring anything', async () => {
    const r = await runCli('bench', '--quick', '--tolerance', '0.5');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unwind: INVALID_CONFIG: --tolerance: only applies with --compare FILE');
    expect(r.stderr).toContain('usage: unwind bench');
    expect(r.stdout).toBe('');
    const unknown = await runCli('bench', '--fast');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('--fast: unknown flag');
  });

  it('exits 2 for a baseline it cannot use, before measuring anything', async () => {
    const file = join(dir, 'not-a-baseline.json');
    writeFileSync(file, JSON.stringify({ hello: 'world' }));
    const r = await runCli('bench', '--quick', '--compare', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^unwind: INVALID_CONFIG: --compare: expected the JSON written by unwind bench --json/);
    expect(r.stdout).toBe('');
    const quickBaseline = join(dir, 'quick.json');
    writeFileSync(quickBaseline, readFileSync(join(ROOT, '.ci/bench-baseline.json')));
    const full = await runCli('bench', '--compare', quickBaseline);
    expect(full.status).toBe(2);
    expect(full.stderr).toContain('is from a quick run and this run is full');
  });
});
