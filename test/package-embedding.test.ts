/**
 * Embedding loads no transport: `import 'unwind'` and a running engine load neither uWebSockets.js nor any native
 * binary and print nothing, on every Node the package supports; the transport is loaded when a FeedServer starts, as
 * the native build for that Node's ABI, or the start is refused with TRANSPORT_UNAVAILABLE saying why. Each case is a
 * child `node` in a consumer project (test/support/package-project.ts); what it loaded is read from the CommonJS
 * module cache (uWebSockets.js builds are CommonJS) and from the process's shared objects (the `.node` binaries).
 */
import { describe, expect, it } from 'vitest';
import { TRANSPORT_BUILDS } from '../src/feed/transport.js';
import { abiOf, consumerProject, glibcOf, runNode, testNodes } from './support/package-project.js';

const SCRIPT = `
import { createRequire } from 'node:module';
const unwind = await import('unwind');
const transport = () => ({
  modules: Object.keys(createRequire(import.meta.url).cache).filter((k) => /uws|uwebsockets/i.test(k)).length,
  binaries: process.report.getReport().sharedObjects.filter((s) => /uws_\\w+_\\w+_\\d+\\.node$/.test(s)).length,
});
const engine = await unwind.Engine.start({ capacity: { markets: 2, accounts: 16, positions: 16 }, scanWorkers: 1 });
engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: [{ maxNotional: null, initialMarginFraction: 0.05, maintenanceMarginFraction: 0.03 }] });
engine.addAccount(1, 200);
engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
engine.pushPrice(0, 45_000);
const { orders } = await engine.step();
const out = { node: process.version, orders: orders.map((o) => [o.account, o.side]), embedded: transport() };
if (process.env.SERVE === '1') {
  try {
    const server = await unwind.FeedServer.start(engine, { port: 0, publisherTokens: ['a-publisher-token-for-tests'] });
    out.served = server.port > 0;
    await server.close();
  } catch (e) {
    out.refused = { code: e.code, message: e.message };
  }
  out.serving = transport();
}
await engine.close();
console.log(JSON.stringify(out));
`;

const dir = consumerProject({ 'embed.mjs': SCRIPT });
/** What starting a server should do on a Node of ABI `abi` over glibc `glibc` (Linux): serve, or refuse with this reason. */
function expectedTransport(abi: string, glibc: string | undefined): RegExp | 'serves' {
  const build = TRANSPORT_BUILDS.find((b) => b.abis.includes(abi));
  if (build === undefined) return /no native uWebSockets\.js build for Node/;
  if (process.platform !== 'linux') return 'serves';
  if (glibc === undefined) return /no glibc/;
  const [have, need] = [glibc, build.linuxGlibc].map((v) => v.split('.').map(Number));
  const older = have[0]! < need[0]! || (have[0] === need[0] && have[1]! < need[1]!);
  return older ? new RegExp(`need glibc ${build.linuxGlibc.replace('.', '\\.')} or later, this system has ${glibc}`) : 'serves';
}

describe.each(testNodes().map((node) => ({ node, abi: abiOf(node), glibc: glibcOf(node) })))('the package on node ABI $abi, glibc $glibc ($node)', ({ node, abi, glibc }) => {
  it('imports and runs an engine without loading the transport or printing a warning', () => {
    const r = runNode(node, dir, 'embed.mjs');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.result.orders).toEqual([[1, 'sell']]);
    expect(r.result.embedded).toEqual({ modules: 0, binaries: 0 });
  });

  it('loads the native build for its ABI when a FeedServer starts, or refuses with TRANSPORT_UNAVAILABLE and the reason', () => {
    const r = runNode(node, dir, 'embed.mjs', { SERVE: '1' });
    expect(r.status).toBe(0);
    const expected = expectedTransport(abi, glibc);
    if (expected === 'serves') {
      expect(r.stderr).toBe('');
      expect(r.result.served).toBe(true);
      expect(r.result.serving).toMatchObject({ binaries: 1 });
    } else {
      const refused = r.result.refused as { code: string; message: string };
      expect(refused.code).toBe('TRANSPORT_UNAVAILABLE');
      expect(refused.message).toMatch(expected);
    }
    expect(r.result.orders).toEqual([[1, 'sell']]);
  });

  // The Node 20 build honours UWS_USE_FALLBACK: its JavaScript server, the silent slow path the check guards against.
  it.runIf(abi === '115')('refuses a build that loaded its JavaScript fallback instead of the native binary', () => {
    const r = runNode(node, dir, 'embed.mjs', { SERVE: '1', UWS_USE_FALLBACK: '1' });
    expect(r.status).toBe(0);
    expect(r.result.refused).toEqual({
      code: 'TRANSPORT_UNAVAILABLE',
      message: expect.stringMatching(/loaded its JavaScript fallback, not the native binary.*refusing to serve/),
    });
    expect(r.result.serving).toMatchObject({ binaries: 0 });
  });
});
