/**
 * The README's 3-node deployment, as shipped in examples/cluster: `run-local.sh` starts three nats-servers from their
 * config files and three `unwind serve --cluster` replicas under its supervisor loop. One replica leads; a feed client
 * given the three URLs gets its inputs acknowledged; the leader killed with SIGKILL is started again as a standby and a
 * new leadership begins (another replica's, or its own once it is back), and the same client's inputs are
 * acknowledged again without being told where; SIGTERM to the script stops every process it started. Fixed ports
 * (the example's): 4222-4224, 6222-6224 and 9101-9103 must be free.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../src/feed/client.js';
import { resolveClusterConfig } from '../src/cluster/config.js';
import { findNatsServer } from '../src/cluster/nats-servers.js';
import { readServeConfig } from '../src/cli/serve.js';
import { CLI } from './support/cli.js';

const EXAMPLE = resolve('examples/cluster');
const PORTS = [4222, 4223, 4224, 6222, 6223, 6224, 9101, 9102, 9103];
const URLS = [9101, 9102, 9103].map((p) => `ws://127.0.0.1:${p}/v1/feed`);
const MATCHING = 'replace-me-matching-engine-token';

const hasNats = findNatsServer() !== undefined;
const required = process.env.UNWIND_REQUIRE_NATS === '1';
if (!hasNats && !required) console.warn('example cluster test skipped: nats-server is not installed (apt-get install nats-server)');

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const portFree = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
  });

async function waitFor(check: () => boolean, ms: number, what: string, logs: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The serve processes of the example's replicas, by node: pid per `--node nN` (children of the supervisor loops). */
function replicaPids(): Map<string, number> {
  const out = new Map<string, number>();
  const ps = spawnSync('pgrep', ['-af', `${EXAMPLE}/replica-n`], { encoding: 'utf8' }).stdout;
  for (const line of ps.split('\n')) {
    const m = /^(\d+) .*main\.js serve .*--node (n\d)/.exec(line);
    if (m !== null) out.set(m[2]!, Number(m[1]));
  }
  return out;
}

describe('examples/cluster', () => {
  it('its configs are valid as they ship: the cluster config for each node, each replica config, each NATS config', () => {
    const cluster = JSON.parse(readFileSync(join(EXAMPLE, 'cluster.json'), 'utf8'));
    for (const node of ['n1', 'n2', 'n3']) {
      expect(resolveClusterConfig({ ...cluster, node })).toMatchObject({ node, replicas: 3, logStream: 'UNWIND_LOG' });
      const serve = readServeConfig(join(EXAMPLE, `replica-${node}.json`));
      expect(serve.engine?.journal?.dir).toBe(`./journal-${node}`);
    }
    if (!hasNats) return;
    for (const n of [1, 2, 3]) {
      // nats-server -t: test the configuration and exit.
      const r = spawnSync(findNatsServer()!, ['-c', join(EXAMPLE, `nats-n${n}.conf`), '-t'], { encoding: 'utf8' });
      expect(r.status, r.stderr + r.stdout).toBe(0);
    }
  });

  it.skipIf(!hasNats && !required)('run-local.sh: one leader, acknowledged inputs, a leader killed with SIGKILL comes back as a standby and a new leadership begins, SIGTERM stops all', async () => {
    for (const p of PORTS) expect(await portFree(p), `port ${p} (the example's) is taken`).toBe(true);
    const work = mkdtempSync(join(tmpdir(), 'unwind-example-cluster-'));
    dirs.push(work);
    const script: ChildProcess = spawn('bash', [join(EXAMPLE, 'run-local.sh'), work], {
      env: { ...process.env, UNWIND: `${process.execPath} ${CLI}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: whatever happens, the test's cleanup reaches every process it started
    });
    let out = '';
    script.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    script.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((done) => script.on('exit', (code) => done(code)));
    const log = (n: number): string => (existsSync(join(work, `replica-n${n}.log`)) ? readFileSync(join(work, `replica-n${n}.log`), 'utf8') : '');
    const logs = (): string => `script: ${out}\n${[1, 2, 3].map((n) => `--- n${n}\n${log(n).slice(-2000)}`).join('\n')}`;
    const leaders = (): string[] => [1, 2, 3].filter((n) => / leads; /.test(log(n))).map((n) => `n${n}`);
    let client: FeedClient | undefined;
    try {
      await waitFor(() => leaders().length === 1, 60_000, 'a first leader', logs);
      const first = leaders()[0]!;
      // Every replica starts as a standby; the two that do not lead stay one.
      await waitFor(() => [1, 2, 3].filter((n) => / follows unwind as a standby/.test(log(n)) && !/ leads; /.test(log(n))).length === 2, 60_000, 'two standbys', logs);
      client = await FeedClient.connect({ url: URLS, token: MATCHING, acks: true, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
      await client.durable(client.sendCollateral([{ account: 1, collateral: 1_000 }]));

      const pid = replicaPids().get(first);
      expect(pid, logs()).toBeDefined();
      // A new leadership (the lease lapses; whichever replica campaigns first leads, the killed one too once it is
      // back), and the client, which was told nothing, finds it and is acknowledged there.
      const leaderships = (): number => [1, 2, 3].reduce((k, n) => k + (log(n).match(/ leads; /g) ?? []).length, 0);
      const before = leaderships();
      process.kill(pid!, 'SIGKILL');
      await waitFor(() => leaderships() > before, 60_000, 'a new leader', logs);
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await client.durable(client.sendCollateral([{ account: 2, collateral: 2_000 }]));
          break;
        } catch (e) {
          if (Date.now() > deadline) throw new Error(`no acknowledgement from the new leader: ${String(e)}\n${logs()}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      // The supervisor loop started the killed replica again; it follows as a standby.
      const n = Number(first.slice(1));
      await waitFor(() => (log(n).match(/ follows unwind as a standby/g) ?? []).length >= 2 && /exited with status 137: starting it again/.test(log(n)), 60_000, `${first} back as a standby`, logs);
      client.close();
      client = undefined;

      process.kill(-script.pid!, 'SIGTERM');
      expect(await exited).toBe(0);
      // Nothing the script started is left: no replica, no nats-server of this work directory.
      await waitFor(() => replicaPids().size === 0, 30_000, 'the replicas to stop', logs);
      const nats = spawnSync('pgrep', ['-af', `${EXAMPLE}/nats-n`], { encoding: 'utf8' }).stdout.trim();
      expect(nats).toBe('');
    } finally {
      client?.close();
      try {
        process.kill(-script.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, 240_000);
});
