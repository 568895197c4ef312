/**
 * The determinism contract, checked: code on the decision path (margin math, tables, scan, execution, the
 * epoch handshake and the thread entry files) never reads a clock or an unseeded random source. Decisions depend
 * only on inputs and their sequence numbers.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const DECISION_PATH = ['src/domain', 'src/tables', 'src/scan', 'src/executor', 'src/clearing', 'src/engine', 'src/concurrency', 'src/risk', 'src/ledger', 'src/oracle', 'workers'];
const FORBIDDEN = [/\bDate\.now\s*\(/, /\bnew Date\s*\(/, /\bMath\.random\s*\(/, /\bperformance\.now\s*\(/, /\bprocess\.hrtime\b/, /\bsetTimeout\s*\(/, /\bsetInterval\s*\(/];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const rel = join(dir, name);
    return statSync(join(ROOT, rel)).isDirectory() ? sources(rel) : rel.endsWith('.ts') ? [rel] : [];
  });
}

describe('the determinism contract', () => {
  const files = DECISION_PATH.flatMap(sources);

  it('covers a non-trivial set of decision-path files', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
    expect(files).toContain('src/executor/liquidator.ts');
    expect(files).toContain('workers/executor.worker.ts');
  });

  it.each(files)('%s reads no clock and no unseeded randomness', (file) => {
    const code = readFileSync(join(ROOT, file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '');
    const hits = FORBIDDEN.filter((re) => re.test(code)).map((re) => re.source);
    expect(hits).toEqual([]);
  });

  it('flags a clock read when one is present', () => {
    const code = 'const t = Date.now();';
    expect(FORBIDDEN.some((re) => re.test(code))).toBe(true);
  });
});
