/**
 * The configuration's schema (valibot): every key of EngineConfig, of FeedServerOptions and of `unwind serve`'s config
 * file, its type, its documented range, its default and where that default comes from. One definition serves three
 * readers: `checkConfig` at start (the cold path only: Engine.start, FeedServer.start, `unwind serve` reading its
 * file), schemas/serve-config.schema.json (scripts/gen-config-schema.mjs converts it) and docs/configuration.md's tables
 * (the same script writes them from that JSON Schema).
 *
 * What runs where. The hand-written resolvers (src/config.ts, src/config-types.ts, src/feed/server-options.ts, the
 * oracle's and the journal's) run first and own the ranges and the rules between keys, with the venue references in
 * their messages; then this schema rejects what they never look at: unknown keys at any depth (with the nearest known
 * key: "did you mean scanWorkers?") and values of the wrong type. The ranges below are metadata for the JSON Schema and
 * the reference; test/config-schema.test.ts checks each published bound of the engine's and the server's keys (two
 * levels deep, but for the few whose bound depends on another key) against the resolvers.
 *
 * A key added to EngineConfig or FeedServerOptions without an entry here fails to compile (src/config.ts and
 * src/feed/server-options.ts compare their interfaces' keys with EngineSchemaKeys and ServerSchemaKeys).
 */
import * as v from 'valibot';
import { MARK_COMPONENTS } from './config-types.js';
import { ErrorCode, UnwindError } from './errors.js';
import { describe, MAX_TIME_US } from './validate.js';

// ---- building blocks ----

/** A documented range, published as JSON Schema keywords; enforced by the resolvers, not here. */
interface Range {
  readonly integer?: true;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
}

/** A key's documentation: `default` (a JSON value) or `defaultText` (computed), and where the default comes from. */
interface Doc {
  readonly description: string;
  readonly default?: unknown;
  readonly defaultText?: string;
  readonly source?: string;
}

const expected =
  (what: string) =>
  (issue: v.BaseIssue<unknown>): string =>
    `expected ${what}, got ${describe(issue.input)}`;

/** Levenshtein distance, for "did you mean": small strings only (config keys). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known key nearest to `key` (at most a third of its letters off), if any. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * A strict object: an unknown key is refused naming the nearest known one, a missing key naming itself (the field is
 * then the object's, as the resolvers name it), anything but an object as such.
 */
function object<E extends v.ObjectEntries>(entries: E, what = 'an object') {
  const known = Object.keys(entries);
  return v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') {
      const near = nearestKey(String(issue.input), known);
      return near === undefined ? `unknown key (expected ${known.join(', ')})` : `unknown key; did you mean ${near}?`;
    }
    if (issue.expected !== 'Object') return `missing key ${issue.expected}`;
    return `expected ${what}, got ${describe(issue.input)}`;
  });
}

/** An optional key with its documentation. */
function key<S extends v.GenericSchema>(schema: S, doc: Doc) {
  const meta: Record<string, unknown> = {};
  if (doc.default !== undefined) meta.default = doc.default;
  if (doc.defaultText !== undefined) meta['x-default'] = doc.defaultText;
  if (doc.source !== undefined) meta['x-source'] = doc.source;
  return v.optional(v.pipe(schema, v.description(doc.description), v.metadata(meta)));
}

/** A required key with its documentation. */
function required<S extends v.GenericSchema>(schema: S, description: string) {
  return v.pipe(schema, v.description(description));
}

function number(range: Range = {}) {
  const { integer, ...bounds } = range;
  return v.pipe(v.number(expected('a number')), v.metadata(integer === true ? { type: 'integer', ...bounds } : bounds));
}
const boolean = () => v.boolean(expected('true or false'));
const string = (extra: Record<string, unknown> = {}) => v.pipe(v.string(expected('a string')), v.metadata(extra));
const oneOf = <const T extends readonly string[]>(options: T) => v.picklist(options, expected(`one of ${options.map((o) => `'${o}'`).join(', ')}`));
const array = <S extends v.GenericSchema>(item: S, extra: Record<string, unknown> = {}) => v.pipe(v.array(item, expected('an array')), v.metadata(extra));
const id = () => number({ integer: true, minimum: 0, maximum: 0xfffffffe });
const INT31 = 2 ** 31 - 1;
/** A tagged union on `kind`: an unknown kind is refused listing the known ones. */
const kinds = <const O extends v.VariantOptions<'kind'>>(options: O, known: readonly string[]) =>
  v.variant('kind', options, (issue) => (issue.expected === 'Object' ? `expected { kind, ... }, got ${describe(issue.input)}` : `expected kind ${known.map((k) => `'${k}'`).join(', ')}, got ${describe(issue.input)}`));

