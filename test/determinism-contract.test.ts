/**
 * The determinism contract, checked: code on the decision path never reads a clock, schedules on a timer or draws
 * from an unseeded random source. Decisions depend only on inputs and their sequence numbers.
 *
 * The decision path: pure math (src/domain, src/ledger), the tables, the scan, the executor, clearing, the oracle,
 * risk, the epoch handshake (src/concurrency), src/maps.ts, the engine (its input records, recovery and replay
 * included) and the thread entry files (workers/).
 *
 * A reviewed exception carries a marker on its line or in the `//` comment lines right above it:
 *   // determinism: <why this use cannot change a decision>
 * The reason is required (a few words at least). A marker with no forbidden use under it is reported too, so that
 * markers do not outlive the code they excuse.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const DECISION_PATH = [
  'src/domain',
  'src/tables',
  'src/scan',
  'src/executor',
  'src/clearing',
  'src/engine',
  'src/concurrency',
  'src/risk',
  'src/ledger',
  'src/oracle',
  'src/models',
  'src/maps.ts',
  'workers',
];

/** Called or named anywhere (a call, a reference, an import): timers, microtasks and crypto randomness. */
const FORBIDDEN_NAMES = new Set(['setImmediate', 'setTimeout', 'setInterval', 'queueMicrotask', 'randomUUID', 'randomBytes', 'randomInt', 'randomFill', 'randomFillSync', 'getRandomValues']);
/** `object.property` reads of a clock or of Math.random. */
const FORBIDDEN_MEMBERS = new Set(['Date.now', 'performance.now', 'process.hrtime', 'Math.random']);
/** A marker's reason has at least this many words. */
const MIN_REASON_WORDS = 4;
const MARKER = /\/\/\s*determinism:(.*)$/;

interface Use {
  /** 1-based. */
  readonly line: number;
  readonly what: string;
}

/** Every forbidden use in `text`, found on the syntax tree: comments and strings are not code. */
function forbiddenUses(file: string, text: string): Use[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const uses: Use[] = [];
  const add = (n: ts.Node, what: string) => uses.push({ line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1, what });
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n) && FORBIDDEN_NAMES.has(n.text)) add(n, n.text);
    if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && FORBIDDEN_MEMBERS.has(`${n.expression.text}.${n.name.text}`)) {
      add(n, `${n.expression.text}.${n.name.text}`);
    }
    if ((ts.isNewExpression(n) || ts.isCallExpression(n)) && ts.isIdentifier(n.expression) && n.expression.text === 'Date') {
      add(n, ts.isNewExpression(n) ? 'new Date' : 'Date()');
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return uses;
}

const isReason = (reason: string) => reason.trim().split(/\s+/).filter((w) => /[a-z]/i.test(w)).length >= MIN_REASON_WORDS;

/**
 * What breaks the contract in `text`, one line each: a forbidden use without a marker, a marker without a reason,
 * a marker with nothing under it. Empty when the file keeps the contract.
 */
function contractBreaches(file: string, text: string): string[] {
  const lines = text.split('\n');
  const used = new Set<number>();
  const out: string[] = [];
  /** The 0-based line of the marker covering line `i`: on it, or in the run of `//` lines right above it. */
  const markerFor = (i: number): number | undefined => {
    if (MARKER.test(lines[i])) return i;
    for (let j = i - 1; j >= 0 && lines[j].trim().startsWith('//'); j--) if (MARKER.test(lines[j])) return j;
    return undefined;
  };
  for (const use of forbiddenUses(file, text)) {
    const m = markerFor(use.line - 1);
    if (m === undefined) {
      out.push(`${file}:${use.line} ${use.what} without a "// determinism: <reason>" marker`);
      continue;
    }
    used.add(m);
    if (!isReason(MARKER.exec(lines[m])![1])) out.push(`${file}:${use.line} ${use.what}: the marker on line ${m + 1} gives no reason (${MIN_REASON_WORDS} words at least)`);
  }
  lines.forEach((l, i) => {
    if (MARKER.test(l) && !used.has(i)) out.push(`${file}:${i + 1} determinism marker with no clock, timer or random source under it`);
  });
  return out;
}

