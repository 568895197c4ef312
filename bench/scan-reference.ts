/**
 * Thread: main. Builds and drives the C reference of the scan kernels (scan-reference.c): compiled with the machine's
 * gcc at -O3, run as a child process over a file holding a copy of the tables' bytes, one pass per request. Used by
 * the kernels bench (kernels.ts) and by test/scan-kernels.test.ts.
 *
 *   +-------------+  "p1 N" / "p2 N" / "dump FILE" (stdin)   +---------------------------------------+
 *   | main thread | ---------------------------------------> | child: scan-reference (C, N pthreads) |
 *   |             | <--------------------------------------- | over its own copy of the tables       |
 *   +-------------+   nanoseconds of the pass alone (stdout) +---------------------------------------+
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Tables } from '../src/tables/layout.js';
import { kernelOffsets } from '../src/scan/wasm/kernels.js';

export const REFERENCE_FLAGS = ['-O3', '-march=native', '-ffp-contract=off', '-pthread'] as const;

/** The C source: beside this file in the source tree, or in the package's bench/ from dist/bench. */
function sourcePath(): string | null {
  for (const rel of ['./scan-reference.c', '../../bench/scan-reference.c']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}

export type Compiled = { readonly binary: string; readonly dir: string; readonly compiler: string; readonly command: string } | { readonly skipped: string };

/** Compiles the reference into a fresh temporary directory (removed by `removeReference`), or says why it cannot. */
export function compileReference(): Compiled {
  const source = sourcePath();
  if (source === null) return { skipped: 'bench/scan-reference.c is not there (an installed package without it)' };
  const version = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (version.error !== undefined || version.status !== 0) return { skipped: 'no gcc on this machine' };
  const dir = mkdtempSync(join(tmpdir(), 'unwind-scan-reference-'));
  const binary = join(dir, 'scan-reference');
  const args = [...REFERENCE_FLAGS, '-o', binary, source, '-lm'];
  const built = spawnSync('gcc', args, { encoding: 'utf8' });
  if (built.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { skipped: `gcc failed: ${(built.stderr || String(built.error)).trim().split('\n')[0]}` };
  }
  return { binary, dir, compiler: version.stdout.split('\n')[0]!.trim(), command: `gcc ${REFERENCE_FLAGS.join(' ')} bench/scan-reference.c -lm` };
}

export function removeReference(c: Compiled): void {
  if ('dir' in c) rmSync(c.dir, { recursive: true, force: true });
}

/** Every byte offset and count the C loops need, from the layout map (the reference holds no offset). */
export function referenceArgs(t: Tables, accounts: number, marginCallHealth: number): string[] {
  const { markets } = t.layout.tables;
  // The kernels' own offsets (the WebAssembly kernels read the same), the C loops' names for the two counts, and
  // what the C driver needs besides: the sizes to loop over and the markets' slot ranges.
  const { positionCount: accountPositionCount, ...offsets } = kernelOffsets(t);
  const args: Record<string, number> = {
    markets: t.markets.id.length,
    accounts,
    marginCallHealth,
    ...offsets,
    positionStart: markets.positionStart!.offset,
    positionCount: markets.positionCount!.offset,
    accountPositionCount: accountPositionCount!,
  };
  // A number's shortest round-trip decimal: strtod gives C the same double (marginCallHealth).
  return Object.entries(args).map(([k, v]) => `${k}=${v}`);
}

/** A running reference over a copy of `t`'s bytes as they are now. */
export class ScanReference {
  private readonly child: ChildProcessWithoutNullStreams;
  private pending = '';
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly dir: string;
  private readonly ready: Promise<string>;
  private exited: string | null = null;

  constructor(compiled: { readonly binary: string }, t: Tables, accounts: number, marginCallHealth: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'unwind-scan-buffer-'));
    const file = join(this.dir, 'tables.bin');
    writeFileSync(file, new Uint8Array(t.buffer, 0, t.layout.byteLength));
    this.child = spawn(compiled.binary, [file, ...referenceArgs(t, accounts, marginCallHealth)], { stdio: 'pipe' });
    let stderr = '';
    this.child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    this.child.stdout.on('data', (d: Buffer) => {
      this.pending += d.toString();
      for (let i = this.pending.indexOf('\n'); i >= 0; i = this.pending.indexOf('\n')) {
        const line = this.pending.slice(0, i);
        this.pending = this.pending.slice(i + 1);
        this.waiting.shift()?.(line);
      }
    });
    this.child.on('exit', (code) => {
      this.exited = `scan-reference exited with ${code}: ${stderr.trim()}`;
      for (const w of this.waiting.splice(0)) w(`error ${this.exited}`);
    });
    this.ready = this.next();
  }

  private next(): Promise<string> {
    if (this.exited !== null) return Promise.resolve(`error ${this.exited}`);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private async ask(command: string): Promise<string> {
    const line = await this.ready;
    if (!line.startsWith('ready')) throw new Error(`scan-reference did not start: ${line}`);
    const answer = this.next();
    this.child.stdin.write(`${command}\n`);
    const got = await answer;
    if (got.startsWith('error')) throw new Error(`scan-reference: ${command}: ${got}`);
    return got;
  }

  /** One pass of phase 1 (every market's used slots) or phase 2 (reset candidates, every account): nanoseconds. */
  async pass(phase: 1 | 2, threads: number): Promise<number> {
    return Number(await this.ask(`p${phase} ${threads}`));
  }

  /** The reference's buffer now (the layout's bytes). */
  async bytes(): Promise<Uint8Array> {
    const file = join(this.dir, 'after.bin');
    await this.ask(`dump ${file}`);
    return new Uint8Array(readFileSync(file));
  }

  async close(): Promise<void> {
    if (this.exited === null) {
      const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.stdin.end('quit\n');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