// ---- the engine (EngineConfig, src/config.ts) ----

const capacity = object({
  markets: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'Markets the tables hold.', default: 64, source: 'Unwind (`unwind serve`: the number of configured markets)' }),
  accounts: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'Accounts the tables hold.', default: 100_000, source: 'Unwind' }),
  positions: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'Positions the tables hold.', default: 1_000_000, source: 'Unwind' }),
  positionsPerAccount: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'Most positions one account holds (one per market); accounts x this is at most 2^32 - 1.', defaultText: 'min(markets, 16)', source: 'Unwind' }),
  candidates: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'Rows of the scan\'s candidate table.', defaultText: 'min(accounts + positions, 2^20)', source: 'Unwind' }),
  output: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'Rows of the executor\'s output ring.', default: 65_536, source: 'Unwind' }),
});

const scan = object({
  mode: key(oneOf(['index', 'full']), { description: "'index': visit only positions whose trigger price the mark crossed; 'full': scan the book every epoch (README \"Scan\").", default: 'index', source: 'Unwind' }),
  fullScanEvery: key(number({ integer: true, minimum: 1, maximum: 1_000_000 }), { description: "Under 'index', a full scan every this many epochs, counting any group the index missed.", default: 64, source: 'Unwind' }),
  band: key(number({ exclusiveMinimum: 0, exclusiveMaximum: 0.5 }), { description: 'How far (a fraction) a market may move before the cross accounts holding it are recomputed.', default: 0.01, source: 'Unwind' }),
});

const fees = object({
  maxFeeFraction: key(number({ minimum: 0, maximum: 1 }), { description: 'Largest liquidation fee as a fraction of the closed notional.', default: 0.015, source: 'dYdX v4 (docs/domain.md section 8)' }),
  maxMaintenanceShare: key(number({ minimum: 0 }), { description: 'Largest fee as a share k of the maintenance margin the close releases; at most the healing bound (src/domain/liquidation.ts).', defaultText: '0.5, lowered to the healing bound', source: 'dYdX launch: a 1.5% fee cap over 3% maintenance' }),
  fund: key(oneOf(['per-market', 'pooled']), { description: 'Insurance funds per market, or one pooled fund.', default: 'per-market', source: 'Unwind' }),
});

const sizing = object({
  targetHealth: key(number({ exclusiveMinimum: 1 }), { description: 'Health a partial close restores (finite).', default: 1.05, source: 'docs/domain.md section 3 (maintenance plus 5%, above Drift\'s 2% exit buffer)' }),
  minNotional: key(number({ minimum: 0 }), { description: 'Quote at the mark; a position whose remainder would be worth less closes whole (finite).', default: 1_000, source: 'docs/domain.md section 3' }),
  maxPortion: key(number({ exclusiveMinimum: 0, maximum: 1 }), { description: 'Largest fraction of a position closed per step.', default: 1, source: 'dYdX max_position_portion_liquidated_ppm' }),
  largeNotional: key(number({ exclusiveMinimum: 0 }), { description: 'Quote at the mark; larger positions step down (Infinity, API only: never).', default: 100_000, source: 'Hyperliquid' }),
  largeStepPortion: key(number({ exclusiveMinimum: 0, maximum: 1 }), { description: 'Fraction of a large position closed per step.', default: 0.2, source: 'Hyperliquid' }),
  emergencyHealth: key(number({ minimum: 0, maximum: 1 }), { description: 'Health below which caps are bypassed and the position closes whole.', default: 2 / 3, source: 'Hyperliquid backstop' }),
  minOrderNotional: key(number({ minimum: 0 }), { description: 'Quote at the mark: the smallest liquidation order (finite).', default: 1_000, source: 'dYdX min_position_notional_liquidated' }),
});

const lifecycle = object({
  marginCallHysteresis: key(number({ minimum: 0 }), { description: 'A margin call clears above marginCallHealth + this (finite).', default: 0.05, source: 'Unwind' }),
  exitBuffer: key(number({ minimum: 0 }), { description: 'Liquidation ends above health 1 + this (finite).', default: 0.02, source: 'Drift' }),
});

