/** The built `unwind` command as a child process, for tests that run it as a user would. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(new URL('../..', import.meta.url).pathname, 'dist/src/cli/main.js');

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `unwind ...args` to its end and collects its exit status and output. */
export function runCli(...args: string[]): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The message of a JSON log line of `unwind serve` (README "Observability"); any other line as it is. */
export function logMessage(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const msg = (JSON.parse(line) as { msg?: unknown }).msg;
    return typeof msg === 'string' ? msg : line;
  } catch {
    return line;
  }
}
