/**
 * The oracle layer of the main thread: source reports in, each oracle market's trusted oracle and mark prices out,
 * and the market's pause state (the guards). Deterministic: it depends only on its inputs in order (reports, books
 * and clock readings), never on the wall clock; "now" is the latest event time it has been given.
 *
 * The clock that judges staleness is shared by every market, so no single party may move it (README "Oracle and mark
 * price", "Clock"): a market's reports advance it only to the time a majority of that market's sources have reached
 * (its quorum time), book data never does, and clock readings (`advanceClock`, the engine's clock input) move it by
 * at most `clock.maxStepUs` each. Once a clock reading has been given, an event time more than `clock.maxSkewUs`
 * ahead of the clock is refused (CLOCK_SKEW).
 *
 * A batch of reports is checked whole before any is taken (the engine's rule for every batch): fields, a source the
 * market's registry lists, the signature (or, unsigned, a deployment that turned signatures off), and the source's
 * sequence strictly above the last one taken from it in that market (replay). A rejected batch changes nothing and
 * counts its error code.
 *
 * While a market is paused, its prices are not written to the tables: margin keeps using the last trusted mark, and
 * the executor issues no liquidation order in it (src/clearing/market-mode.ts).
 */
import type { KeyObject } from 'node:crypto';
import {
  DEFAULT_AGGREGATION,
  DEFAULT_CLOCK_POLICY,
  DEFAULT_GUARD_POLICY,
  DEFAULT_MARK_POLICY,
  type AggregationPolicy,
  type ClockPolicy,
  type GuardPolicy,
  type MarkPolicy,
  type OracleConfig,
  type OracleSourceConfig,
} from '../config-types.js';
import { configNumbers, ErrorCode, UnwindError } from '../errors.js';
import { MAX_TIME_US, requireEventTime, requireId, requirePrice, requireTime } from '../validate.js';
import { aggregateValid, validateAggregationPolicy, type SourceQuote } from './aggregate.js';
import { OracleGuardCode, percent, validateGuardPolicy, type PauseReason } from './guards.js';
import { ed25519PublicKey, verifyReport } from './keys.js';
import { BasisEma, bookPrice, markPrice, validateMarkPolicy, type BookTop } from './mark.js';
import { SIGNATURE_BYTES, TICK_SIGNING_BYTES, writeTickSigningBytes, type TickBatch } from './report.js';
import { TimeWeightedAverage } from './twap.js';
import { VERDICT_UNCHECKED, VERDICT_VALID, verdictAt, verdictsOf } from './verdicts.js';

/** The oracle config with every default applied and every key parsed (`engine.oracleConfig`). */
export interface ResolvedOracleConfig {
  /** Whether reports must be signed ('required') or may come unsigned ('off'). */
  readonly signatures: 'required' | 'off';
  /** The oracle markets. */
  readonly markets: readonly ResolvedOracleMarket[];
}

/** One oracle market, resolved. */
export interface ResolvedOracleMarket {
  /** The market id. */
  readonly market: number;
  /** Its sources: id, vote weight and public key (undefined: unsigned only). */
  readonly sources: readonly { readonly id: number; readonly weight: number; readonly key: KeyObject | undefined }[];
  /** How its reports aggregate. */
  readonly aggregation: AggregationPolicy;
  /** When its liquidations pause. */
  readonly guards: GuardPolicy;
  /** How its mark price is composed. */
  readonly mark: MarkPolicy;
}

/** A market's new trusted prices, to be written to the tables. */
export interface OraclePrices {
  readonly market: number;
  readonly oraclePrice: number;
  readonly markPrice: number;
  readonly eventTimeUs: number;
}

/** What one evaluation of a market found. `pause` null: healthy. */
export interface OracleEvaluation {
  readonly market: number;
  readonly prices: OraclePrices | undefined;
  readonly pause: PauseReason | null;
  readonly eventTimeUs: number;
}