const caps = object({
  accountNotionalPerInterval: key(number({ minimum: 0 }), { description: 'Largest liquidated notional per account per interval, quote (Infinity, API only: off).', defaultText: 'off', source: 'DEFAULT_CAPS: 1,000,000 (src/config-types.ts)' }),
  accountInsuranceLossPerInterval: key(number({ minimum: 0 }), { description: 'Largest insurance-fund loss from one account per interval, quote.', defaultText: 'off', source: 'DEFAULT_CAPS: 50,000' }),
  intervalUs: key(number({ exclusiveMinimum: 0 }), { description: 'The per-account interval, microseconds of event time (finite).', default: 1_600_000, source: "dYdX's liquidation round (docs/domain.md section 8)" }),
  marketNotionalPerWindow: key(number({ minimum: 0 }), { description: 'Largest liquidated notional per market over the sliding window, quote.', defaultText: 'off', source: 'DEFAULT_CAPS: 10,000,000' }),
  marketWindowUs: key(number({ exclusiveMinimum: 0 }), { description: 'The per-market sliding window, microseconds (finite).', default: 30_000_000, source: 'Synthetix perps v3 maxSecondsInLiquidationWindow' }),
  maxInFlight: key(number({ integer: true, minimum: 0 }), { description: 'Most liquidation orders in flight (Infinity, API only: off).', defaultText: 'off', source: 'DEFAULT_CAPS: 50, dYdX\'s most liquidation attempts per block' }),
});

const positive = (description: string) => required(number({ exclusiveMinimum: 0 }), description);
const share = (description: string) => key(number({ exclusiveMinimum: 0, maximum: 1 }), { description, default: 1 });

const twap = object({ kind: v.literal('twap'), horizonSec: positive('Seconds by which the sized quantity is done.'), stepSec: positive('Seconds between children.'), maxParticipation: share('Most of the book\'s volume on its side one child may take.') });
const disposal = object({
  kind: v.literal('disposal'),
  stepSec: positive('Seconds between steps.'),
  fraction: required(number({ exclusiveMinimum: 0, maximum: 1 }), 'Fraction of what remains per step.'),
  fullDisposalSize: required(number({ minimum: 0 }), 'Base units at or below which all of it goes.'),
  maxFractionOfBook: share("Vega's maxFractionConsumed."),
});
const almgrenChriss = object({
  kind: v.literal('almgren-chriss'),
  horizonSec: positive('Seconds of the trajectory.'),
  stepSec: positive('Seconds between children.'),
  maxParticipation: share('As twap\'s.'),
  lambda: required(number({ minimum: 0 }), 'Risk aversion, per quote.'),
  sigma: key(number({ minimum: 0 }), { description: 'Quote per base per sqrt(second).', defaultText: "the market's volatility estimate" }),
  eta: key(number({ exclusiveMinimum: 0 }), { description: 'Temporary impact, quote per base per base/second.', defaultText: "the market's impact fit (execution.impact)" }),
});
const dutchAuction = object({
  kind: v.literal('dutch-auction'),
  stepSec: positive('Seconds between steps.'),
  buf: required(number({ minimum: 1 }), 'The start price over the oracle (MakerDAO buf).'),
  decrease: kinds([object({ kind: v.literal('linear'), tauSec: positive('Seconds to zero.') }), object({ kind: v.literal('stairstep'), stepSec: positive('Seconds per cut.'), cut: required(number({ exclusiveMinimum: 0, maximum: 1 }), 'Factor per step.') })], ['linear', 'stairstep']),
  tailSec: positive('Seconds before the auction restarts.'),
  cusp: required(number({ minimum: 0, exclusiveMaximum: 1 }), 'Restart once the price falls below this share of its start.'),
});
const backstop = object({
  kind: v.literal('backstop'),
  vault: required(id(), "The vault's account id."),
  discount: key(number({ minimum: 0, exclusiveMaximum: 0.5 }), { description: 'What the vault earns against the oracle price.', default: 0 }),
  minVaultHealth: key(number({ minimum: 1 }), { description: "The vault's health after a takeover, at least.", default: 1.5 }),
});
const ioc = object({ kind: v.literal('ioc') });
const PATIENT = ['twap', 'disposal', 'almgren-chriss', 'dutch-auction'] as const;
const patient = kinds([twap, disposal, almgrenChriss, dutchAuction], PATIENT);
const urgent = kinds([ioc, backstop], ['ioc', 'backstop']);
const adaptive = object({
  kind: v.literal('adaptive'),
  patient,
  urgent: key(urgent, { description: 'At once: above maxCrossProbability, below the emergency health, or with no volatility known.', default: { kind: 'ioc' } }),
  horizonSec: positive('Seconds over which the crossing probability is judged.'),
  maxCrossProbability: required(number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }), 'Patient while the probability of crossing the bankruptcy level is at most this.'),
  volatility: key(object({ lambda: required(number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }), 'EWMA decay per interval.'), intervalSec: positive('Seconds per interval.') }), { description: 'Older form of execution.volatility (an EWMA); not beside it.' }),
});
const STRATEGIES = ['ioc', 'twap', 'disposal', 'almgren-chriss', 'dutch-auction', 'backstop', 'adaptive'] as const;
const strategy = kinds([ioc, twap, disposal, almgrenChriss, dutchAuction, backstop, adaptive], STRATEGIES);
const sizeClassList = array(object({ minNotional: required(number({ exclusiveMinimum: 0 }), 'Quote at the mark from which this class applies.'), strategy }), { maxItems: 16 });
const sizeClasses = key(sizeClassList, {
  description: 'Strategies for larger positions: a position at least a class\'s minNotional uses the largest such class.',
});

