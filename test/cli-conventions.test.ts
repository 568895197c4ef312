/**
 * The `unwind` command line as a user meets it: a real child process per call. Every command answers --help on stdout
 * with exit 0, listing each of its flags with its default; --version prints package.json's version; a bad flag or a
 * missing value exits 2 with the command's usage line on stderr and nothing on stdout.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli/main.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function unwind(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS = ['demo', 'serve', 'check', 'replay', 'backtest', 'bench'];

describe('unwind --help and --version', () => {
  it('lists every command on stdout, exit 0', () => {
    const r = unwind('--help');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of COMMANDS) expect(r.stdout).toContain(`unwind ${c} `);
    expect(unwind().stdout).toBe(r.stdout);
  });

  it('prints the version of package.json, for the program and for every command', () => {
    for (const args of [['--version'], ...COMMANDS.map((c) => [c, '--version'])]) {
      const r = unwind(...args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout).toBe(`${VERSION}\n`);
    }
  });

  it.each(COMMANDS)('unwind %s --help: its usage line and every flag of it, with the defaults, on stdout, exit 0', (command) => {
    const r = unwind(command, '--help');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const usage = r.stdout.split('\n')[0]!;
    expect(usage).toMatch(new RegExp(`^usage: unwind ${command} `));
    const flags = [...usage.matchAll(/\[(--[\w-]+)/g)].map((m) => m[1]!);
    expect(flags.length).toBeGreaterThan(0);
    const body = r.stdout.split('\n').slice(1).join('\n');
    for (const flag of flags) expect(body, flag).toMatch(new RegExp(`^\\s+(-\\w, )?${flag}\\b`, 'm'));
    for (const flag of ['--help', '--version']) expect(body).toContain(flag);
    if (command !== 'bench') {
      // Each flag that takes a value says its default.
      for (const line of body.split('\n').filter((l) => /^\s+--[\w-]+ [A-Z]/.test(l))) expect(line).toMatch(/default/);
    }
    expect(unwind(command, '-h').stdout).toBe(r.stdout);
  });
});

describe('a bad command line', () => {
  it.each(COMMANDS)('unwind %s --no-such-flag: exit 2, the usage line on stderr, nothing on stdout', (command) => {
    const r = unwind(command, '--no-such-flag');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('--no-such-flag');
    expect(r.stderr).toMatch(new RegExp(`^usage: unwind ${command} `, 'm'));
  });

  it.each([
    ['serve', '--port'],
    ['serve', '--config'],
    ['demo', '--seed'],
    ['replay', '--workers'],
    ['backtest', '--seeds'],
  ])('unwind %s %s without its value: exit 2 with the usage line', (command, flag) => {
    const r = unwind(command, flag);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(flag);
    expect(r.stderr).toMatch(new RegExp(`^usage: unwind ${command} `, 'm'));
  });

  it.each([
    ['demo', '--port', 'http', '--port: expected a port in [0, 65535], got "http"'],
    ['demo', '--accounts', 'many', '--accounts: expected a non-negative integer, got "many"'],
    ['serve', '--port', '65536', '--port: expected a port in [0, 65535], got "65536"'],
    ['serve', '--stats-every', 'often', '--stats-every: expected a non-negative integer, got "often"'],
  ])('unwind %s %s %s: INVALID_CONFIG naming the flag, exit 2 with the usage line', (command, flag, value, message) => {
    const r = unwind(command, flag, value);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`INVALID_CONFIG: ${message}`);
    expect(r.stderr).toMatch(new RegExp(`^usage: unwind ${command} `, 'm'));
  });

  it('an unknown command: exit 2 with the list of commands on stderr', () => {
    const r = unwind('serv');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "serv"');
    expect(r.stderr).toContain('unwind serve ');
  });

  it('--host and --port belong to the feed demo: with --embedded they are refused', () => {
    const r = unwind('demo', '--embedded', '--port', '9001');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('INVALID_CONFIG: --port: applies to the feed demo, not --embedded');
  });
});

describe('unwind check from an installed package', () => {
  it('without a FILE, evaluates the example scenario shipped with the package', () => {
    const r = unwind('check', '--compact');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { accounts: { id: number; equity: number }[] };
    expect(report.accounts).toEqual([expect.objectContaining({ id: 1, equity: 499 })]);
  });

  it('the package ships that example, the serve config example and the JSON Schema (package.json "files")', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ['examples/scenario.json', 'examples/serve.config.json', 'schemas/serve-config.schema.json', 'docs/configuration.md', 'dist/src/cli/main.js', 'package.json']) expect(files).toContain(f);
  });
});
