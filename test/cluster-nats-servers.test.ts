/**
 * The NATS cluster on loopback that the cluster tests and the replication bench start (src/cluster/nats-servers.ts):
 * once `start` returns every node takes connections; a node that cannot bind its ports (another process holds one)
 * is REPLICATION_FAILED naming the node and what its log says, not a cluster that silently runs with a node missing
 * (JetStream then refuses to place replicated streams: "no suitable peers for placement").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { accepts, findNatsServer, freePort, NatsCluster } from '../src/cluster/nats-servers.js';

const hasNats = findNatsServer() !== undefined;
const required = process.env.UNWIND_REQUIRE_NATS === '1';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Whether a node's client URL takes connections. */
const listens = (url: string): Promise<boolean> => accepts(Number(new URL(url).port));

describe.skipIf(!hasNats && !required)('NatsCluster', () => {
  it('returns once every node takes connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unwind-nats-'));
    dirs.push(dir);
    const nats = await NatsCluster.start({ dir });
    try {
      expect(nats.running).toBe(3);
      expect(await Promise.all(nats.urls.map(listens))).toEqual([true, true, true]);
    } finally {
      await nats.stop();
    }
  });

  it('a node whose route port another process holds: REPLICATION_FAILED naming the node and its log, nothing left running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unwind-nats-'));
    dirs.push(dir);
    // Ports given: node i listens on port + i and routes on port + 100 + i. Hold node 2's route port.
    let port = 0;
    let holder: Server | undefined;
    for (let tries = 0; holder === undefined && tries < 20; tries++) {
      port = (await freePort()) % 50_000 + 2_000;
      const h = createServer();
      holder = await new Promise<Server | undefined>((resolve) => {
        h.once('error', () => resolve(undefined));
        h.listen(port + 101, '127.0.0.1', () => resolve(h));
      });
    }
    try {
      const started = NatsCluster.start({ dir, port });
      await expect(started).rejects.toMatchObject({ code: 'REPLICATION_FAILED', field: 'nats-server', message: expect.stringMatching(/node n2 did not start .*address already in use/i) });
      for (const p of [port, port + 2]) expect(await accepts(p)).toBe(false);
    } finally {
      holder?.close();
    }
  });
});
