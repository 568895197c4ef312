/**
 * Thread: main. The bare transport yardstick: a uWebSockets.js server on loopback that sends every frame back as
 * it came, with nothing else (no token, no decode, no engine). The feed bench sends it the same frames from the
 * same client code as the feed server, so "vs echo" is the share of the transport's ceiling the feed reaches.
 */
import type uWS from 'uWebSockets.js';
import { loadTransport } from '../src/feed/transport.js';

export interface EchoServer {
  readonly url: string;
  /** Frames echoed, and sends uWS dropped for backpressure (must stay 0: the bench checks it). */
  stats(): { framesEchoed: number; dropped: number };
  close(): Promise<void>;
}

/** Larger than any bench frame (1,000 ticks is about 40 KB). */
const MAX_PAYLOAD_BYTES = 64 << 20;
/** A client that has not read its echoes yet must not make uWS skip sends: buffer up to 1 GiB instead. */
const MAX_BACKPRESSURE_BYTES = 1 << 30;
const DROPPED = 2; // uWS send status: not sent, over maxBackpressure

export async function startEchoServer(): Promise<EchoServer> {
  const uWS = loadTransport(); // the native build for this Node, or TRANSPORT_UNAVAILABLE
  let framesEchoed = 0;
  let dropped = 0;
  const sockets = new Set<uWS.WebSocket<unknown>>();
  const app = uWS.App().ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: MAX_PAYLOAD_BYTES,
    maxBackpressure: MAX_BACKPRESSURE_BYTES,
    idleTimeout: 0,
    open: (ws) => void sockets.add(ws),
    close: (ws) => void sockets.delete(ws),
    message: (ws, message, isBinary) => {
      framesEchoed++;
      if (ws.send(message, isBinary) === DROPPED) dropped++;
    },
  });
  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (s) => (s === false ? reject(new Error('echo server: cannot listen on 127.0.0.1')) : resolve(s))),
  );
  const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    stats: () => ({ framesEchoed, dropped }),
    async close() {
      for (const ws of [...sockets]) ws.end(1001, 'echo server closing');
      uWS.us_listen_socket_close(listenSocket);
      await new Promise((r) => setImmediate(r));
    },
  };
}