const volatility = object({
  model: required(oneOf(['ewma', 'garch', 'har']), 'The volatility model (src/models).'),
  intervalSec: key(number({ exclusiveMinimum: 0 }), { description: 'Seconds of event time per return, in whole microseconds.', default: 60, source: 'Unwind' }),
  ewma: key(object({ lambda: key(number({ exclusiveMinimum: 0, exclusiveMaximum: 1 }), { description: 'Decay per interval.', default: 0.94, source: 'RiskMetrics' }), intervalSec: key(number({ exclusiveMinimum: 0 }), { description: 'Seconds per decay.', default: 60, source: 'Unwind' }) }), { description: 'EWMA (src/models/ewma.ts).' }),
  garch: key(
    object({
      window: key(number({ integer: true, minimum: 10, maximum: INT31 }), { description: 'Returns the fit uses.', default: 1000 }),
      refitEvery: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'New returns between refits.', default: 100 }),
      minReturns: key(number({ integer: true, minimum: 10, maximum: INT31 }), { description: 'Returns before the first fit, at most window.', default: 250 }),
      varianceTargeting: key(boolean(), { description: "Pin the unconditional variance to the window's mean square.", default: false }),
    }),
    { description: 'GARCH(1,1) (src/models/garch.ts).' },
  ),
  har: key(
    object({
      basePeriodSec: key(number({ exclusiveMinimum: 0 }), { description: 'Base period, seconds in whole microseconds.', default: 60, source: "Corsi's day" }),
      mediumPeriodSec: key(number({ exclusiveMinimum: 0 }), { description: 'A multiple of the base period above it.', default: 300, source: "Corsi's week" }),
      longPeriodSec: key(number({ exclusiveMinimum: 0 }), { description: 'A multiple of the base period above the medium one.', default: 1800, source: "Corsi's month" }),
      window: key(number({ integer: true, minimum: 10, maximum: INT31 }), { description: 'Rows the fit uses.', default: 1000 }),
      refitEvery: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'Closed periods between refits.', default: 60 }),
      minRows: key(number({ integer: true, minimum: 10, maximum: INT31 }), { description: 'Rows before the first fit, at most window.', default: 100 }),
    }),
    { description: 'HAR-RV (src/models/har.ts).' },
  ),
});

const impact = object({
  delaySec: key(number({ minimum: 0 }), { description: "Seconds after an order's last fill at which the mark is read as the price after.", default: 30, source: "three of the venue simulator's 10 s resilience half-lives" }),
  minDurationSec: key(number({ exclusiveMinimum: 0 }), { description: 'Seconds an order is charged over at least.', default: 1 }),
  window: key(number({ integer: true, minimum: 3, maximum: INT31 }), { description: 'Observations the fit uses.', default: 500 }),
  refitEvery: key(number({ integer: true, minimum: 1, maximum: INT31 }), { description: 'New observations between refits.', default: 20 }),
  minFills: key(number({ integer: true, minimum: 3, maximum: INT31 }), { description: 'Observations before the first fit, at most window.', default: 30 }),
});

const execution = object({
  strategy: required(strategy, 'For positions below every size class (README "Execution strategies").'),
  sizeClasses,
  markets: key(array(object({ market: required(id(), 'The market id.'), strategy, sizeClasses })), { description: 'Per market choices (each market at most once).' }),
  volatility: key(volatility, { description: "The volatility model the strategies read (src/executor/forecasts.ts).", defaultText: "an EWMA, with the first 'adaptive' strategy's decay if it has one" }),
  impact: key(impact, { description: 'The impact fit on our own fills (src/engine/impact-observer.ts).' }),
});

