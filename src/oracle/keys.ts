/**
 * Source authentication: each source of an oracle market signs its price reports with Ed25519 (node:crypto), and
 * the market's key registry (config) holds its public key. What a source signs is `tickSigningBytes` (54 bytes:
 * a context tag, then the tick exactly as the wire's Tick struct lays it out), so a signature cannot be moved to
 * another market, source, price, time or sequence.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { SIGNATURE_BYTES, tickSigningBytes, TICK_SIGNING_BYTES, type Tick } from './report.js';
import { ErrorCode, UnwindError } from '../errors.js';

/**
 * A public key from config: the base64 of the raw 32-byte Ed25519 key (what `crypto.generateKeyPairSync('ed25519')`
 * exports as the last 32 bytes of its SPKI DER, or `x` of its JWK, decoded), or a PEM "PUBLIC KEY" block.
 */
export function ed25519PublicKey(spec: string, field: string): KeyObject {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw new UnwindError(ErrorCode.InvalidConfig, 'expected an Ed25519 public key (base64 of 32 bytes, or PEM)', field);
  }
  let key: KeyObject;
  try {
    if (spec.includes('-----BEGIN')) {
      key = createPublicKey(spec);
    } else {
      const raw = Buffer.from(spec.trim(), 'base64');
      if (raw.length !== 32) throw new Error(`decodes to ${raw.length} bytes, not 32`);
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
  } catch (e) {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an Ed25519 public key (base64 of 32 bytes, or PEM): ${(e as Error).message}`, field);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new UnwindError(ErrorCode.InvalidConfig, `expected an Ed25519 key, got ${String(key.asymmetricKeyType)}`, field);
  }
  return key;
}

/** The raw 32-byte public key of an Ed25519 KeyObject, base64: the form config takes. */
export function rawPublicKeyBase64(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('base64');
}

/** True when `signature` (64 bytes) is `key`'s Ed25519 signature of `message`. */
export function verifyReport(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  return signature.length === 64 && verify(null, message, key, signature);
}

/** PKCS#8 DER of an Ed25519 private key is this 16-byte prefix followed by the 32-byte seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A price source's signing key, for publishers written in Node (the demo, the benchmarks, tests). Any Ed25519
 * implementation that signs `tickSigningBytes` interoperates.
 */
export class SourceSigner {
  /** The public key, for the market's key registry (see `publicKeyBase64`). */
  readonly publicKey: KeyObject;
  private readonly message = new Uint8Array(TICK_SIGNING_BYTES);

  constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
  }

  /** The key whose 32-byte seed is `seed` (a fixed seed gives the same key every run: demos and tests). */
  static fromSeed(seed: Uint8Array): SourceSigner {
    if (seed.length !== 32) throw new UnwindError(ErrorCode.InvalidConfig, `expected a 32-byte seed, got ${seed.length} bytes`, 'seed');
    return new SourceSigner(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
  }

  /** The public key as config takes it (base64 of its raw 32 bytes). */
  get publicKeyBase64(): string {
    return rawPublicKeyBase64(this.publicKey);
  }

  /** The 64-byte signature of `tick`, written into `out` at `offset` when given. */
  sign(tick: Tick, out: Uint8Array = new Uint8Array(SIGNATURE_BYTES), offset = 0): Uint8Array {
    out.set(sign(null, tickSigningBytes(tick, this.message), this.privateKey), offset);
    return out;
  }
}

/** The signatures of `reports` by their sources' signers, 64 bytes each in order (what pushReports and the wire take). */
export function signReports(reports: readonly Tick[], signerOf: (source: number) => SourceSigner): Uint8Array {
  const out = new Uint8Array(reports.length * SIGNATURE_BYTES);
  reports.forEach((r, i) => signerOf(r.source).sign(r, out, i * SIGNATURE_BYTES));
  return out;
}
