/**
 * Signed ticks (schemas/README.md "Signed ticks"): the 54 bytes tickSigningBytes makes are the domain prefix and the
 * Tick struct exactly as it lies in an encoded frame, a signature made over them verifies against the tick the
 * receiver decodes (object path and TickBatchBuffer alike), and the worked example in the README is what the code does.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as flatbuffers from 'flatbuffers';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  DEFAULT_MAX_FRAME_BYTES,
  encodeSignedPriceTicks,
  SIGNATURE_BYTES,
  TICK_SIGNING_BYTES,
  TICK_SIGNING_DOMAIN,
  tickSigningBytes,
  type FeedMessage,
  type Tick,
} from '../src/feed/codec.js';
import { Envelope, SignedPriceTicks } from '../src/feed/generated/unwind_generated.js';
import { TICK_BYTES } from '../src/feed/spec.js';
import { TickBatchBuffer } from '../src/feed/tick-batch.js';
import { Random } from './support/random.js';
import { MAX_TIME_US } from '../src/validate.js';

const MAX_ID = 0xfffffffe;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Valid ticks over the whole domain, seeded. */
function randomTicks(rand: Random, n: number): Tick[] {
  return Array.from({ length: n }, () => ({
    market: rand.int(0, MAX_ID),
    source: rand.int(0, MAX_ID),
    price: rand.chance(0.1) ? 1e12 : rand.logRange(1e-9, 1e12),
    confidence: rand.chance(0.2) ? 0 : rand.logRange(1e-9, 1e6),
    eventTimeUs: rand.int(0, MAX_TIME_US), // a clock: up to 2100-01-01
    sourceSequence: rand.int(0, 2 ** 53 - 1),
  }));
}

function signAll(ticks: readonly Tick[], key: KeyObject): Uint8Array {
  const out = new Uint8Array(SIGNATURE_BYTES * ticks.length);
  const scratch = new Uint8Array(TICK_SIGNING_BYTES);
  ticks.forEach((t, i) => out.set(sign(null, tickSigningBytes(t, scratch), key), SIGNATURE_BYTES * i));
  return out;
}

/** An Ed25519 private key from its 32-byte seed (RFC 8032's form), via the PKCS #8 DER wrapping node:crypto reads. */
function keyFromSeed(seedHex: string): KeyObject {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedHex, 'hex')]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

describe('tickSigningBytes', () => {
  it('is the 14-byte domain "UNWIND-TICK-V1" followed by the 40 bytes of the Tick struct exactly as they lie in an encoded frame', () => {
    const rand = new Random(0x519e);
    const ticks = randomTicks(rand, 300);
    const frame = encodeSignedPriceTicks(7, ticks, new Uint8Array(SIGNATURE_BYTES * ticks.length));
    const table = Envelope.getRootAsEnvelope(new flatbuffers.ByteBuffer(frame)).message(new SignedPriceTicks()) as SignedPriceTicks;
    expect(table.ticksLength()).toBe(ticks.length);
    ticks.forEach((t, i) => {
      const at = table.ticks(i)!.bb_pos;
      const bytes = tickSigningBytes(t);
      expect(bytes.length).toBe(TICK_SIGNING_BYTES);
      expect(new TextDecoder().decode(bytes.subarray(0, 14))).toBe(TICK_SIGNING_DOMAIN);
      expect(hex(bytes.subarray(14)), `tick ${i}`).toBe(hex(frame.subarray(at, at + TICK_BYTES)));
    });
  });

  it('writes into the given array when there is one, and refuses one shorter than 54 bytes', () => {
    const t = randomTicks(new Random(1), 1)[0]!;
    const out = new Uint8Array(64).fill(0xee);
    const bytes = tickSigningBytes(t, out);
    expect(bytes.buffer).toBe(out.buffer);
    expect(bytes).toEqual(tickSigningBytes(t));
    expect(out.subarray(54).every((b) => b === 0xee)).toBe(true);
    expect(() => tickSigningBytes(t, new Uint8Array(53))).toThrow(/at least 54 bytes, got 53/);
  });

  it('signs -0 as 0, as the receiver reads it: a tick sent with -0 fields still verifies', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const t: Tick = { market: 1, source: 2, price: 3, confidence: -0, eventTimeUs: -0, sourceSequence: -0 };
    expect(tickSigningBytes(t)).toEqual(tickSigningBytes({ ...t, confidence: 0, eventTimeUs: 0, sourceSequence: 0 }));
    const r = decodeFrame(encodeSignedPriceTicks(1, [t], signAll([t], privateKey))) as Extract<FeedMessage, { kind: 'signedTicks' }>;
    expect(verify(null, tickSigningBytes(r.ticks[0]!), publicKey, r.signatures)).toBe(true);
  });
});

