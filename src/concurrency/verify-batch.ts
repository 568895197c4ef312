/**
 * A signature-verification job: what the main thread (src/oracle/verifier.ts) and a verify worker
 * (workers/verify.worker.ts) exchange, one ArrayBuffer per job, moved (transferred) each way, never shared: the main
 * thread writes the rows, the worker writes the verdicts, and each side touches the buffer only while it holds it.
 *
 * Byte map of a job of capacity R rows (row i at each region's start + i x stride):
 *
 *   0            4R                   4R + 54R                  4R + 118R          4R + 119R
 *   | key u32 x R | message 54 B x R   | signature 64 B x R       | verdict u8 x R   |
 *     index into    the bytes the source  R then S (RFC 8032)       written by the
 *     the worker's  signed (src/oracle/                             worker: VERDICT_*
 *     key list      signing.ts)
 *
 * No Atomics: a job changes hands by postMessage (its transfer is the publication).
 */

/** Bytes of one signed message: the 14-byte domain and the 40-byte Tick struct (src/oracle/signing.ts). */
export const MESSAGE_BYTES = 54;
/** Bytes of one Ed25519 signature. */
export const SIGNATURE_BYTES = 64;
/** Bytes of one raw Ed25519 public key. */
export const PUBLIC_KEY_BYTES = 32;

/** Rows per job: about 5 ms of verification at 80 us each, so that a large frame spreads over the workers. */
export const JOB_ROWS = 64;

/** A row's outcome. UNCHECKED: not verified off the main thread (no key, a signature not 64 bytes, a worker lost); the main thread verifies it itself. */
export const VERDICT_INVALID = 0;
export const VERDICT_VALID = 1;
export const VERDICT_UNCHECKED = 2;

/** Where each region of a job of capacity `rows` starts, and its total size. */
export function jobLayout(rows: number): { readonly keys: number; readonly messages: number; readonly signatures: number; readonly verdicts: number; readonly bytes: number } {
  const keys = 0;
  const messages = keys + 4 * rows;
  const signatures = messages + MESSAGE_BYTES * rows;
  const verdicts = signatures + SIGNATURE_BYTES * rows;
  return { keys, messages, signatures, verdicts, bytes: verdicts + rows };
}

/** The views of a job's buffer (capacity from its size). */
export function jobViews(buffer: ArrayBuffer, capacity: number): { keys: Uint32Array; messages: Uint8Array; signatures: Uint8Array; verdicts: Uint8Array } {
  const l = jobLayout(capacity);
  if (buffer.byteLength !== l.bytes) throw new RangeError(`a verification job of ${capacity} rows is ${l.bytes} bytes, got ${buffer.byteLength}`);
  return {
    keys: new Uint32Array(buffer, l.keys, capacity),
    messages: new Uint8Array(buffer, l.messages, MESSAGE_BYTES * capacity),
    signatures: new Uint8Array(buffer, l.signatures, SIGNATURE_BYTES * capacity),
    verdicts: new Uint8Array(buffer, l.verdicts, capacity),
  };
}

/** main -> worker: verify rows [0, rows) of `buffer` (capacity JOB_ROWS). */
export interface JobRequest {
  readonly id: number;
  readonly rows: number;
  readonly buffer: ArrayBuffer;
}

/** worker -> main: the same buffer, verdicts written. */
export interface JobResult {
  readonly id: number;
  readonly buffer: ArrayBuffer;
}

/** What a verify worker starts with: every registered key, PUBLIC_KEY_BYTES each, key index i at i x 32. */
export interface VerifyWorkerData {
  readonly keys: Uint8Array;
}