const oracleMarket = object({
  market: required(id(), 'The market id.'),
  sources: required(array(object({ id: required(id(), 'The source id its reports carry.'), weight: key(number({ exclusiveMinimum: 0 }), { description: 'Vote weight (finite).', default: 1, source: 'Hyperliquid: Binance 3, OKX 2, Bybit 2, others 1' }), publicKey: key(string(), { description: 'Ed25519 public key: base64 of the raw 32 bytes, or PEM.' }) }), { minItems: 1 }), 'Its price sources (each id at most once).'),
  aggregation: key(
    object({
      maxAgeUs: key(number({ minimum: 0 }), { description: 'Quotes older than this are stale.', default: 10_000_000, source: 'Pyth PC_MAX_SEND_LATENCY: 25 slots of 400 ms' }),
      minFreshSources: key(number({ integer: true, minimum: 1 }), { description: 'Fewer fresh sources: no price.', default: 3, source: 'the fewest for which one bad source is a minority' }),
      clampFraction: key(number({ minimum: 0 }), { description: 'Prices further than this from the weighted median are clamped to it.', default: 0.02, source: 'OKX index: median +- 2%' }),
    }),
    { description: 'How its sources\' quotes become one price (src/oracle/aggregate.ts).' },
  ),
  guards: key(
    object({
      twapWindowUs: key(number({ exclusiveMinimum: 0 }), { description: "The TWAP's window (finite).", default: 300_000_000, source: 'Drift' }),
      twapBand: key(number({ minimum: 0 }), { description: 'Pause when |oracle - TWAP| > band x TWAP.', default: 0.5, source: 'Drift' }),
      maxConfidenceFraction: key(number({ minimum: 0 }), { description: 'Pause when confidence > this x price.', default: 0.02, source: 'Drift' }),
      frozenAfterUs: key(number({ exclusiveMinimum: 0 }), { description: 'A source unchanged this long ...', default: 30_000_000, source: 'Unwind' }),
      frozenMoveFraction: key(number({ minimum: 0 }), { description: '... while the oracle moved more than this, is frozen.', default: 0.02, source: "the clamp's width" }),
    }),
    { description: 'When its prices cannot be trusted and liquidations pause (src/oracle/guards.ts).' },
  ),
  mark: key(
    object({
      components: key(array(oneOf(MARK_COMPONENTS), { minItems: 1, uniqueItems: true }), { description: 'The mark price\'s components (src/oracle/mark.ts).', default: [...MARK_COMPONENTS], source: 'Hyperliquid' }),
      basisEmaUs: key(number({ exclusiveMinimum: 0 }), { description: 'Time constant of the basis EMA (finite).', default: 150_000_000, source: 'Hyperliquid' }),
      bookMaxAgeUs: key(number({ minimum: 0 }), { description: 'An older book is left out.', default: 10_000_000, source: "as a source's quote" }),
      maxDeviation: key(number({ minimum: 0 }), { description: 'The mark stays within oracle x (1 +- this).', default: 0.05, source: "Unwind's choice (docs/domain.md section 5)" }),
    }),
    { description: 'How the mark price is composed.' },
  ),
});