/** The oracle layer's counters and clock (`engine.oracleStats()`). */
export interface OracleStats {
  /** Whether signatures are required. */
  readonly signatures: 'required' | 'off';
  /** Reports taken, and of those, how many had their signature verified. */
  readonly accepted: number;
  /** Accepted reports whose signature was verified. */
  readonly verified: number;
  /** Reports in rejected batches, by error code. */
  readonly rejected: Readonly<Record<string, number>>;
  /** The clock: the latest of the clock readings and the markets' quorum times, microseconds. */
  readonly clockUs: number;
  /** The latest clock reading taken (advanceClock), microseconds; 0: none yet. */
  readonly clockInputUs: number;
}

interface SourceState {
  readonly id: number;
  readonly weight: number;
  readonly key: KeyObject | undefined;
  lastSequence: number;
  reported: boolean;
  price: number;
  confidence: number;
  eventTimeUs: number;
  /** Event time of the source's last price change, and the oracle just after it (for the frozen-source guard). */
  lastChangeUs: number;
  oracleAtChange: number;
  /** The source changed price since the last aggregate: its oracleAtChange is the next aggregate. */
  changed: boolean;
}

/** The oracle layer's state as plain data (a snapshot's part; src/journal). */
export interface OracleState {
  readonly clock: number;
  /** Absent in snapshots written before clock readings were kept apart. */
  readonly clockInput?: number;
  readonly accepted: number;
  readonly verified: number;
  readonly rejected: Readonly<Record<string, number>>;
  readonly markets: readonly {
    readonly id: number;
    /** Each source's quote and guard fields, in source id order. */
    readonly sources: readonly Omit<SourceState, 'id' | 'weight' | 'key'>[];
    readonly twap: ReturnType<TimeWeightedAverage['exportState']>;
    readonly basis: ReturnType<BasisEma['exportState']>;
    readonly book: BookTop | undefined;
    readonly latestOracle: number | undefined;
    readonly written: OraclePrices | undefined;
  }[];
}

interface MarketState {
  readonly config: ResolvedOracleMarket;
  readonly sources: Map<number, SourceState>;
  /** Sources by id, so that quotes go to the aggregation in one order. */
  readonly ordered: SourceState[];
  readonly twap: TimeWeightedAverage;
  readonly basis: BasisEma;
  book: BookTop | undefined;
  /** The latest aggregate (trusted or not) and the latest prices written. */
  latestOracle: number | undefined;
  written: OraclePrices | undefined;
}