describe('signed ticks, end to end with node:crypto Ed25519', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const rand = new Random(0x7157);
  const ticks = randomTicks(rand, 50);
  const frame = encodeSignedPriceTicks(3, ticks, signAll(ticks, privateKey));

  it('every signature verifies against the tick the object path decodes', () => {
    const r = decodeFrame(frame);
    expect(r.kind).toBe('signedTicks');
    const m = r as Extract<FeedMessage, { kind: 'signedTicks' }>;
    m.ticks.forEach((t, i) => {
      expect(verify(null, tickSigningBytes(t), publicKey, m.signatures.subarray(64 * i, 64 * i + 64)), `tick ${i}`).toBe(true);
    });
  });

  it('every signature verifies against its TickBatchBuffer row (signingBytes and signature read the columns)', () => {
    const batch = new TickBatchBuffer(4);
    const r = decodeFrame(frame, DEFAULT_MAX_FRAME_BYTES, batch);
    expect(r.kind === 'tickBatch' && r.batch.signed).toBe(true);
    const scratch = new Uint8Array(TICK_SIGNING_BYTES);
    for (let i = 0; i < batch.length; i++) {
      expect(batch.signingBytes(i, scratch)).toEqual(tickSigningBytes(ticks[i]!));
      expect(verify(null, batch.signingBytes(i, scratch), publicKey, batch.signature(i)), `row ${i}`).toBe(true);
    }
  });

  it('a tick changed in flight, or a signature moved to another tick, no longer verifies; the others still do', () => {
    const tampered = frame.slice();
    const table = Envelope.getRootAsEnvelope(new flatbuffers.ByteBuffer(tampered)).message(new SignedPriceTicks()) as SignedPriceTicks;
    const at = table.ticks(17)!.bb_pos;
    const view = new DataView(tampered.buffer);
    view.setFloat64(at + 8, view.getFloat64(at + 8, true) * 1.01, true); // tick 17's price, 1% up: still a valid price
    const m = decodeFrame(tampered) as Extract<FeedMessage, { kind: 'signedTicks' }>;
    expect(m.kind).toBe('signedTicks');
    const ok = m.ticks.map((t, i) => verify(null, tickSigningBytes(t), publicKey, m.signatures.subarray(64 * i, 64 * i + 64)));
    expect(ok.flatMap((v, i) => (v ? [] : [i]))).toEqual([17]);
    // Tick 3's signature presented for tick 4.
    expect(verify(null, tickSigningBytes(m.ticks[4]!), publicKey, m.signatures.subarray(64 * 3, 64 * 4))).toBe(false);
    // Another key's signature.
    const other = generateKeyPairSync('ed25519').privateKey;
    expect(verify(null, tickSigningBytes(m.ticks[0]!), publicKey, sign(null, tickSigningBytes(m.ticks[0]!), other))).toBe(false);
  });
});

describe('the worked example of schemas/README.md', () => {
  const readme = readFileSync(new URL('../schemas/README.md', import.meta.url), 'utf8');
  // RFC 8032, section 7.1, TEST 1: a published key, so any Ed25519 library can reproduce the signature.
  const key = keyFromSeed('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const tick: Tick = { market: 1, source: 3, price: 50_000.5, confidence: 2.25, eventTimeUs: 1_764_000_000_123_456, sourceSequence: 981 };

  it('prints the signed bytes, the public key and the signature the README shows', () => {
    const bytes = tickSigningBytes(tick);
    const publicKey = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(12); // the raw 32 bytes
    const signature = sign(null, bytes, key); // Ed25519 is deterministic: the same key and bytes, the same signature
    const squash = (s: string) => s.replace(/\s+/g, '');
    const text = squash(readme);
    expect(hex(publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(text).toContain(hex(publicKey));
    expect(text).toContain(hex(bytes));
    expect(text).toContain(hex(signature));
    expect(verify(null, bytes, createPublicKey(key), signature)).toBe(true);
  });
});