const engineEntries = {
  capacity: key(capacity, { description: 'Preallocated table sizes.' }),
  scanWorkers: key(number({ integer: true, minimum: 0, maximum: 64 }), { description: 'Scan worker threads; 0 scans on the calling thread.', defaultText: 'cores - 1, in [1, 4]', source: 'Unwind' }),
  scan: key(scan, { description: 'How an epoch finds its candidates (README "Scan").' }),
  bankruptcyAdjustment: key(number({ minimum: 1 }), { description: 'dYdX BA: how far the fillable price concedes as equity falls (finite).', default: 1, source: 'dYdX v4 (BankruptcyAdjustmentPpm >= 1,000,000)' }),
  spreadToMaintenanceMarginRatio: key(number({ minimum: 0 }), { description: "dYdX SMMR: the largest concession, a fraction of the position's maintenance margin (finite).", default: 0.1, source: 'dYdX v4 default (mainnet: 1.5)' }),
  marginCallHealth: key(number({ exclusiveMinimum: 1 }), { description: 'Health below which a margin call is raised (finite).', default: 1.2, source: 'Unwind' }),
  autoEpoch: key(boolean(), { description: 'Run an epoch after inputs; false: only on step().', default: true }),
  quoteDecimals: key(number({ integer: true, minimum: 0, maximum: 12 }), { description: 'Decimals of the quote currency in the ledger.', default: 6, source: 'USDC' }),
  fees: key(fees, { description: 'Liquidation fee bounds and the insurance funds\' layout.' }),
  maxOpenOrders: key(number({ integer: true, minimum: 1 }), { description: 'Issued orders remembered for matching fills.', default: 1_048_576, source: 'Unwind' }),
  fillPriceBand: key(number({ minimum: 0, maximum: 1 }), { description: "How far a fill may beat its order's limit, a fraction of its oracle price.", default: 0.1, source: 'Unwind' }),
  orderTimeoutUs: key(number({ exclusiveMinimum: 0 }), { description: 'Event time an order may stay open before it is timed out (Infinity, API only: never).', default: 30_000_000, source: 'Unwind' }),
  autoDeleverage: key(boolean(), { description: "Under 'adl', deleverage automatically.", default: true }),
  deficitPolicy: key(oneOf(['adl', 'socialized']), { description: "Who bears a deficit the insurance fund could not pay.", default: 'adl', source: 'dYdX, Hyperliquid (ADL)' }),
  fundDrawdown: key(
    object({
      max: key(number({ exclusiveMinimum: 0, maximum: 1 }), { description: 'Fraction of its peak the fund covers within the window.', defaultText: 'off', source: 'OKX: 0.3' }),
      windowUs: key(number({ minimum: 0 }), { description: 'The window, microseconds of event time (finite).', default: 28_800_000_000, source: 'OKX: 8 h' }),
    }),
    { description: 'The insurance fund\'s drawdown limit.' },
  ),
  sizing: key(sizing, { description: 'How much of a liquidatable group to close per step (docs/domain.md section 3).' }),
  stepDownCooldownUs: key(number({ minimum: 0 }), { description: 'After a large position steps down, event time before its next step (finite).', default: 30_000_000, source: 'Hyperliquid' }),
  lifecycle: key(lifecycle, { description: 'The account lifecycle (README "Liquidation procedures").' }),
  caps: key(caps, { description: 'Liquidation caps, off unless set (README "Liquidation procedures").' }),
  execution: key(execution, { description: 'Execution strategies (README "Execution strategies").', default: { strategy: { kind: 'ioc' } } }),
  oracle: key(
    object({
      signatures: key(oneOf(['required', 'off']), { description: "'off': unsigned reports are taken too (a warning at start).", default: 'required' }),
      markets: key(array(oracleMarket), { description: 'Oracle markets and their sources (each market at most once).', default: [] }),
    }),
    { description: 'Oracle markets (README "Oracle and mark price").' },
  ),
  clock: key(
    object({
      maxSkewUs: key(number({ minimum: 0, maximum: MAX_TIME_US }), { description: 'How far ahead of the clock an event time may be.', default: 10_000_000, source: 'Unwind' }),
      maxStepUs: key(number({ exclusiveMinimum: 0, maximum: MAX_TIME_US }), { description: 'How far one clock reading moves the clock.', default: 60_000_000, source: 'Unwind' }),
    }),
    { description: 'The engine\'s clock (README "Clock").' },
  ),
  journal: key(
    object({
      dir: required(string({ minLength: 1 }), "The journal's directory (created if missing)."),
      durability: key(oneOf(['sync', 'group']), { description: "'sync': fdatasync per record; 'group': batched.", default: 'sync' }),
      groupWindowMs: key(number({ exclusiveMinimum: 0 }), { description: "Under 'group', the longest a record waits for its fdatasync (finite).", default: 5 }),
      snapshotEveryRecords: key(number({ exclusiveMinimum: 0 }), { description: 'A snapshot after this many records (Infinity, API only: never).', default: 100_000 }),
      segmentBytes: key(number({ exclusiveMinimum: 0 }), { description: 'A new segment past this size (finite).', default: 268_435_456 }),
      log: key(v.function(expected('a function')), { description: "API only: where recovery's log lines go.", defaultText: 'stderr' }),
      progress: key(v.function(expected('a function')), { description: "API only: recovery's progress, (bytes, total, records).", defaultText: 'none' }),
    }),
    { description: 'The journal (README "Journal"): every input on disk before its orders leave.', defaultText: 'none' },
  ),
  shard: key(
    object({
      index: key(number({ integer: true, minimum: 0, maximum: 65_534 }), { description: "This engine's shard, below count.", default: 0 }),
      count: key(number({ integer: true, minimum: 1, maximum: 65_535 }), { description: 'How many shards split the accounts (shardOf).', default: 1 }),
    }),
    { description: 'This engine holds the accounts of one shard (README "Sharding beyond one machine").', defaultText: 'one engine, every account' },
  ),
};

export const engineConfigSchema = object(engineEntries, 'a config object');

// ---- the feed server (FeedServerOptions, src/feed/server-options.ts) ----

const TOKEN = { minLength: 16, pattern: '^\\S+$' };
const tokenList = (description: string, doc: Partial<Doc> = {}) => key(array(string(TOKEN)), { description, ...doc });
const idRanges = array(v.tuple([id(), id()], expected('[lo, hi]')), { minItems: 1 });
const ranges = (description: string) => key(idRanges, { description, defaultText: 'every id' });