/** Validates and resolves `config.oracle`; keys are parsed here, once. */
export function resolveOracleConfig(c: OracleConfig | undefined, field = 'oracle'): ResolvedOracleConfig {
  if (c === undefined) return { signatures: 'required', markets: [] };
  if (c === null || typeof c !== 'object') throw new UnwindError(ErrorCode.InvalidConfig, 'expected an object', field);
  const signatures = c.signatures ?? 'required';
  if (signatures !== 'required' && signatures !== 'off') {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected 'required' or 'off', got ${String(signatures)}`, `${field}.signatures`);
  }
  const list = c.markets ?? [];
  if (!Array.isArray(list)) throw new UnwindError(ErrorCode.InvalidConfig, 'expected an array', `${field}.markets`);
  const seen = new Set<number>();
  const markets = list.map((m, i) => {
    const at = `${field}.markets[${i}]`;
    const market = requireId(m?.market, `${at}.market`);
    if (seen.has(market)) throw new UnwindError(ErrorCode.InvalidConfig, `market ${market} is configured twice`, `${at}.market`);
    seen.add(market);
    if (!Array.isArray(m.sources) || m.sources.length === 0) throw new UnwindError(ErrorCode.InvalidConfig, 'expected at least one source', `${at}.sources`);
    const ids = new Set<number>();
    const sources = m.sources.map((s: OracleSourceConfig, j: number) => {
      const sat = `${at}.sources[${j}]`;
      const id = requireId(s?.id, `${sat}.id`);
      if (ids.has(id)) throw new UnwindError(ErrorCode.InvalidConfig, `source ${id} is listed twice`, `${sat}.id`);
      ids.add(id);
      const weight = s.weight ?? 1;
      configNumbers({ weight }, sat)('weight', (v) => v > 0 && v < Infinity, 'a finite number > 0');
      return { id, weight, key: s.publicKey === undefined ? undefined : ed25519PublicKey(s.publicKey, `${sat}.publicKey`) };
    });
    const aggregation = validateAggregationPolicy({ ...DEFAULT_AGGREGATION, ...m.aggregation }, `${at}.aggregation`);
    const guards = validateGuardPolicy({ ...DEFAULT_GUARD_POLICY, ...m.guards }, `${at}.guards`);
    const mark = validateMarkPolicy({ ...DEFAULT_MARK_POLICY, ...m.mark }, `${at}.mark`);
    return { market, sources: [...sources].sort((a, b) => a.id - b.id), aggregation, guards, mark };
  });
  return { signatures, markets };
}

/** The TWAP keeps one sample per second of event time at most. */
const TWAP_SAMPLE_US = 1_000_000;

export class OracleLayer {
  private readonly markets = new Map<number, MarketState>();
  /** Oracle market ids, ascending (fixed by config; read on every tick batch, so computed once). */
  readonly marketIds: readonly number[];
  private clock = 0;
  /** The latest clock reading (0: none yet); once there is one, event times are bounded by the clock plus the skew. */
  private clockInput = 0;
  /** Scratch for quorumTime(): the market's sources' latest event times. */
  private times: number[] = [];
  private accepted = 0;
  private verified = 0;
  private readonly rejected: Record<string, number> = {};
  private readonly message = new Uint8Array(TICK_SIGNING_BYTES);
  /** Scratch for check(): (market, source) -> the sequence a row of the batch being checked takes. */
  private readonly pending = new Map<SourceState, number>();

  constructor(
    readonly config: ResolvedOracleConfig,
    readonly clockPolicy: ClockPolicy = DEFAULT_CLOCK_POLICY,
  ) {
    for (const m of config.markets) {
      const ordered = m.sources.map((s) => ({
        ...s,
        lastSequence: -1,
        reported: false,
        price: 0,
        confidence: 0,
        eventTimeUs: 0,
        lastChangeUs: 0,
        oracleAtChange: 0,
        changed: false,
      }));
      this.markets.set(m.market, {
        config: m,
        sources: new Map(ordered.map((s) => [s.id, s])),
        ordered,
        twap: new TimeWeightedAverage(m.guards.twapWindowUs, TWAP_SAMPLE_US),
        basis: new BasisEma(),
        book: undefined,
        latestOracle: undefined,
        written: undefined,
      });
    }
    this.marketIds = Object.freeze([...this.markets.keys()].sort((a, b) => a - b));
  }

  /** Snapshot (src/journal): every quote, source sequence, TWAP, basis EMA and book, the clock and the counts. */
  exportState(): OracleState {
    const markets = [...this.markets].map(([id, m]) => ({
      id,
      sources: m.ordered.map(({ id: _id, weight: _w, key: _k, ...quote }) => quote),
      twap: m.twap.exportState(),
      basis: m.basis.exportState(),
      book: m.book,
      latestOracle: m.latestOracle,
      written: m.written,
    }));
    return { clock: this.clock, clockInput: this.clockInput, accepted: this.accepted, verified: this.verified, rejected: { ...this.rejected }, markets };
  }

  /** Restores a snapshot taken under the same oracle config (same markets and sources, in the same order). */
  importState(s: OracleState): void {
    for (const saved of s.markets) {
      const m = this.markets.get(saved.id);
      if (m === undefined || m.ordered.length !== saved.sources.length) {
        throw new UnwindError(ErrorCode.InvalidConfig, `the snapshot's oracle market ${saved.id} does not match config.oracle`, 'oracle.markets');
      }
      m.ordered.forEach((source, i) => Object.assign(source, saved.sources[i]));
      m.twap.importState(saved.twap);
      m.basis.importState(saved.basis);
      m.book = saved.book;
      m.latestOracle = saved.latestOracle;
      m.written = saved.written;
    }
    this.clock = s.clock;
    this.clockInput = s.clockInput ?? 0;
    this.accepted = s.accepted;
    this.verified = s.verified;
    for (const k of Object.keys(this.rejected)) delete this.rejected[k];
    Object.assign(this.rejected, s.rejected);
  }

  /** True when `market` takes its prices from sources. */
  has(market: number): boolean {
    return this.markets.has(market);
  }


  get clockUs(): number {
    return this.clock;
  }

  /**
   * The latest event time an input may carry: the clock plus `maxSkewUs` once a clock reading has been given, else
   * MAX_TIME_US (without a clock input there is nothing to measure skew against; quorum times still bound the clock).
   */
  get latestTimeUs(): number {
    return this.clockInput > 0 ? Math.min(MAX_TIME_US, this.clock + this.clockPolicy.maxSkewUs) : MAX_TIME_US;
  }


  /**
   * Checks rows `rows` (indexes into `batch`; all rows when omitted) without taking any: throws UnwindError
   * (UNKNOWN_MARKET, UNKNOWN_SOURCE, UNSIGNED_REPORT, BAD_SIGNATURE, REPLAYED_REPORT, INVALID_*) naming `[i].field`,
   * and counts the batch's reports under that code.
   */
  check(batch: TickBatch, rows?: ArrayLike<number>): void {
    const n = rows === undefined ? batch.length : rows.length;
    this.pending.clear();
    // Verdicts a verify worker found for this very batch under this registry (src/oracle/verifier.ts), if any.
    const verdicts = batch.signed ? verdictsOf(batch, this.config) : undefined;
    try {
      for (let k = 0; k < n; k++) this.checkRow(batch, rows === undefined ? k : rows[k]!, verdicts);
    } catch (e) {
      const code = e instanceof UnwindError ? e.code : 'INTERNAL';
      this.rejected[code] = (this.rejected[code] ?? 0) + n;
      throw e;
    } finally {
      this.pending.clear();
    }
  }

  private checkRow(b: TickBatch, i: number, verdicts: Uint8Array | undefined): void {
    const market = requireId(b.market[i], `[${i}].market`);
    const m = this.markets.get(market);
    if (m === undefined) throw new UnwindError(ErrorCode.UnknownMarket, `market ${market} has no oracle sources`, `[${i}].market`);
    const id = requireId(b.source[i], `[${i}].source`);
    const s = m.sources.get(id);
    if (s === undefined) throw new UnwindError(ErrorCode.UnknownSource, `market ${market} lists no source ${id}`, `[${i}].source`);
    requirePrice(b.price[i], `[${i}].price`);
    const c = b.confidence[i]!;
    if (typeof c !== 'number' || !(c >= 0 && c < Infinity)) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected a finite confidence >= 0, got ${String(c)}`, `[${i}].confidence`);
    }
    requireEventTime(b.eventTimeUs[i], this.latestTimeUs, `[${i}].eventTimeUs`);
    const sequence = b.sourceSequence[i]!;
    if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0) {
      throw new UnwindError(ErrorCode.InvalidAmount, `expected an integer >= 0, got ${String(sequence)}`, `[${i}].sourceSequence`);
    }
    if (b.signed) {
      if (s.key === undefined) throw new UnwindError(ErrorCode.UnknownSource, `source ${id} of market ${market} has no registered key`, `[${i}].source`);
      const sig = b.signatures?.subarray(i * SIGNATURE_BYTES, (i + 1) * SIGNATURE_BYTES);
      const verdict = verdictAt(verdicts, i);
      let valid = verdict === VERDICT_VALID;
      if (verdict === VERDICT_UNCHECKED) {
        // Not verified off the thread: verified here, as every row was before the verify workers (and is in replay).
        const msg = writeTickSigningBytes(this.message, market, id, b.price[i]!, c, b.eventTimeUs[i]!, sequence);
        valid = sig !== undefined && verifyReport(s.key, msg, sig);
      }
      if (!valid) {
        throw new UnwindError(ErrorCode.BadSignature, `the signature does not verify under source ${id}'s key`, `[${i}].signature`);
      }
    } else if (this.config.signatures === 'required') {
      throw new UnwindError(ErrorCode.UnsignedReport, `market ${market} requires signed reports (oracle.signatures is 'required')`, `[${i}]`);
    }
    const last = this.pending.get(s) ?? s.lastSequence;
    if (!(sequence > last)) {
      throw new UnwindError(ErrorCode.ReplayedReport, `source ${id} sequence ${sequence} does not exceed ${last}, already taken in market ${market}`, `[${i}].sourceSequence`);
    }
    this.pending.set(s, sequence);
  }

  /**
   * Takes rows that `check` passed: each becomes its source's latest quote. Returns the markets touched, ascending.
   */
  accept(b: TickBatch, rows?: ArrayLike<number>): number[] {
    const n = rows === undefined ? b.length : rows.length;
    const touched = new Set<number>();
    for (let k = 0; k < n; k++) {
      const i = rows === undefined ? k : rows[k]!;
      const m = this.markets.get(b.market[i]!)!;
      const s = m.sources.get(b.source[i]!)!;
      const price = b.price[i]!;
      const time = b.eventTimeUs[i]!;
      if (!s.reported || price !== s.price) {
        s.lastChangeUs = time;
        s.oracleAtChange = price;
        s.changed = true;
      }
      s.reported = true;
      s.price = price;
      s.confidence = b.confidence[i]!;
      s.eventTimeUs = time;
      s.lastSequence = b.sourceSequence[i]!;
      touched.add(m.config.market);
    }
    this.accepted += n;
    if (b.signed) this.verified += n;
    const markets = [...touched].sort((x, y) => x - y);
    // The clock moves only as far as a majority of one market's sources agree, once all rows are in.
    for (const id of markets) {
      const q = this.quorumTime(this.markets.get(id)!);
      if (q > this.clock) this.clock = q;
    }
    return markets;
  }

  /** The matching engine's book top for an oracle market: feeds the basis EMA and the 'book' mark component. */
  book(market: number, top: BookTop): void {
    const m = this.checkBook(market, top, 'book');
    m.book = { bid: top.bid, ask: top.ask, last: top.last, eventTimeUs: top.eventTimeUs };
    const p = bookPrice(m.book);
    if (p !== undefined && m.latestOracle !== undefined) m.basis.update(p - m.latestOracle, top.eventTimeUs, m.config.mark.basisEmaUs);
    // Book data never moves the clock: one publisher's book would otherwise judge every source's freshness.
  }

  /**
   * The latest time a strict majority of `m`'s sources have reached (by count: weights decide prices, not time, so
   * that the heaviest source going down cannot stop the clock). One source out of three dated an hour ahead moves
   * nothing; a market with one source trusts it (configure three or more, or give the engine clock readings).
   */
  private quorumTime(m: MarketState): number {
    const times = this.times;
    times.length = 0;
    for (const s of m.ordered) times.push(s.reported ? s.eventTimeUs : 0);
    times.sort((a, b) => b - a);
    return times[Math.floor(times.length / 2)]!;
  }

  /** Throws (UNKNOWN_MARKET, INVALID_PRICE, INVALID_AMOUNT) naming `${field}.x` unless `book(market, top)` would take it. */
  checkBook(market: unknown, top: BookTop, field: string): MarketState {
    if (top === null || typeof top !== 'object') throw new UnwindError(ErrorCode.InvalidConfig, 'expected a book { market, bid, ask, last, eventTimeUs }', field);
    const m = this.markets.get(requireId(market, `${field}.market`));
    if (m === undefined) throw new UnwindError(ErrorCode.UnknownMarket, `market ${market} has no oracle sources; book data feeds an oracle market's mark price`, `${field}.market`);
    for (const k of ['bid', 'ask', 'last'] as const) {
      const v = top?.[k];
      if (v !== 0) requirePrice(v, `${field}.${k}`);
    }
    requireEventTime(top.eventTimeUs, this.latestTimeUs, `${field}.eventTimeUs`);
    if (top.bid > 0 && top.ask > 0 && top.bid > top.ask) {
      throw new UnwindError(ErrorCode.InvalidPrice, `bid ${top.bid} is above ask ${top.ask}`, `${field}.bid`);
    }
    return m;
  }

  /**
   * A clock reading (an input like any other): moves the clock forward by at most `maxStepUs` (a reading further
   * ahead, e.g. after a long stop, is caught up over several readings), never backward. Range-checked.
   */
  advanceClock(nowUs: number): void {
    requireTime(nowUs, 'nowUs');
    const reading = this.clock > 0 ? Math.min(nowUs, this.clock + this.clockPolicy.maxStepUs) : nowUs;
    if (reading > this.clockInput) this.clockInput = reading;
    if (reading > this.clock) this.clock = reading;
  }

  /**
   * Aggregates `market` at the oracle clock and runs the guards. `prices` is set when the market is healthy and its
   * prices differ from the last written ones (the caller writes them to the tables).
   */
  evaluate(market: number): OracleEvaluation {
    const m = this.markets.get(market)!;
    const now = this.clock;
    const c = m.config;
    const quotes: SourceQuote[] = [];
    for (const s of m.ordered) {
      if (s.reported) quotes.push({ source: s.id, price: s.price, confidence: s.confidence, weight: s.weight, eventTimeUs: s.eventTimeUs });
    }
    // Quotes were checked as reports (checkRow), the policy at start (resolveOracleConfig).
    const agg = aggregateValid(quotes, now, c.aggregation);
    if (!agg.ok) {
      const reason = `${agg.fresh} of ${m.ordered.length} sources fresh, ${c.aggregation.minFreshSources} required`;
      return { market, prices: undefined, pause: { code: OracleGuardCode.Stale, reason }, eventTimeUs: now };
    }
    const twap = m.twap.value(now);
    m.twap.add(now, agg.price);
    m.latestOracle = agg.price;
    for (const s of m.ordered) {
      if (!s.changed) continue;
      s.oracleAtChange = agg.price;
      s.changed = false;
    }
    const pause = this.guard(m, agg.price, agg.confidence, twap, now);
    if (pause !== null) return { market, prices: undefined, pause, eventTimeUs: now };
    const mark = markPrice(agg.price, m.basis.value, m.book, now, c.mark);
    const w = m.written;
    if (w !== undefined && w.oraclePrice === agg.price && w.markPrice === mark) return { market, prices: undefined, pause: null, eventTimeUs: now };
    m.written = { market, oraclePrice: agg.price, markPrice: mark, eventTimeUs: now };
    return { market, prices: m.written, pause: null, eventTimeUs: now };
  }

  private guard(m: MarketState, price: number, confidence: number, twap: number | undefined, now: number): PauseReason | null {
    const g = m.config.guards;
    if (twap !== undefined && Math.abs(price - twap) > g.twapBand * twap) {
      const window = g.twapWindowUs / 1e6;
      return { code: OracleGuardCode.TwapBand, reason: `oracle ${price} is ${percent(Math.abs(price - twap) / twap)} from its ${window} s TWAP ${twap} (band ${percent(g.twapBand)})` };
    }
    if (confidence > g.maxConfidenceFraction * price) {
      return { code: OracleGuardCode.Confidence, reason: `confidence ${confidence} is ${percent(confidence / price)} of the price (at most ${percent(g.maxConfidenceFraction)})` };
    }
    const oldest = now - m.config.aggregation.maxAgeUs;
    for (const s of m.ordered) {
      if (!s.reported || s.eventTimeUs < oldest || now - s.lastChangeUs < g.frozenAfterUs) continue;
      const moved = Math.abs(price - s.oracleAtChange) / s.oracleAtChange;
      if (moved > g.frozenMoveFraction) {
        const seconds = (now - s.lastChangeUs) / 1e6;
        return { code: OracleGuardCode.FrozenSource, reason: `source ${s.id} unchanged at ${s.price} for ${seconds} s while the oracle moved ${percent(moved)}` };
      }
    }
    return null;
  }

  stats(): OracleStats {
    return { signatures: this.config.signatures, accepted: this.accepted, verified: this.verified, rejected: { ...this.rejected }, clockUs: this.clock, clockInputUs: this.clockInput };
  }
}
