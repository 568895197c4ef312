/** An oracle market for tests: five signed sources with Hyperliquid-style weights, on an engine. */
import { SourceSigner, signReports } from '../../src/oracle/keys.js';
import type { Tick } from '../../src/oracle/report.js';
import type { OracleMarketConfig } from '../../src/config-types.js';
import type { Engine } from '../../src/index.js';

export const MARKET = 1;
/** Sources 1..5: Binance 3, OKX 2, Bybit 2, two others 1 (docs/domain.md section 5). */
export const WEIGHTS: ReadonlyMap<number, number> = new Map([
  [1, 3],
  [2, 2],
  [3, 2],
  [4, 1],
  [5, 1],
]);
export const SECOND = 1_000_000;
/** An arbitrary start of event time: 2026-01-01T00:00:00Z in microseconds. */
export const T0 = 1_767_225_600 * SECOND;

/** Source `id`'s key from a fixed seed (the same every run). */
export function signer(id: number): SourceSigner {
  return SourceSigner.fromSeed(new Uint8Array(32).fill(id));
}

export function oracleMarket(overrides: Partial<OracleMarketConfig> = {}): OracleMarketConfig {
  return {
    market: MARKET,
    sources: [...WEIGHTS].map(([id, weight]) => ({ id, weight, publicKey: signer(id).publicKeyBase64 })),
    ...overrides,
  };
}

/** Publishes reports through real Ed25519 signatures, numbering each source's reports 1, 2, 3 ... */
export class Sources {
  private readonly sequence = new Map<number, number>();
  private readonly signers = new Map<number, SourceSigner>();

  constructor(
    private readonly engine: Engine | undefined,
    readonly market = MARKET,
    /** Event time of t = 0, microseconds. */
    readonly t0 = T0,
  ) {}

  /** One report per (source, price) at event time `t` seconds after T0. */
  report(t: number, prices: Readonly<Record<number, number>>, confidence = 0): Tick[] {
    return Object.entries(prices).map(([source, price]) => {
      const id = Number(source);
      const sourceSequence = (this.sequence.get(id) ?? 0) + 1;
      this.sequence.set(id, sourceSequence);
      return { market: this.market, source: id, price, confidence, eventTimeUs: this.t0 + t * SECOND, sourceSequence };
    });
  }

  sign(reports: readonly Tick[]): Uint8Array {
    return signReports(reports, (id) => {
      let s = this.signers.get(id);
      if (s === undefined) this.signers.set(id, (s = signer(id)));
      return s;
    });
  }

  /** Reports and signs, then pushes them to the engine. */
  publish(t: number, prices: Readonly<Record<number, number>>, confidence = 0): Tick[] {
    const reports = this.report(t, prices, confidence);
    this.engine!.pushReports(reports, this.sign(reports));
    return reports;
  }

  /** The same price from every source in `ids`. */
  all(t: number, price: number, ids: readonly number[] = [...WEIGHTS.keys()]): Tick[] {
    return this.publish(t, Object.fromEntries(ids.map((id) => [id, price])));
  }
}
