/**
 * What ships: `npm pack` (dry run) holds the licence package.json names, the changelog, the sources every source map
 * and declaration map points at (so a stack trace under --enable-source-maps and "go to definition" land in real
 * files), and not the generated API reference.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/package-project.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const packed = JSON.parse(execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as {
  files: { path: string }[];
}[];
const files = new Set(packed[0]!.files.map((f) => f.path));

describe('the published package', () => {
  it('ships the Apache-2.0 licence package.json names, in full, and the changelog', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('Apache-2.0');
    expect(files.has('LICENSE')).toBe(true);
    const licence = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(licence).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(licence).toMatch(/END OF TERMS AND CONDITIONS/);
    expect(files.has('CHANGELOG.md')).toBe(true);
    expect(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(/^## 0\.1\.0 - Unreleased$/m);
  });

  it('ships every file its source maps and declaration maps point at', () => {
    const maps = [...files].filter((f) => f.endsWith('.js.map') || f.endsWith('.d.ts.map'));
    expect(maps.length).toBeGreaterThan(100);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as { sources: string[] };
      for (const s of sources) {
        const target = posix.normalize(posix.join(posix.dirname(map), s));
        if (!files.has(target)) missing.push(`${map} -> ${target}`);
      }
    }
    expect(missing).toEqual([]);
    // Each built module ships with its map, its declarations and theirs.
    expect(files.has('dist/src/index.js.map') && files.has('dist/src/index.d.ts.map') && files.has('src/index.ts')).toBe(true);
  });

  it('leaves the generated API reference out', () => {
    expect([...files].filter((f) => f.startsWith('docs/api/'))).toEqual([]);
  });
});
