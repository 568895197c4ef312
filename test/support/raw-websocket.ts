/**
 * A WebSocket client written by hand over node:net, for the one thing `ws` cannot do: stop reading. The handshake
 * is an HTTP/1.1 upgrade (RFC 6455 section 4); client frames are masked, the server's are parsed from the bytes
 * once the test resumes reading.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { within } from './feed.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface RawFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** A client frame: FIN | opcode, the mask bit with a 7-, 16- or 64-bit length, a 4-byte mask, the masked payload. */
export function maskedFrame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.byteLength;
  const head = n < 126 ? Buffer.alloc(2) : n < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = 0x80 | n;
  else if (n < 65_536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

/** Server frames (unmasked, unfragmented) in `bytes`; a trailing partial frame is left out. */
export function parseFrames(bytes: Buffer): RawFrame[] {
  const out: RawFrame[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let n = bytes[at + 1]! & 0x7f;
    let p = at + 2;
    if (n === 126) {
      if (p + 2 > bytes.length) break;
      n = bytes.readUInt16BE(p);
      p += 2;
    } else if (n === 127) {
      if (p + 8 > bytes.length) break;
      n = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    if (p + n > bytes.length) break;
    out.push({ opcode, payload: bytes.subarray(p, p + n) });
    at = p + n;
  }
  return out;
}

export class RawWebSocket {
  private readonly chunks: Buffer[] = [];
  /** Resolves when the server closed the TCP connection (or it was reset). */
  readonly ended: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {}); // a reset ends it too: `ended` resolves on close
  }

  /** Connects, upgrades (token in the query), checks Sec-WebSocket-Accept, then stops reading. */
  static async open(port: number, path: string, token: string): Promise<RawWebSocket> {
    const socket = connect(port, '127.0.0.1');
    await within(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), 5_000, 'TCP connect');
    const key = randomBytes(16).toString('base64');
    socket.write(
      `GET ${path}?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const raw = new RawWebSocket(socket);
    let head = Buffer.alloc(0);
    await within(
      new Promise<void>((resolve) => {
        const onData = (d: Buffer): void => {
          head = Buffer.concat([head, d]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          socket.off('data', onData);
          socket.pause();
          raw.chunks.push(head.subarray(end + 4)); // frames that came with the response
          head = head.subarray(0, end);
          resolve();
        };
        socket.on('data', onData);
      }),
      5_000,
      'upgrade response',
    );
    const response = head.toString('latin1');
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    if (!response.startsWith('HTTP/1.1 101') || !response.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)) {
      socket.destroy();
      throw new Error(`upgrade refused: ${response.split('\r\n')[0]}`);
    }
    return raw;
  }

  /** Sends one masked binary frame. */
  sendBinary(payload: Uint8Array): void {
    this.socket.write(maskedFrame(0x2, payload));
  }

  /** Reads again, until the server closes the connection; returns every frame it sent. */
  async readToEnd(ms = 10_000): Promise<RawFrame[]> {
    this.socket.on('data', (d: Buffer) => this.chunks.push(d));
    this.socket.resume();
    await within(this.ended, ms, 'the server to close the connection');
    return parseFrames(Buffer.concat(this.chunks));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
