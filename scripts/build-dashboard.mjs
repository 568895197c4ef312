// Builds the live risk page (README "Live risk page") into dist/dashboard/: the page, and its script bundled for
// browsers with esbuild (src/dashboard/main.ts and the feed client SDK it imports; `ws` is left out: a browser has
// its own WebSocket). No Node code may reach the bundle: esbuild's browser platform fails on a Node builtin.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const out = `${root}dist/dashboard`;
mkdirSync(out, { recursive: true });

/** The SDK loads `ws` only where there is no global WebSocket, never in a browser: bundle nothing for it. */
const noWs = {
  name: 'no-ws',
  setup(b) {
    b.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', namespace: 'no-ws' }));
    b.onLoad({ filter: /.*/, namespace: 'no-ws' }, () => ({ contents: 'export default undefined;', loader: 'js' }));
  },
};

await build({
  entryPoints: [`${root}src/dashboard/main.ts`],
  outfile: `${out}/app.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  plugins: [noWs],
  logLevel: 'warning',
});
copyFileSync(`${root}src/dashboard/index.html`, `${out}/index.html`);
