/**
 * A record's payload, as the journal stores it (src/journal/format.ts): f64 columns, column after column, or
 * JSON that keeps non-finite numbers. Storage only: what each kind's columns mean is the engine's business
 * (src/engine/records.ts).
 */

/** JSON that keeps Infinity, -Infinity and NaN (configs hold Infinity for "off"). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $: String(v) } : typeof v === 'bigint' ? { $n: String(v) } : v));
}
export function fromJson(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '$') return Number((v as { $: string }).$);
      if (keys.length === 1 && keys[0] === '$n') return BigInt((v as { $n: string }).$n);
    }
    return v;
  });
}

/** A decoded column record: `column(i)` is the i-th column's `rows` values. */
export class Columns {
  private readonly f64: Float64Array;
  constructor(
    readonly rows: number,
    readonly count: number,
    payload: Buffer,
  ) {
    const n = rows * count;
    // Records are 8-byte aligned in the file and in the reader's buffer; copy only if a caller's buffer is not.
    this.f64 = payload.byteOffset % 8 === 0 ? new Float64Array(payload.buffer, payload.byteOffset, n) : new Float64Array(new Uint8Array(payload.subarray(0, n * 8)).buffer);
  }
  column(i: number): Float64Array {
    return this.f64.subarray(i * this.rows, (i + 1) * this.rows);
  }
  value(i: number, row = 0): number {
    return this.f64[i * this.rows + row]!;
  }
}
