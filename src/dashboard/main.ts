/**
 * The live risk page's script (bundled into dist/dashboard/app.js by scripts/build-dashboard.mjs): logs in to the
 * binary feed with the project's own client SDK and draws what it hears. Read-only: it only subscribes.
 *
 * The token comes from the URL fragment, /dashboard/#token=TOKEN (a fragment is never sent to a server, so it stays
 * out of access logs), and travels as the feed's `?token=` at the WebSocket upgrade, as browsers must. The feed's
 * path is the one the server wrote into the page (meta unwind-feed-path).
 */
import { FeedClient } from '../feed/client.js';
import { RiskState } from './state.js';
import { connection, render } from './view.js';

const state = new RiskState();
let scheduled = false;
/** Draws at most once a frame, however many events arrive. */
function redraw(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    render(state);
  });
}

function tokenOf(): string {
  const fragment = new URLSearchParams(location.hash.slice(1)).get('token');
  return fragment ?? new URLSearchParams(location.search).get('token') ?? '';
}

async function main(): Promise<void> {
  const token = tokenOf();
  if (token === '') {
    connection('no token: open /dashboard/#token=YOUR_SUBSCRIBER_TOKEN', 'bad');
    return;
  }
  const path = document.querySelector('meta[name="unwind-feed-path"]')?.getAttribute('content') || '/v1/feed';
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
  let client: FeedClient;
  try {
    client = await FeedClient.connect({ url, token, tokenIn: 'query', reconnect: { maxDelayMs: 5_000 } });
  } catch {
    connection('cannot connect: check the token (HTTP 401) and that the server runs', 'bad');
    return;
  }
  connection('connected', 'ok');
  const on = <A extends unknown[]>(update: (...args: A) => void) => (...args: A): void => {
    update(...args);
    redraw();
  };
  client.on('engineStatus', on((s) => state.engineStatus(s)));
  client.on(
    'marketSummaries',
    on((u) => {
      // The markets are known from the first summary: watch their ADL queues too.
      const fresh = u.markets.map((m) => m.market).filter((m) => !state.markets.has(m));
      state.marketSummaries(u);
      if (fresh.length > 0) client.subscribe({ adlMarkets: fresh });
    }),
  );
  client.on('orders', on((orders) => state.orders(orders)));
  client.on('settlements', on((rows, decimals) => state.settlements(rows, decimals)));
  client.on('takeovers', on((ts) => state.takeovers(ts)));
  client.on('deleveragings', on((ds) => state.deleveragings(ds)));
  client.on('marginCalls', on((calls) => state.marginCallsIn(calls)));
  client.on('unresolvedDeficits', on((us) => state.unresolvedDeficits(us)));
  client.on('socializedLosses', on((ls) => state.socializedLosses(ls)));
  client.on('insuranceFunds', on((u) => state.insuranceFunds(u)));
  client.on('adlQueue', on((q) => state.adlQueue(q)));
  client.on('close', (code, reason, willReconnect) => connection(`disconnected (${code}${reason ? ` ${reason}` : ''})${willReconnect ? ', reconnecting…' : ''}`, 'bad'));
  client.on('open', () => connection('connected', 'ok'));
  client.subscribe({ allOrders: true, settlements: true, insuranceFunds: true, marketSummaries: true });
}

void main();
