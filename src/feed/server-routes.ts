/**
 * Thread: main. The plain HTTP routes for operators (README "Observability"):
 *   GET /healthz   200 {"status":"ok"} whenever the process answers: the handler runs on the event loop, so an answer
 *                  means the loop turns (a blocked one times the probe out)
 *   GET /readyz    200 {"ready":true} once recovery from the journal is done and every oracle market has fresh
 *                  sources; else 503 {"ready":false,"missing":[{check, detail, markets?}]}
 *   GET /metrics   Prometheus text format (src/feed/server-metrics.ts)
 * On the feed's own listener, /metrics needs a token of the server (as /v1/feed/stats): that listener faces clients,
 * and the figures (fund balances, deficits, connections) are the venue's business. /healthz and /readyz need none:
 * they tell nothing but whether this process takes traffic, and load balancers probe without credentials.
 *
 * A ProbeListener serves the three on a listener of its own (`server.metrics: { host, port }`), without a token,
 * for a scraper on a private interface. It starts before the engine, so during a recovery from the journal /healthz
 * answers and /readyz says how far the replay is; the FeedServer then takes it over (`attach`).
 */
import type uWS from 'uWebSockets.js';
import { loadTransport } from './transport.js';
import { ErrorCode, UnwindError } from '../errors.js';
import { processMetrics, type Observed, type Readiness } from './server-metrics.js';

/** Prometheus' text exposition format, version 0.0.4 (what prom-client writes). */
const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Who may read /metrics on a listener: the request's Authorization header and `token` query parameter. */
export type MetricsAccess = (authorization: string, queryToken: string) => boolean;

/**
 * Registers GET /healthz, /readyz and /metrics on `app`. `source()` is read per request (a listener that starts
 * before its server has none yet); `metricsAccess` undefined: /metrics is open.
 */
export function addProbeRoutes(app: uWS.TemplatedApp, source: () => Observed, metricsAccess?: MetricsAccess): void {
  app.get('/healthz', (res) => {
    json(res, '200 OK', { status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
  });
  app.get('/readyz', (res) => {
    const r: Readiness = source().readiness();
    json(res, r.ready ? '200 OK' : '503 Service Unavailable', r.ready ? { ready: true } : r);
  });
  app.get('/metrics', (res, req) => {
    // Headers are readable only before the handler returns.
    if (metricsAccess !== undefined && !metricsAccess(req.getHeader('authorization'), req.getQuery('token') ?? '')) {
      res.writeStatus('401 Unauthorized').writeHeader('WWW-Authenticate', 'Bearer').end('UNAUTHORIZED: a token of this server is required');
      return;
    }
    let aborted = false;
    res.onAborted(() => (aborted = true));
    void source()
      .metrics()
      .then(
        (text) => !aborted && res.cork(() => res.writeHeader('content-type', METRICS_CONTENT_TYPE).end(text)),
        (e: unknown) => !aborted && res.cork(() => res.writeStatus('500 Internal Server Error').end(`metrics failed: ${e instanceof Error ? e.message : String(e)}`)),
      );
  });
}

function json(res: uWS.HttpResponse, status: string, body: unknown): void {
  res.writeStatus(status).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(JSON.stringify(body));
}

/** Where a ProbeListener listens (`server.metrics`). */
export interface ProbeListen {
  /** Default 127.0.0.1: keep it on an interface only the scraper reaches. */
  readonly host?: string;
  /** 0 picks a free port (read it from `probe.port`). */
  readonly port: number;
}

/** Before a server takes it over: not ready, recovering, with the replay's progress when the journal reports it. */
class Starting implements Observed {
  private progress: { bytes: number; total: number; records: number } | undefined;

  recovering(bytes: number, total: number, records: number): void {
    this.progress = { bytes, total, records };
  }

  readiness(): Readiness {
    const p = this.progress;
    const detail =
      p === undefined
        ? 'the engine is starting'
        : `replaying the journal: ${(p.bytes / 1e6).toFixed(1)} of ${(p.total / 1e6).toFixed(1)} MB, ${p.records} records`;
    return { ready: false, missing: [{ check: 'recovery', detail }] };
  }

  metrics(): Promise<string> {
    return processMetrics().metrics();
  }
}

/** GET /healthz, /readyz and /metrics on a listener of their own, without a token (see the file's header). */
export class ProbeListener {
  private socket: uWS.us_listen_socket | null = null;
  private source: Observed;
  private readonly starting = new Starting();
  private boundPort = -1;

  private constructor(
    private readonly app: uWS.TemplatedApp,
    /** The interface listened on (`ProbeListen.host`, default 127.0.0.1). */
    readonly host: string,
  ) {
    this.source = this.starting;
    addProbeRoutes(app, () => this.source);
  }

  /**
   * Listens on `listen`; a port that cannot be bound is retried for `retryMs` (a restart finds the scraper's old
   * connections in TIME_WAIT), then INVALID_CONFIG naming `metrics.port`.
   */
  static async start(listen: ProbeListen, retryMs = 0): Promise<ProbeListener> {
    const probe = new ProbeListener(loadTransport().App(), listen.host ?? '127.0.0.1');
    const deadline = Date.now() + retryMs;
    for (;;) {
      const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => probe.app.listen(probe.host, listen.port, resolve));
      if (socket !== false) {
        probe.socket = socket;
        probe.boundPort = loadTransport().us_socket_local_port(socket as unknown as uWS.us_socket);
        return probe;
      }
      if (Date.now() >= deadline) throw new UnwindError(ErrorCode.InvalidConfig, `cannot listen on ${probe.host}:${listen.port}`, 'metrics.port');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The port listened on (the free one picked when `ProbeListen.port` is 0). */
  get port(): number {
    return this.boundPort;
  }
  /** http://host:port */
  get url(): string {
    return `http://${this.host}:${this.boundPort}`;
  }

  /** The journal's replay so far (before `attach`): /readyz reports it. */
  recovering(bytes: number, total: number, records: number): void {
    this.starting.recovering(bytes, total, records);
  }

  /** From now on the routes read `source` (the FeedServer's metrics and readiness). */
  attach(source: Observed): void {
    this.source = source;
  }

  /** Stops listening. Idempotent. */
  close(): void {
    if (this.socket !== null) loadTransport().us_listen_socket_close(this.socket);
    this.socket = null;
  }
}
