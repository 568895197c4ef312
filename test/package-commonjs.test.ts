/**
 * CommonJS users: `require('unwind')` (and `unwind/feed`, `unwind/domain`) from a `.cjs` app in a consumer project.
 * The package is ES modules with no top-level await anywhere in its graph, so a Node that can require() ES modules
 * (20.19+, 22.12+: `process.features.require_module`) loads it synchronously, the same module instances `import`
 * gets; an older Node refuses with ERR_REQUIRE_ESM and a message pointing at import(), never with
 * ERR_PACKAGE_PATH_NOT_EXPORTED. A TypeScript CommonJS app type-checks under `module: nodenext` (TypeScript 5.8+).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consumerProject, ROOT, runNode, testNodes } from './support/package-project.js';

const SCRIPT = `
const canRequireEsm = process.features.require_module === true;
const out = { node: process.version, canRequireEsm };
try {
  const { Engine, UnwindError } = require('unwind');
  const feed = require('unwind/feed');
  const domain = require('unwind/domain');
  out.version = require('unwind/package.json').version;
  out.exports = [typeof Engine, typeof feed.FeedClient, typeof domain.fillablePrice];
  out.sameModule = domain.fillablePrice === require('unwind').domain.fillablePrice;
  (async () => {
    const engine = await Engine.start({ capacity: { markets: 2, accounts: 16, positions: 16 }, scanWorkers: 1 });
    engine.addMarket({ id: 0, symbol: 'BTC-USD', price: 50_000, tiers: [{ maxNotional: null, initialMarginFraction: 0.05, maintenanceMarginFraction: 0.03 }] });
    engine.addAccount(1, 200);
    engine.upsertPosition({ account: 1, market: 0, size: 0.1, entryPrice: 50_000 });
    engine.pushPrice(0, 45_000);
    out.orders = (await engine.step()).orders.map((o) => [o.account, o.side]);
    try { engine.pushPrice(0, NaN); } catch (e) { out.rejected = e instanceof UnwindError ? e.code : String(e); }
    await engine.close();
    console.log(JSON.stringify(out));
  })();
} catch (e) {
  out.error = { code: e.code, message: e.message };
  console.log(JSON.stringify(out));
}
`;

const dir = consumerProject({ 'app.cjs': SCRIPT });

describe.each(testNodes())('require("unwind") on %s', (node) => {
  it('loads the package and runs an engine where Node can require() ES modules, else says to use import()', () => {
    const r = runNode(node, dir, 'app.cjs');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    if (r.result.canRequireEsm === true) {
      expect(r.result).toMatchObject({
        exports: ['function', 'function', 'function'],
        sameModule: true,
        orders: [[1, 'sell']],
        rejected: 'INVALID_PRICE',
      });
      expect(r.result.version).toMatch(/^\d+\.\d+\.\d+/);
    } else {
      expect(r.result.error).toEqual({ code: 'ERR_REQUIRE_ESM', message: expect.stringMatching(/dynamic import\(\)/) });
    }
  });
});

describe('a TypeScript CommonJS app', () => {
  const app = consumerProject({
    'app.cts': [
      "import { Engine, UnwindError, type Settlement, type StateChange, type OracleStats, type SourceSigner } from 'unwind';",
      "import { FeedClient, type FeedClientOptions } from 'unwind/feed';",
      "import { fillablePrice } from 'unwind/domain';",
      'export type Seen = [Settlement, StateChange, OracleStats, SourceSigner, FeedClientOptions];',
      'export async function main(): Promise<string> {',
      '  const engine = await Engine.start({ scanWorkers: 0 });',
      '  await engine.close();',
      '  return [typeof UnwindError, typeof FeedClient, typeof fillablePrice].join();',
      '}',
    ].join('\n'),
  });
  const tsc = (module: string, skipLibCheck: boolean) =>
    spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', String(skipLibCheck), '--module', module,
        '--moduleResolution', module, '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), 'app.cts'],
      { cwd: app, encoding: 'utf8', timeout: 170_000 },
    );

  it('type-checks with module nodenext, declarations included', () => {
    const r = tsc('nodenext', false);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 180_000);

  it('is told to use import() under module node16, which models no require() of ES modules', () => {
    const r = tsc('node16', true);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/TS1479: .*cannot be imported with 'require'/);
  }, 180_000);
});
