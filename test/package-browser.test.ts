/**
 * The client SDK in a browser bundle: `unwind/feed` bundled by esbuild for the browser with no flags, as a web app's
 * bundler would. package.json's `"browser": { "ws": false }` maps away the Node-only WebSocket the SDK imports
 * lazily outside browsers; nothing else of Node may reach the bundle (no builtin, no `ws`, no require()).
 */
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { consumerProject } from './support/package-project.js';

const ENTRY = "export { FeedClient, decodeFrame, encodeTicks, joinDeleveragings } from 'unwind/feed';\n";

describe('unwind/feed in a browser bundle', () => {
  it('bundles for the browser without flags and pulls in no Node code', async () => {
    const dir = consumerProject({ 'entry.js': ENTRY }, 'module');
    const r = await build({
      entryPoints: [join(dir, 'entry.js')],
      absWorkingDir: dir,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    const inputs = Object.keys(r.metafile.inputs);
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    expect(inputs.filter((i) => builtins.has(i) || i.startsWith('node:'))).toEqual([]);
    // `ws` is mapped to nothing: esbuild lists it as disabled, and none of its files is bundled (without the map,
    // ws's own browser field would bring in its stub that throws "ws does not work in the browser").
    expect(inputs.filter((i) => /node_modules\/ws\//.test(i) && !i.startsWith('(disabled):'))).toEqual([]);
    expect(inputs.filter((i) => i.startsWith('(disabled):'))).toEqual([expect.stringMatching(/node_modules\/ws\//)]);
    expect(inputs.filter((i) => /\/src\/(engine|tables|journal|cli)\//.test(i))).toEqual([]);
    const js = r.outputFiles[0]!.text;
    expect(js).not.toMatch(/\brequire\(/);
    expect(js).not.toMatch(/["']node:/);
    // A browser subscriber's bundle stays small (22 KB gzipped, minified, for FeedClient alone); a bound, not a benchmark.
    expect(gzipSync(js).length).toBeLessThan(64 * 1024);
  });
});
