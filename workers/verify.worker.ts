/**
 * Thread: a signature-verification worker, one of the pool of src/oracle/verifier.ts.
 * Reads:  each job's rows (key index, 54-byte message, 64-byte signature), src/concurrency/verify-batch.ts; the
 *         registered public keys, once, from workerData.
 * Writes: the job's verdicts, nothing else. It holds no engine state: a verdict is a function of the key, the
 *         message and the signature alone (node:crypto's Ed25519, the same call the main thread makes inline), so
 *         which worker checks a row, and when, cannot change it.
 * Publishes: the job's buffer back to the main thread by postMessage (transferred: the main thread owns it again).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import {
  JOB_ROWS,
  jobViews,
  MESSAGE_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  VERDICT_INVALID,
  VERDICT_UNCHECKED,
  VERDICT_VALID,
  type JobRequest,
  type JobResult,
  type VerifyWorkerData,
} from '../src/concurrency/verify-batch.js';

const { keys: raw } = workerData as VerifyWorkerData;
const keys: KeyObject[] = [];
for (let k = 0; k < raw.length / PUBLIC_KEY_BYTES; k++) {
  const x = Buffer.from(raw.subarray(k * PUBLIC_KEY_BYTES, (k + 1) * PUBLIC_KEY_BYTES)).toString('base64url');
  keys.push(createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' }));
}

parentPort!.on('message', (job: JobRequest) => {
  const v = jobViews(job.buffer, JOB_ROWS);
  for (let i = 0; i < job.rows; i++) {
    const key = keys[v.keys[i]!];
    if (key === undefined) {
      v.verdicts[i] = VERDICT_UNCHECKED;
      continue;
    }
    const message = v.messages.subarray(i * MESSAGE_BYTES, (i + 1) * MESSAGE_BYTES);
    const signature = v.signatures.subarray(i * SIGNATURE_BYTES, (i + 1) * SIGNATURE_BYTES);
    v.verdicts[i] = verify(null, message, key, signature) ? VERDICT_VALID : VERDICT_INVALID;
  }
  const result: JobResult = { id: job.id, buffer: job.buffer };
  // Publishes the verdicts (and hands the buffer back) to the main thread.
  parentPort!.postMessage(result, [job.buffer]);
});