/** `server.tokens` (and UNWIND_TOKENS): tokens with a role and scopes. */
export const tokenSpecsSchema = array(
  object({
    token: required(string(TOKEN), 'The bearer token.'),
    role: required(oneOf(['source', 'matching', 'admin', 'subscriber']), 'What it may send (README "Wire protocol").'),
    sources: key(array(id(), { minItems: 1 }), { description: 'source tokens (required): the source ids it may report for.' }),
    markets: ranges('source, matching and admin tokens: closed ranges of market ids.'),
    accounts: ranges('matching tokens: closed ranges of account ids.'),
  }),
);

const serverEntries = {
  host: key(string({ minLength: 1 }), { description: 'Interface to listen on.', default: '127.0.0.1', source: 'loopback only' }),
  port: key(number({ integer: true, minimum: 0, maximum: 65535 }), { description: 'TCP port; 0 picks a free one.', default: 9001 }),
  path: key(string({ pattern: '^/[\\w\\-/.]*$' }), { description: 'The WebSocket endpoint (stats at PATH/stats).', default: '/v1/feed' }),
  tokens: key(tokenSpecsSchema, { description: 'Tokens with a role and scopes; the recommended way to give tokens.' }),
  publisherTokens: tokenList('Legacy: tokens that may send every input but KillSwitch, unscoped.', { defaultText: 'one generated by unwind serve when no token is configured' }),
  subscriberTokens: tokenList('Tokens that may only subscribe.', { defaultText: 'one generated by unwind serve when no token is configured' }),
  adminTokens: tokenList('Tokens that may send KillSwitch frames for every market.', { default: [] }),
  clockIntervalMs: key(number({ integer: true, minimum: 1, maximum: 60_000 }), { description: 'How often the server gives the engine a wall-clock reading.', default: 100 }),
  maxFrameBytes: key(number({ integer: true, minimum: 64, maximum: 2 ** 30 }), { description: 'Larger frames get an OVERSIZED_FRAME error frame.', default: 1_048_576 }),
  maxPayloadBytes: key(number({ integer: true, maximum: INT31 }), { description: 'Larger frames are not read (close 1006); at least maxFrameBytes.', defaultText: '4 x maxFrameBytes' }),
  maxBackpressureBytes: key(number({ integer: true, minimum: 1024, maximum: INT31 }), { description: 'A connection whose unsent backlog passes this is closed (4008).', default: 8_388_608 }),
  idleTimeoutSeconds: key(number({ integer: true, minimum: 0, maximum: 960 }), { description: 'Seconds without traffic before a connection is closed; 0: never.', default: 120, source: 'uWebSockets.js: at most 960' }),
  maxConnections: key(number({ integer: true, minimum: 1, maximum: 1 << 20 }), { description: 'Connections beyond this are refused at upgrade (503).', default: 1024 }),
  maxTopicsPerConnection: key(number({ integer: true, minimum: 1, maximum: 1 << 24 }), { description: 'Topics one connection may hold.', default: 10_000 }),
  maxTopicsTotal: key(number({ integer: true, minimum: 1, maximum: 1 << 26 }), { description: 'Topics all connections may hold (about 0.4 KB each, measured).', default: 250_000, source: 'measured: at most about 100 MB' }),
  accountStateBudget: key(number({ integer: true, minimum: 1, maximum: 1 << 24 }), { description: 'Account-state work one epoch may do.', default: 512 }),
  statusIntervalMs: key(number({ integer: true, minimum: 0, maximum: 3_600_000 }), { description: 'An EngineStatus heartbeat this often; 0: off.', default: 1000 }),
  createAccounts: key(boolean(), { description: 'A collateral update for an unknown account opens it; false: UNKNOWN_ACCOUNT.', default: true }),
  verifyWorkers: key(number({ integer: true, minimum: 0, maximum: 64 }), { description: 'Threads that verify SignedPriceTicks; 0: the main thread (about 80 us a report).', defaultText: 'cores - 1, in [1, 4]' }),
  maxIntakeBytes: key(number({ integer: true, maximum: INT31 }), { description: 'Bytes of frames waiting behind a verification, all connections (at least maxIntakeBytesPerConnection).', defaultText: '8 MiB, or maxIntakeBytesPerConnection if larger' }),
  maxIntakeBytesPerConnection: key(number({ integer: true, maximum: INT31 }), { description: 'The same for one connection (at least maxFrameBytes).', defaultText: '2 MiB, or maxFrameBytes if larger' }),
  listenRetryMs: key(number({ integer: true, minimum: 0, maximum: 600_000 }), { description: 'How long to retry binding the port (TIME_WAIT after a restart).', default: 0, defaultText: '0 (unwind serve: 90,000 once no other process listens there)' }),
  metrics: key(
    object({
      host: key(string({ minLength: 1 }), { description: 'Interface of the probe listener: keep it private (no token there).', default: '127.0.0.1' }),
      port: required(number({ integer: true, minimum: 0, maximum: 65535 }), 'Its TCP port; 0 picks a free one.'),
    }),
    { description: 'GET /metrics, /healthz and /readyz on a listener of their own, without a token (README "Observability").', defaultText: 'none: /metrics on the feed listener, with a token' },
  ),
};

