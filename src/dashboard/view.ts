/**
 * Draws the live risk page from its model (state.ts): tables and two inline SVG charts, plain DOM. Text goes in
 * through textContent only, so nothing the feed says is ever read as markup.
 */
import { formatAtoms } from '../feed/atoms.js';
import type { RiskState } from './state.js';

const SVG = 'http://www.w3.org/2000/svg';

type Cell = string | number | { readonly text: string; readonly className: string };

function fixed(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined ? '' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Replaces the rows of `section`'s table body. */
function rows(section: string, data: readonly (readonly Cell[])[], attrs?: (i: number) => Record<string, string>): void {
  const body = document.querySelector(`#${section} tbody`);
  if (body === null) return;
  const trs = data.map((cells, i) => {
    const tr = document.createElement('tr');
    for (const [k, v] of Object.entries(attrs?.(i) ?? {})) tr.setAttribute(k, v);
    for (const c of cells) {
      const td = document.createElement('td');
      if (typeof c === 'object') {
        td.textContent = c.text;
        td.className = c.className;
      } else td.textContent = String(c);
      tr.append(td);
    }
    return tr;
  });
  body.replaceChildren(...trs);
}

/** Polylines of `series` (each a list of y values over the same x) in the svg `id`, scaled to fit. */
function chart(id: string, series: readonly { readonly values: readonly number[]; readonly className: string }[]): void {
  const svg = document.getElementById(id);
  if (svg === null) return;
  const all = series.flatMap((s) => s.values);
  if (all.length === 0) return svg.replaceChildren();
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all, lo + 1e-9);
  const n = Math.max(...series.map((s) => s.values.length));
  const x = (i: number): number => (n <= 1 ? 200 : (i / (n - 1)) * 396 + 2);
  const y = (v: number): number => 116 - ((v - lo) / (hi - lo)) * 112;
  // The newest point of each series as a dot too: a series of one point is no line.
  const dots = series.flatMap((s) => {
    if (s.values.length === 0) return [];
    const dot = document.createElementNS(SVG, 'circle');
    dot.setAttribute('cx', x(s.values.length - 1).toFixed(1));
    dot.setAttribute('cy', y(s.values[s.values.length - 1]!).toFixed(1));
    dot.setAttribute('r', '3');
    dot.setAttribute('fill', 'currentColor');
    dot.setAttribute('class', s.className);
    return [dot];
  });
  svg.replaceChildren(
    ...dots,
    ...series.map((s) => {
      const line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '));
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', 'currentColor');
      line.setAttribute('stroke-width', '2');
      line.setAttribute('vector-effect', 'non-scaling-stroke');
      line.setAttribute('class', s.className);
      return line;
    }),
  );
}

export function connection(text: string, className: 'ok' | 'bad' | 'muted'): void {
  const el = document.getElementById('connection');
  if (el === null) return;
  el.textContent = text;
  el.className = className;
}

export function render(s: RiskState): void {
  const e = s.engine;
  const engine = document.getElementById('engine');
  if (engine !== null && e !== undefined) engine.textContent = `engine ${e.state}, epoch ${e.epoch}, ${e.markets} markets, ${e.accounts} accounts, ${e.positions} open positions`;

  const markets = [...s.markets.values()].sort((a, b) => a.market - b.market);
  rows(
    'markets',
    markets.map((m) => [
      `${m.symbol || m.market}`,
      fixed(m.markPrice),
      fixed(m.oraclePrice),
      m.paused ? { text: `paused (${m.code})`, className: 'bad' } : { text: 'live', className: 'ok' },
      m.killLevel === 'normal' ? m.killLevel : { text: m.killLevel, className: 'warn' },
      m.reason,
    ]),
    (i) => ({ 'data-market': String(markets[i]!.market) }),
  );

  rows(
    'liquidations',
    s.liquidations.map((l) => [
      `${l.id} ${l.symbol}`.trim(),
      l.side,
      Number(l.quantity.toPrecision(6)),
      fixed(l.limitPrice),
      l.health === null ? '' : l.health.toFixed(3),
      { text: l.status, className: l.status === 'issued' ? 'warn' : 'ok' },
      fixed(l.fee),
      l.deficit ? { text: fixed(l.deficit), className: 'bad' } : fixed(l.deficit),
    ]),
    (i) => ({ 'data-order-id': s.liquidations[i]!.id }),
  );

  rows(
    'margin-calls',
    s.marginCalls.map((m) => [m.account, m.market === null ? 'cross' : `isolated ${m.market}`, m.health.toFixed(3), fixed(m.equity), fixed(m.maintenanceMargin), m.epoch]),
  );

  const funds = [...s.funds.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true }));
  rows(
    'funds',
    [
      ...funds.map(([market, atoms]): Cell[] => [market === 'pooled' ? 'pooled' : `${s.markets.get(market)?.symbol || market}`, formatAtoms(atoms, s.quoteDecimals)]),
      ['deficits (since opened)', formatAtoms(s.deficitAtoms, s.quoteDecimals)],
      ['bad debt reported', fixed(s.unresolved, s.quoteDecimals)],
      ['paid by other accounts', fixed(s.socialized, s.quoteDecimals)],
    ],
  );
  chart('funds-chart', [
    { values: s.series.map((p) => p.funds), className: 'ok' },
    { values: s.series.map((p) => p.deficits), className: 'bad' },
  ]);

  const queues = [...s.adl.values()].sort((a, b) => a.market - b.market || b.positionsSide - a.positionsSide);
  rows(
    'adl',
    queues.flatMap((q) =>
      q.entries.slice(0, 5).map((e): Cell[] => [
        `${s.markets.get(q.market)?.symbol || q.market}`,
        q.positionsSide === 1 ? 'longs' : 'shorts',
        e.queuePosition,
        e.account,
        Number(e.size.toPrecision(6)),
        e.rank.toPrecision(3),
        `${(e.pnlPercent * 100).toFixed(1)}%`,
        e.effectiveLeverage.toPrecision(3),
      ]),
    ),
  );

  const lat = s.latencyUs;
  const figures = document.getElementById('latency-figures');
  if (figures !== null && lat.length > 0) {
    const sorted = [...lat].sort((a, b) => a - b);
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    figures.textContent = `last ${lat[lat.length - 1]} us, p50 ${at(0.5)} us, p99 ${at(0.99)} us over ${lat.length} epochs with orders`;
  }
  chart('latency-chart', [{ values: lat, className: 'warn' }]);
}