function sources(path: string): string[] {
  if (!statSync(join(ROOT, path)).isDirectory()) return [path];
  return readdirSync(join(ROOT, path)).flatMap((name) => {
    const rel = `${path}/${name}`;
    return statSync(join(ROOT, rel)).isDirectory() ? sources(rel) : rel.endsWith('.ts') ? [rel] : [];
  });
}

describe('the determinism contract', () => {
  const files = DECISION_PATH.flatMap(sources);

  it('covers the whole decision path', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    for (const f of ['src/executor/executor.ts', 'src/scan/kernels.ts', 'src/clearing/clearing.ts', 'src/engine/records.ts', 'src/engine/recovery.ts', 'src/engine/replay.ts', 'src/maps.ts', 'workers/executor.worker.ts', 'workers/scan.worker.ts']) {
      expect(files).toContain(f);
    }
  });

  it.each(files)('%s reads no clock, sets no timer and draws no unseeded randomness, or says why it may', (file) => {
    expect(contractBreaches(file, readFileSync(join(ROOT, file), 'utf8'))).toEqual([]);
  });
});

describe('the determinism scanner itself', () => {
  it.each([
    ['setImmediate(() => step());', 'setImmediate'],
    ['const t = setTimeout(step, 10);', 'setTimeout'],
    ['setInterval(step, 10);', 'setInterval'],
    ['queueMicrotask(step);', 'queueMicrotask'],
    ['const t = Date.now();', 'Date.now'],
    ['const d = new Date();', 'new Date'],
    ['const s = Date();', 'Date()'],
    ['const t = performance.now();', 'performance.now'],
    ['const t = process.hrtime.bigint();', 'process.hrtime'],
    ['const [s, ns] = process.hrtime();', 'process.hrtime'],
    ['const r = Math.random();', 'Math.random'],
    ['const id = crypto.randomUUID();', 'randomUUID'],
    ["import { randomBytes } from 'node:crypto';", 'randomBytes'],
    ['const b = randomBytes(8);', 'randomBytes'],
    ['crypto.getRandomValues(new Uint8Array(4));', 'getRandomValues'],
    ['const later = globalThis.setTimeout;', 'setTimeout'],
  ])('flags %s', (code, what) => {
    expect(forbiddenUses('x.ts', code).map((u) => u.what)).toEqual([what]);
    expect(contractBreaches('x.ts', code)).toEqual([`x.ts:1 ${what} without a "// determinism: <reason>" marker`]);
  });

  it('ignores the forbidden names in comments and strings, and deterministic uses of Date', () => {
    const code = ["// Date.now() is not read here", "/* nor Math.random() */", "const s = 'setTimeout(step)';", 'const t = Date.UTC(2024, 0, 1);'].join('\n');
    expect(forbiddenUses('x.ts', code)).toEqual([]);
    expect(contractBreaches('x.ts', code)).toEqual([]);
  });

  it('accepts a marker with a reason on the same line or in the comment lines right above', () => {
    const code = [
      'const t0 = process.hrtime.bigint(); // determinism: the run time is printed in the summary only',
      '// determinism: schedules the next epoch, whose boundary is journaled,',
      '// so replay sees the same epochs whatever the timing.',
      'setImmediate(() => step());',
    ].join('\n');
    expect(contractBreaches('x.ts', code)).toEqual([]);
  });

  it('refuses a marker without a reason', () => {
    expect(contractBreaches('x.ts', 'setImmediate(step); // determinism:')).toEqual(['x.ts:1 setImmediate: the marker on line 1 gives no reason (4 words at least)']);
    expect(contractBreaches('x.ts', '// determinism: reviewed, fine\nconst t = Date.now();')).toEqual(['x.ts:2 Date.now: the marker on line 1 gives no reason (4 words at least)']);
  });

  it('does not let a marker reach past code to a later use, and reports a marker with nothing under it', () => {
    const code = ['// determinism: the run time is printed in the summary only', 'const a = 1;', 'const t = Date.now();'].join('\n');
    expect(contractBreaches('x.ts', code)).toEqual([
      'x.ts:3 Date.now without a "// determinism: <reason>" marker',
      'x.ts:1 determinism marker with no clock, timer or random source under it',
    ]);
  });
});