export const serverOptionsSchema = object(serverEntries, 'an object of server options');

// ---- `unwind serve`'s config file ----

const tier = object({
  maxNotional: required(v.nullable(number({ exclusiveMinimum: 0 })), 'Upper notional bound of the tier; null: the last tier.'),
  initialMarginFraction: required(number({ exclusiveMinimum: 0, maximum: 1 }), 'Initial margin fraction.'),
  maintenanceMarginFraction: required(number({ exclusiveMinimum: 0, maximum: 1 }), 'Maintenance margin fraction (below the initial one).'),
});

export const serveConfigSchema = object(
  {
    $schema: key(string(), { description: 'The JSON Schema this file follows (editors read it).' }),
    server: key(serverOptionsSchema, { description: 'The feed server (README "Wire protocol").' }),
    engine: key(engineConfigSchema, { description: 'The engine.' }),
    markets: key(
      array(object({ id: required(id(), 'The market id.'), symbol: key(string({ maxLength: 64 }), { description: 'Its symbol.' }), price: required(number({ exclusiveMinimum: 0 }), 'Its first price (mark and oracle).'), oraclePrice: key(number({ exclusiveMinimum: 0 }), { description: 'Its oracle price when it differs from the mark.' }), tiers: required(array(tier, { minItems: 1 }), 'Margin tiers, ascending.') })),
      { description: 'Markets added at the first start.', defaultText: "the demo's four markets" },
    ),
    accounts: key(
      array(
        object({
          id: required(id(), 'The account id.'),
          collateral: required(number(), 'Its quote balance.'),
          positions: key(array(object({ market: required(id(), 'The market id.'), size: required(number(), 'Signed size, base units.'), entryPrice: required(number({ exclusiveMinimum: 0 }), 'Its entry price.'), isolatedCollateral: required(v.nullable(number({ minimum: 0 })), 'null: cross-margined.') })), { description: 'Its positions.', default: [] }),
        }),
      ),
      { description: 'The initial book (the feed adds the rest).', default: [] },
    ),
  },
  'a JSON object',
);

// ---- checking ----

const pathOf = (path: readonly { readonly key: unknown }[] | undefined): string =>
  (path ?? []).reduce<string>((at, p) => (typeof p.key === 'number' ? `${at}[${p.key}]` : at === '' ? String(p.key) : `${at}.${String(p.key)}`), '');

/**
 * Checks `value` against `schema`: INVALID_CONFIG naming the first bad key as the resolvers name it (`sizing.maxPortion`,
 * `tokens[0].role`; a missing key names its object), after `prefix` when given. Returns `value` as it was.
 */
export function checkConfig<T>(schema: v.GenericSchema, value: T, prefix = ''): T {
  const result = v.safeParse(schema, value, { abortEarly: true });
  if (result.success) return value;
  const issue = result.issues[0];
  const path = [...(issue.path ?? [])];
  if (issue.expected !== null && issue.expected !== 'never' && issue.expected !== 'Object' && issue.received === 'undefined' && issue.type === 'strict_object') path.pop(); // a missing key: its object
  const at = pathOf(path);
  const field = prefix === '' ? at : at === '' ? prefix : at.startsWith('[') ? `${prefix}${at}` : `${prefix}.${at}`;
  throw new UnwindError(ErrorCode.InvalidConfig, issue.message, field === '' ? undefined : field);
}

/** Schemas used in several places, published once each under `definitions` in the JSON Schema. */
export const SCHEMA_DEFINITIONS = { Twap: twap, Disposal: disposal, AlmgrenChriss: almgrenChriss, DutchAuction: dutchAuction, Backstop: backstop, Adaptive: adaptive, Strategy: strategy, PatientStrategy: patient, UrgentStrategy: urgent, SizeClasses: sizeClassList, IdRanges: idRanges, Tier: tier };

/** The keys the schema knows at the top of EngineConfig and of FeedServerOptions (for the compile-time key checks). */
export type EngineSchemaKeys = keyof typeof engineEntries;
export type ServerSchemaKeys = keyof typeof serverEntries;
/** True when A and B are the same set of keys. */
export type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
