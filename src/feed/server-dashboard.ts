/**
 * Thread: main (the engine's), for the feed server. The live risk page's static files at /dashboard: the page
 * (src/dashboard/index.html, with the feed's WebSocket path filled in) and its script (src/dashboard/main.ts, bundled
 * for browsers by scripts/build-dashboard.mjs into dist/dashboard/ in `npm run build`). Read once, when the server
 * starts; only these files are served, with their content types.
 *
 * The files hold no data and no secret: the page reads a token from its URL fragment (never sent to a server) and
 * logs in to the feed with it like any client. What it shows comes over the feed, as that token may see it.
 */
import { existsSync, readFileSync } from 'node:fs';
import type uWS from 'uWebSockets.js';

/** Where the built page is: dist/dashboard beside dist/src (this module built), or under dist/ (this module as source). */
function dashboardDir(): string | undefined {
  for (const rel of ['../../dashboard/', '../../dist/dashboard/']) {
    const dir = new URL(rel, import.meta.url).pathname;
    if (existsSync(`${dir}index.html`) && existsSync(`${dir}app.js`)) return dir;
  }
  return undefined;
}

interface StaticFile {
  readonly type: string;
  readonly body: Buffer;
}

/** Registers GET /dashboard, /dashboard/ and /dashboard/app.js on `app`; anything else under /dashboard/ is 404. */
export function serveDashboard(app: uWS.TemplatedApp, feedPath: string): void {
  const dir = dashboardDir();
  const files = new Map<string, StaticFile>();
  if (dir !== undefined) {
    const page = readFileSync(`${dir}index.html`, 'utf8').replace('%FEED_PATH%', feedPath.replace(/[^A-Za-z0-9/_.-]/g, ''));
    files.set('index', { type: 'text/html; charset=utf-8', body: Buffer.from(page) });
    files.set('app.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(`${dir}app.js`) });
  }
  const send = (res: uWS.HttpResponse, f: StaticFile | undefined): void => {
    if (f === undefined) {
      res.writeStatus('404 Not Found').writeHeader('content-type', 'text/plain; charset=utf-8').end(dir === undefined ? 'the dashboard is not built (npm run build)' : 'not found');
      return;
    }
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', f.type)
      .writeHeader('cache-control', 'no-cache')
      .writeHeader('x-content-type-options', 'nosniff')
      .writeHeader('referrer-policy', 'no-referrer')
      .writeHeader('content-security-policy', "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
      .end(f.body);
  };
  app.get('/dashboard', (res) => send(res, files.get('index')));
  app.get('/dashboard/', (res) => send(res, files.get('index')));
  app.get('/dashboard/app.js', (res) => send(res, files.get('app.js')));
  app.get('/dashboard/*', (res) => send(res, undefined));
}
