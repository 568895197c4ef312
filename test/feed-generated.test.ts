/**
 * The committed generated code (src/feed/generated/) is exactly what scripts/gen-schemas.sh produces from
 * schemas/*.fbs, so nobody hand-edits it and nobody forgets to regenerate. Needs flatc 2.0.8; skipped without it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const COMMITTED = join(ROOT, 'src/feed/generated');
const flatc = spawnSync('flatc', ['--version'], { encoding: 'utf8' });
const HAS_FLATC = flatc.status === 0 && flatc.stdout.trim() === 'flatc version 2.0.8';
const SKIP = HAS_FLATC ? '' : ' (SKIPPED: flatc 2.0.8 not installed; apt-get install -y flatbuffers-compiler)';

describe('generated schema code', () => {
  it.skipIf(!HAS_FLATC)(`equals what scripts/gen-schemas.sh produces from schemas/${SKIP}`, () => {
    const out = mkdtempSync(join(tmpdir(), 'unwind-gen-'));
    try {
      execFileSync('bash', [join(ROOT, 'scripts/gen-schemas.sh'), out], { stdio: 'pipe' });
      const files = readdirSync(out).sort();
      expect(readdirSync(COMMITTED).sort()).toEqual(files);
      for (const f of files) expect(readFileSync(join(COMMITTED, f), 'utf8'), f).toBe(readFileSync(join(out, f), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
